package fnlog

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// indexer builds segment indexes one at a time in the background: when a
// segment is sealed, and when a search finds a sealed segment without a
// usable index. It also remembers which index files it has checked whole
// (CRC), so a search after the first reads only the slices it needs.
type indexer struct {
	mu      sync.Mutex
	queue   []indexJob
	queued  map[string]bool // dir/name
	closed  bool
	wake    chan struct{}
	done    chan struct{}
	checked map[string]indexStamp // path → the file it was when checked
	onError func(dir, name string, err error)
}

type indexJob struct {
	dir, name string
	// repair: a search found the index missing or damaged. Close drops
	// these (the next search asks again) and builds only the indexes of
	// segments just sealed, so stopping never waits on a backlog.
	repair bool
}

// indexStamp says which version of an index file was checked.
type indexStamp struct {
	size int64
	mod  time.Time
}

// maxChecked bounds the checked-index memory; past it, it starts over.
const maxChecked = 100_000

func newIndexer(onError func(dir, name string, err error)) *indexer {
	ix := &indexer{queued: map[string]bool{}, wake: make(chan struct{}, 1), done: make(chan struct{}),
		checked: map[string]indexStamp{}, onError: onError}
	go ix.loop()
	return ix
}

// add queues the segment name of dir, just sealed, for indexing, once.
func (ix *indexer) add(dir, name string) { ix.enqueue(indexJob{dir: dir, name: name}) }

// repair queues the segment name of dir, whose index a search could not
// use, for indexing, once.
func (ix *indexer) repair(dir, name string) { ix.enqueue(indexJob{dir: dir, name: name, repair: true}) }

func (ix *indexer) enqueue(job indexJob) {
	dir, name := job.dir, job.name
	key := filepath.Join(dir, name)
	ix.mu.Lock()
	if ix.closed || ix.queued[key] {
		ix.mu.Unlock()
		return
	}
	ix.queued[key] = true
	ix.queue = append(ix.queue, job)
	ix.mu.Unlock()
	select {
	case ix.wake <- struct{}{}:
	default:
	}
}

func (ix *indexer) loop() {
	defer close(ix.done)
	for {
		ix.mu.Lock()
		if len(ix.queue) == 0 {
			closed := ix.closed
			ix.mu.Unlock()
			if closed {
				return
			}
			<-ix.wake
			continue
		}
		job := ix.queue[0]
		ix.queue = ix.queue[1:]
		closed := ix.closed
		ix.mu.Unlock()
		if closed && job.repair {
			ix.mu.Lock()
			delete(ix.queued, filepath.Join(job.dir, job.name))
			ix.mu.Unlock()
			continue
		}
		err := writeIndex(job.dir, job.name)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			ix.onError(job.dir, job.name, err)
		}
		ix.mu.Lock()
		delete(ix.queued, filepath.Join(job.dir, job.name))
		ix.mu.Unlock()
	}
}

// close builds the indexes of segments sealed and not indexed yet (a
// segment sealed as Seedbed stops is searched fast after it starts
// again), drops queued repairs, then stops.
func (ix *indexer) close() {
	ix.mu.Lock()
	ix.closed = true
	ix.mu.Unlock()
	select {
	case ix.wake <- struct{}{}:
	default:
	}
	<-ix.done
}

// wait returns when nothing is queued or being built; for tests and
// benchmarks.
func (ix *indexer) wait() {
	for {
		ix.mu.Lock()
		n := len(ix.queued)
		ix.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// open maps the index of segment name when there is a usable one for its
// complete lines, data; otherwise it queues a build and
// returns nil, and the search scans the segment whole.
func (ix *indexer) open(dir, name string, data []byte) (*segIndex, func()) {
	path := filepath.Join(dir, name+".idx")
	info, err := os.Stat(path)
	if err != nil {
		ix.repair(dir, name)
		return nil, nil
	}
	stamp := indexStamp{info.Size(), info.ModTime()}
	ix.mu.Lock()
	verified := ix.checked[path] == stamp
	ix.mu.Unlock()
	b, release, err := mapFile(path)
	if err != nil {
		ix.repair(dir, name)
		return nil, nil
	}
	si, err := parseIndex(b, data, !verified)
	if err != nil {
		release()
		ix.repair(dir, name)
		return nil, nil
	}
	if !verified {
		ix.mu.Lock()
		if len(ix.checked) >= maxChecked {
			clear(ix.checked)
		}
		ix.checked[path] = stamp
		ix.mu.Unlock()
	}
	return si, release
}
