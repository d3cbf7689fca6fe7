package fnlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// cursor is a position in a stage's log: a segment and a byte offset in it.
type cursor struct {
	seg string
	off int64
}

func (c cursor) String() string {
	if c.seg == "" {
		return ""
	}
	return c.seg + "." + strconv.FormatInt(c.off, 10)
}

// parseCursor reads a cursor; "" is the start of the log.
func parseCursor(s string) (cursor, error) {
	if s == "" {
		return cursor{}, nil
	}
	seg, off, ok := strings.Cut(s, ".")
	n, err := strconv.ParseInt(off, 10, 64)
	if _, err2 := strconv.ParseInt(seg, 10, 64); !ok || err != nil || err2 != nil || n < 0 || len(seg) != 20 {
		return cursor{}, fmt.Errorf("%w: %q is not a cursor Seedbed gave out; start again without it", ErrBadQuery, s)
	}
	return cursor{seg: seg, off: n}, nil
}

// segmentData is a segment's complete lines and its dictionary.
type segmentData struct {
	name    string
	data    []byte // complete lines only
	sources map[int]source
	release func()
	// index, when set, covers the first index.covered bytes of data.
	index *segIndex
}

// openSegment maps a segment's complete lines.
func openSegment(dir, name string) (*segmentData, error) {
	data, release, err := mapFile(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	srcs, err := readSources(filepath.Join(dir, name+".src"))
	if err != nil {
		release()
		return nil, err
	}
	return &segmentData{name: name, data: data[:bytes.LastIndexByte(data, '\n')+1], sources: srcs, release: release}, nil
}

// record is a line's fields as stored.
type record struct {
	at     int64
	id     int
	stream byte
	level  byte
	text   []byte // points into the segment
	end    int    // offset just after the line's newline
}

// parseRecord reads the line starting at off; ok is false for a malformed
// one (which is skipped).
func parseRecord(data []byte, off int) (r record, ok bool) {
	nl := bytes.IndexByte(data[off:], '\n')
	if nl < 0 {
		return r, false
	}
	line := data[off : off+nl]
	r.end = off + nl + 1
	t1 := bytes.IndexByte(line, '\t')
	if t1 < 0 {
		return r, false
	}
	t2 := bytes.IndexByte(line[t1+1:], '\t')
	if t2 < 0 {
		return r, false
	}
	t2 += t1 + 1
	if len(line) < t2+4 || line[t2+3] != '\t' {
		return r, false
	}
	at, err := strconv.ParseInt(string(line[:t1]), 10, 64)
	if err != nil {
		return r, false
	}
	id, err := strconv.Atoi(string(line[t1+1 : t2]))
	if err != nil {
		return r, false
	}
	r.at, r.id, r.stream, r.level, r.text = at, id, line[t2+1], line[t2+2], line[t2+4:]
	return r, true
}

// timeAt reads the time of the line starting at off, cheaply.
func timeAt(data []byte, off int) int64 {
	end := bytes.IndexByte(data[off:], '\t')
	if end < 0 {
		return 0
	}
	n, _ := strconv.ParseInt(string(data[off:off+end]), 10, 64)
	return n
}

// lineStartFrom returns the start of the first line beginning at or after p.
func lineStartFrom(data []byte, p int) int {
	if p == 0 {
		return 0
	}
	i := bytes.IndexByte(data[p-1:], '\n')
	if i < 0 {
		return len(data)
	}
	return p + i
}

// firstAtOrAfter finds by binary search the first line at or after t:
// a segment's lines are in time order.
func firstAtOrAfter(data []byte, t int64) int {
	p := sort.Search(len(data)+1, func(p int) bool {
		s := lineStartFrom(data, p)
		return s >= len(data) || timeAt(data, s) >= t
	})
	return lineStartFrom(data, p)
}

// matcher is a query compiled for one segment.
type matcher struct {
	ids   map[int]bool // nil: every source
	since int64        // 0: none
	until int64        // 0: none
	grep  []byte
}

func (m matcher) match(r record) bool {
	if m.ids != nil && !m.ids[r.id] {
		return false
	}
	if m.since != 0 && r.at < m.since {
		return false
	}
	if len(m.grep) > 0 && !bytes.Contains(r.text, m.grep) {
		return false
	}
	return true
}

func compile(q Query, sd *segmentData) (m matcher, none bool) {
	if q.Function != "" {
		m.ids = map[int]bool{}
		for id, s := range sd.sources {
			if s.function == q.Function {
				m.ids[id] = true
			}
		}
		if len(m.ids) == 0 {
			return m, true
		}
	}
	if !q.Since.IsZero() {
		m.since = q.Since.UnixMicro()
	}
	if !q.Until.IsZero() {
		m.until = q.Until.UnixMicro()
	}
	m.grep = []byte(q.Grep)
	return m, false
}

// scanChunk is how much of a segment scan looks through at a time, from
// its end backwards: a query for the newest lines stops after the chunks
// that hold enough of them.
const scanChunk = 512 << 10

// scan returns the records of sd that match q from offset from on: the
// last keep of them (all when keep is large), oldest first. It looks
// through the segment a chunk at a time from the end, and stops once it
// has keep; within a chunk a text filter runs bytes.Index over the bytes
// and decodes only the lines the text is in.
func scan(sd *segmentData, q Query, from, keep int) []record {
	m, none := compile(q, sd)
	if none || keep <= 0 {
		return nil
	}
	data := sd.data
	if m.since != 0 {
		from = max(from, firstAtOrAfter(data, m.since))
	}
	if m.until != 0 {
		data = data[:firstAtOrAfter(data, m.until+1)]
	}
	// The byte ranges to look through, in order: everything from from
	// on, or with an index only the blocks that may hold the text and
	// what follows the indexed part. Every range starts and ends on a
	// line boundary, so scanRange finds in each exactly what a scan of
	// everything finds there.
	ranges := [][2]int{{from, len(data)}}
	if sd.index != nil && len(m.grep) >= 3 {
		ranges = sd.index.candidates(m.grep)
		if sd.index.covered < len(data) {
			ranges = append(ranges, [2]int{sd.index.covered, len(data)})
		}
	}
	var chunks [][]record // newest chunk first
	found := 0
	for i := len(ranges) - 1; i >= 0 && found < keep; i-- {
		lo, hi := max(ranges[i][0], from), min(ranges[i][1], len(data))
		for hi > lo && found < keep {
			start := lo
			if hi-lo > scanChunk {
				start = lineStartFrom(data, hi-scanChunk)
				if start >= hi { // one line longer than a chunk
					start = bytes.LastIndexByte(data[:hi-1], '\n') + 1
				}
				start = max(start, lo)
			}
			recs := scanRange(data, start, hi, m)
			chunks = append(chunks, recs)
			found += len(recs)
			hi = start
		}
	}
	out := make([]record, 0, min(found, keep))
	for i := len(chunks) - 1; i >= 0; i-- {
		out = append(out, chunks[i]...)
	}
	if len(out) > keep {
		out = out[len(out)-keep:]
	}
	return out
}

// scanRange returns the matching records of the lines in data[from:to],
// which starts and ends on line boundaries.
func scanRange(data []byte, from, to int, m matcher) []record {
	var recs []record
	data = data[:to]
	if len(m.grep) > 0 {
		for p := from; p < len(data); {
			i := bytes.Index(data[p:], m.grep)
			if i < 0 {
				break
			}
			start := max(bytes.LastIndexByte(data[:p+i], '\n')+1, from)
			r, ok := parseRecord(data, start)
			if !ok {
				p = lineStartFrom(data, p+i+1)
				continue
			}
			if m.match(r) {
				recs = append(recs, r)
			}
			p = r.end
		}
		return recs
	}
	for p := from; p < len(data); {
		r, ok := parseRecord(data, p)
		if !ok {
			p = lineStartFrom(data, p+1)
			continue
		}
		if m.match(r) {
			recs = append(recs, r)
		}
		p = r.end
	}
	return recs
}

func (sd *segmentData) line(q Query, r record) Line {
	src := sd.sources[r.id]
	return Line{
		Time: time.UnixMicro(r.at).UTC(), App: q.App, Stage: q.Stage,
		Function: src.function, Instance: src.instance, Release: src.release,
		Stream: streamOf(r.stream), Level: levelOf(r.level), Text: string(r.text),
		Cursor: cursor{seg: sd.name, off: int64(r.end)}.String(),
	}
}

// Query returns the newest lines of a stage that match q, oldest first,
// and the cursor to follow the log from.
func (s *Store) Query(ctx context.Context, q Query) (Result, error) {
	if err := checkStage(q.App, q.Stage); err != nil {
		return Result{}, err
	}
	switch {
	case q.Limit == 0:
		q.Limit = DefaultLimit
	case q.Limit < 0 || q.Limit > MaxLimit:
		return Result{}, fmt.Errorf("%w: limit must be between 1 and %d, not %d", ErrBadQuery, MaxLimit, q.Limit)
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && q.Until.Before(q.Since) {
		return Result{}, fmt.Errorf("%w: until (%s) is before since (%s)", ErrBadQuery, q.Until.Format(time.RFC3339), q.Since.Format(time.RFC3339))
	}
	dir := filepath.Join(s.opt.Dir, q.App, q.Stage)
	segs, err := listSegments(dir)
	if err != nil {
		return Result{}, err
	}
	var res Result
	if len(segs) == 0 {
		return res, nil
	}
	// The cursor: the end of the newest segment's complete lines now.
	newest, err := openSegment(dir, segs[len(segs)-1].name)
	if err != nil {
		return Result{}, err
	}
	res.Cursor = cursor{seg: newest.name, off: int64(len(newest.data))}.String()
	newest.release()

	// The segments that may hold lines in range, newest first.
	var cand []segment
	for i := len(segs) - 1; i >= 0; i-- {
		if !q.Until.IsZero() && segs[i].start > q.Until.UnixMicro() {
			continue
		}
		if !q.Since.IsZero() && i+1 < len(segs) && segs[i+1].start < q.Since.UnixMicro() {
			break
		}
		cand = append(cand, segs[i])
	}
	// Scan them a few at a time in parallel, newest first, until enough
	// lines matched. Sealed segments are searched through their index.
	active := s.active(q.App, q.Stage)
	workers := max(1, min(runtime.GOMAXPROCS(0), 4))
	var (
		found   [][]Line // per batch position, newest segment first
		matched int
	)
	for b := 0; b < len(cand) && matched < q.Limit+1; b += workers {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		batch := cand[b:min(b+workers, len(cand))]
		lines := make([][]Line, len(batch))
		counts := make([]int, len(batch))
		errs := make([]error, len(batch))
		var wg sync.WaitGroup
		for i, seg := range batch {
			wg.Go(func() {
				sd, err := openSegment(dir, seg.name)
				if errors.Is(err, fs.ErrNotExist) {
					return // pruned meanwhile
				}
				if err != nil {
					errs[i] = err
					return
				}
				defer sd.release()
				if len(q.Grep) >= 3 && seg.name != active && !s.scanOnly {
					ix, release := s.index.open(dir, seg.name, sd.data)
					if ix != nil {
						defer release()
						sd.index = ix
					}
				}
				recs := scan(sd, q, 0, q.Limit+1)
				counts[i] = len(recs)
				for _, r := range recs {
					lines[i] = append(lines[i], sd.line(q, r))
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return Result{}, err
		}
		for i := range batch {
			found = append(found, lines[i])
			matched += counts[i]
		}
	}
	for i := len(found) - 1; i >= 0; i-- {
		res.Lines = append(res.Lines, found[i]...)
	}
	if len(res.Lines) > q.Limit {
		res.Lines = res.Lines[len(res.Lines)-q.Limit:]
		res.More = true
	}
	if res.Lines == nil {
		res.Lines = []Line{}
	}
	return res, nil
}

// followChunk bounds how much of a segment one step of Follow reads.
const followChunk = 4 << 20

// followPoll is how often Follow looks even when nothing woke it: lines
// another process wrote wake no one here.
const followPoll = 2 * time.Second

// Follow calls emit with the lines of q's stage that match q's Function
// and Grep and were written after from (a cursor from Query or a Line),
// in order and as they are written, until ctx ends or emit fails. Since,
// Until and Limit are ignored.
func (s *Store) Follow(ctx context.Context, q Query, from string, emit func([]Line) error) error {
	if err := checkStage(q.App, q.Stage); err != nil {
		return err
	}
	pos, err := parseCursor(from)
	if err != nil {
		return err
	}
	q.Since, q.Until = time.Time{}, time.Time{}
	dir := filepath.Join(s.opt.Dir, q.App, q.Stage)
	for {
		changed, err := s.changed(q.App, q.Stage)
		if err != nil {
			return err
		}
		for {
			moved, err := s.followStep(dir, q, &pos, emit)
			if err != nil {
				return err
			}
			if !moved {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
			// Let a burst of appends land, and read them in one step:
			// a function printing 10,000 lines a second would otherwise
			// wake every follower 10,000 times.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(followCoalesce):
			}
		case <-time.After(followPoll):
		}
	}
}

// followCoalesce is how long Follow waits after a wake-up before it reads.
const followCoalesce = 50 * time.Millisecond

// followStep emits what follows pos in its segment, up to followChunk,
// or moves pos to the next segment once its own is finished. It reports
// whether it moved, so the caller looks again at once.
func (s *Store) followStep(dir string, q Query, pos *cursor, emit func([]Line) error) (bool, error) {
	data, err := readSegmentFrom(dir, *pos)
	if err != nil {
		return false, err
	}
	if len(data) == 0 {
		// At the end of its segment (or it was pruned, or pos is the
		// start): go on with the next segment if there is one.
		segs, err := listSegments(dir)
		if err != nil {
			return false, err
		}
		i := slices.IndexFunc(segs, func(sg segment) bool { return sg.name > pos.seg })
		if i < 0 {
			return false, nil
		}
		// A segment with a successor is finished, but its last batch
		// may have landed between the read above and the listing: read
		// once more before leaving it. (A torn last line stays torn.)
		if data, err = readSegmentFrom(dir, *pos); err != nil {
			return false, err
		}
		if len(data) == 0 {
			*pos = cursor{seg: segs[i].name}
			return true, nil
		}
	}
	srcs, err := readSources(filepath.Join(dir, pos.seg+".src"))
	if err != nil {
		return false, err
	}
	sd := &segmentData{name: pos.seg, data: data, sources: srcs}
	recs := scan(sd, q, 0, len(data))
	lines := make([]Line, 0, len(recs))
	for _, r := range recs {
		l := sd.line(q, r)
		l.Cursor = cursor{seg: pos.seg, off: pos.off + int64(r.end)}.String()
		lines = append(lines, l)
	}
	pos.off += int64(len(data))
	if len(lines) > 0 {
		if err := emit(lines); err != nil {
			return false, err
		}
	}
	return true, nil
}

// readSegmentFrom reads the complete lines of pos's segment after pos, at
// most followChunk bytes of them; none when the segment is gone or pos is
// the start of the log.
func readSegmentFrom(dir string, pos cursor) ([]byte, error) {
	if pos.seg == "" {
		return nil, nil
	}
	f, err := os.Open(filepath.Join(dir, pos.seg+".log"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("function logs: %w", err)
	}
	defer f.Close()
	return readFrom(f, pos.off)
}

// readFrom reads the complete lines of f from off on, at most
// followChunk bytes of them.
func readFrom(f *os.File, off int64) ([]byte, error) {
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("function logs: %w", err)
	}
	n := min(info.Size()-off, followChunk)
	if n <= 0 {
		return nil, nil
	}
	buf := make([]byte, n)
	got, err := f.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("function logs: %w", err)
	}
	return buf[:bytes.LastIndexByte(buf[:got], '\n')+1], nil
}

// CheckCursor tells whether s is a cursor Query or Follow could have
// given out ("" is the start of the log).
func CheckCursor(s string) error {
	_, err := parseCursor(s)
	return err
}
