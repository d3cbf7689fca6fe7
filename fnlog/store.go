package fnlog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Options configure a Store.
type Options struct {
	// Dir holds a folder per app and stage; it is created if missing.
	Dir string
	// SegmentBytes is the size at which a stage starts a new segment;
	// 0 means 16 MiB. Smaller segments make time ranges and retention
	// finer, larger ones cost fewer files.
	SegmentBytes int64
	// SyncEvery is how often written segments are fsynced; 0 means 1s.
	SyncEvery time.Duration
	// Retention bounds what each stage keeps; the zero value keeps all.
	// Size is enforced as segments fill; age by Prune.
	Retention Retention
	Logger    *slog.Logger
}

// Retention bounds the function logs a stage keeps. Whole segments go,
// oldest first; the segment being written is never removed.
type Retention struct {
	// Age: lines older than this go; 0 keeps them regardless of age.
	Age time.Duration
	// Bytes a stage's segments may take; 0: no limit.
	Bytes int64
}

// Validate says what is wrong with r, in the words of its settings.
func (r Retention) Validate() error {
	var errs []error
	if r.Age < 0 {
		errs = append(errs, fmt.Errorf("--retain-function-logs must be 0 (no age limit) or a positive duration such as 168h, not %s", r.Age))
	}
	if r.Bytes < 0 {
		errs = append(errs, fmt.Errorf("--retain-function-logs-size must be 0 (no size limit) or a positive size such as 1GiB, not %d bytes", r.Bytes))
	}
	return errors.Join(errs...)
}

// Store keeps function logs under a folder. It is safe for concurrent use.
type Store struct {
	opt  Options
	log  *slog.Logger
	stop chan struct{}
	done chan struct{}

	mu     sync.Mutex
	closed bool
	stages map[string]*stageLog // by "app/stage"
	index  *indexer
	// scanOnly makes searches ignore indexes: tests and benchmarks
	// compare the two.
	scanOnly bool
}

// stageLog is the segment a stage writes now, and who waits for its lines.
type stageLog struct {
	dir string

	mu      sync.Mutex
	seg     *os.File // nil until the first line
	src     *os.File
	name    string // segment file name without ".log"
	opened  time.Time
	size    int64
	ids     map[Source]int
	last    int64 // time of the newest line, unix µs
	dirty   bool
	closed  bool          // the store was closed: no more segments
	changed chan struct{} // closed and replaced after every append
}

// Open opens (creating if needed) a store under opt.Dir.
func Open(opt Options) (*Store, error) {
	if opt.Dir == "" {
		return nil, errors.New("function logs: a directory is required")
	}
	if err := opt.Retention.Validate(); err != nil {
		return nil, err
	}
	if opt.SegmentBytes <= 0 {
		opt.SegmentBytes = 16 << 20
	}
	if opt.SyncEvery <= 0 {
		opt.SyncEvery = time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opt.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("function logs: %w", err)
	}
	s := &Store{opt: opt, log: opt.Logger, stop: make(chan struct{}), done: make(chan struct{}), stages: map[string]*stageLog{}}
	s.index = newIndexer(func(dir, name string, err error) {
		s.log.Warn("index function log segment; searches scan it whole", "dir", dir, "segment", name, "err", err)
	})
	go s.syncLoop()
	return s, nil
}

func (s *Store) stage(app, stage string) (*stageLog, error) {
	if err := checkStage(app, stage); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("function logs are closed")
	}
	key := app + "/" + stage
	st := s.stages[key]
	if st == nil {
		st = &stageLog{dir: filepath.Join(s.opt.Dir, app, stage), changed: make(chan struct{})}
		s.stages[key] = st
	}
	return st, nil
}

// Append stores lines src wrote, in one write, and wakes the followers of
// its stage. Each text is cut at MaxLineBytes and at its first newline (a
// line is one line); times earlier than the stage's newest line are moved
// up to it, so a stage's log stays in time order.
func (s *Store) Append(src Source, entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	st, err := s.stage(src.App, src.Stage)
	if err != nil {
		return err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return errors.New("function logs are closed")
	}
	if st.seg == nil || st.size >= s.opt.SegmentBytes || time.Since(st.opened) > maxSegmentSpan {
		if err := s.rotate(st, entries[0].Time); err != nil {
			return err
		}
	}
	id, ok := st.ids[src]
	if !ok {
		id = len(st.ids) + 1
		rec := fmt.Sprintf("%d\t%s\t%s\t%d\n", id, clean(src.Function), clean(src.Instance), src.Release)
		// The dictionary is synced before a line names the id: a line
		// must never outlive the record that says whose it is.
		if _, err := st.src.WriteString(rec); err != nil {
			return fmt.Errorf("function logs of %s/%s: %w", src.App, src.Stage, err)
		}
		if err := st.src.Sync(); err != nil {
			return fmt.Errorf("function logs of %s/%s: %w", src.App, src.Stage, err)
		}
		st.ids[src] = id
	}
	buf := make([]byte, 0, len(entries)*64)
	for _, e := range entries {
		at := e.Time.UnixMicro()
		if e.Time.IsZero() {
			at = time.Now().UnixMicro()
		}
		at = max(at, st.last)
		st.last = at
		text := clean(e.Text)
		level := e.Level
		if level == "" {
			level = DetectLevel(e.Stream, text)
		}
		sc, ok := streamCodes[e.Stream]
		if !ok {
			sc = 'o'
		}
		lc, ok := levelCodes[level]
		if !ok {
			lc = 'I'
		}
		buf = strconv.AppendInt(buf, at, 10)
		buf = append(buf, '\t')
		buf = strconv.AppendInt(buf, int64(id), 10)
		buf = append(buf, '\t', sc, lc, '\t')
		buf = append(buf, text...)
		buf = append(buf, '\n')
	}
	n, err := st.seg.Write(buf)
	st.size += int64(n)
	st.dirty = true
	close(st.changed)
	st.changed = make(chan struct{})
	if err != nil {
		return fmt.Errorf("function logs of %s/%s: %w", src.App, src.Stage, err)
	}
	return nil
}

// clean makes text one record field: its first line, cut at MaxLineBytes
// on a rune boundary, without a trailing carriage return.
func clean(text string) string {
	if i := strings.IndexByte(text, '\n'); i >= 0 {
		text = text[:i]
	}
	text = strings.TrimRight(text, "\r")
	if len(text) > MaxLineBytes {
		cut := MaxLineBytes
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut] + " … [cut]"
	}
	return text
}

// rotate closes the stage's segment and starts a new one named by the
// time of its first line (never before the newest existing one), then
// applies the size limit.
func (s *Store) rotate(st *stageLog, first time.Time) error {
	if st.seg != nil {
		_ = st.seg.Sync()
		_ = st.src.Sync()
		st.seg.Close()
		st.src.Close()
		st.seg, st.src = nil, nil
		s.index.add(st.dir, st.name) // sealed
	}
	if err := os.MkdirAll(st.dir, 0o700); err != nil {
		return fmt.Errorf("function logs: %w", err)
	}
	segs, err := listSegments(st.dir)
	if err != nil {
		return err
	}
	at := first.UnixMicro()
	if first.IsZero() {
		at = time.Now().UnixMicro()
	}
	at = max(at, st.last)
	if len(segs) > 0 {
		at = max(at, segs[len(segs)-1].start+1)
	}
	st.last = at
	name := fmt.Sprintf("%020d", at)
	seg, err := os.OpenFile(filepath.Join(st.dir, name+".log"), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("function logs: new segment: %w", err)
	}
	src, err := os.OpenFile(filepath.Join(st.dir, name+".src"), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		seg.Close()
		return fmt.Errorf("function logs: new segment: %w", err)
	}
	st.seg, st.src, st.name, st.size, st.ids, st.opened = seg, src, name, 0, map[Source]int{}, time.Now()
	if s.opt.Retention.Bytes > 0 {
		if _, err := pruneStage(st.dir, s.opt.Retention, time.Now(), name, false); err != nil {
			s.log.Warn("apply function log retention", "dir", st.dir, "err", err)
		}
	}
	return nil
}

// pruneEvery is how often a Store applies its age limit.
const pruneEvery = 10 * time.Minute

func (s *Store) syncLoop() {
	defer close(s.done)
	t := time.NewTicker(s.opt.SyncEvery)
	defer t.Stop()
	prune := time.NewTicker(pruneEvery)
	defer prune.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.syncAll()
		case <-prune.C:
			if s.opt.Retention.Age > 0 {
				if _, err := s.Prune(context.Background(), false); err != nil {
					s.log.Warn("apply function log retention", "err", err)
				}
			}
		}
	}
}

// syncAll fsyncs every segment written since the last sync.
func (s *Store) syncAll() {
	s.mu.Lock()
	stages := make([]*stageLog, 0, len(s.stages))
	for _, st := range s.stages {
		stages = append(stages, st)
	}
	s.mu.Unlock()
	for _, st := range stages {
		st.mu.Lock()
		if st.dirty && st.seg != nil {
			if err := st.seg.Sync(); err != nil {
				s.log.Warn("sync function logs", "dir", st.dir, "err", err)
			}
			st.dirty = false
		}
		st.mu.Unlock()
	}
}

// Close syncs and closes every segment; later Appends fail.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	var errs []error
	for _, st := range s.stages {
		st.mu.Lock()
		if st.seg != nil {
			errs = append(errs, st.seg.Sync(), st.seg.Close(), st.src.Close())
			st.seg, st.src = nil, nil
			s.index.add(st.dir, st.name) // sealed
		}
		st.closed = true
		close(st.changed) // followers look once more and find the end
		st.changed = make(chan struct{})
		st.mu.Unlock()
	}
	s.index.close()
	return errors.Join(errs...)
}

// active returns the name of the segment a stage is writing now, "" when
// none: every other segment is sealed.
func (s *Store) active(app, stage string) string {
	s.mu.Lock()
	st := s.stages[app+"/"+stage]
	s.mu.Unlock()
	if st == nil {
		return ""
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.seg == nil {
		return ""
	}
	return st.name
}

// WaitIndexed returns when every sealed segment queued for indexing has
// its index: for tests and benchmarks that measure searches.
func (s *Store) WaitIndexed() { s.index.wait() }

// changed returns a channel closed when the stage's log grows.
func (s *Store) changed(app, stage string) (<-chan struct{}, error) {
	st, err := s.stage(app, stage)
	if err != nil {
		return nil, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.changed, nil
}

// segment is one segment file of a stage.
type segment struct {
	name  string // without extension
	start int64  // unix µs of its first line
	size  int64
	mod   time.Time
}

// listSegments returns a stage folder's segments, oldest first; a missing
// folder has none.
func listSegments(dir string) ([]segment, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("function logs: %w", err)
	}
	var segs []segment
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok {
			continue
		}
		start, err := strconv.ParseInt(name, 10, 64)
		if err != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		segs = append(segs, segment{name: name, start: start, size: info.Size(), mod: info.ModTime()})
	}
	slices.SortFunc(segs, func(a, b segment) int { return int(min(max(a.start-b.start, -1), 1)) })
	return segs, nil
}

// source is one entry of a segment's dictionary.
type source struct {
	function, instance string
	release            uint
}

// readSources reads a segment's dictionary; a torn last record is left out.
func readSources(path string) (map[int]source, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[int]source{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("function logs: %w", err)
	}
	out := map[int]source{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	complete := bytes.LastIndexByte(b, '\n') + 1
	read := 0
	for sc.Scan() {
		read += len(sc.Bytes()) + 1
		if read > complete {
			break
		}
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 4 {
			continue
		}
		id, err1 := strconv.Atoi(f[0])
		rel, err2 := strconv.ParseUint(f[3], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		out[id] = source{function: f[1], instance: f[2], release: uint(rel)}
	}
	return out, nil
}
