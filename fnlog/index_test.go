package fnlog

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// randomText is a line of short words from a small mixed-case alphabet,
// so that substrings of lines (across word boundaries too) recur in other
// lines and blocks, and case variants of them exist or not by chance.
func randomText(r *rand.Rand) string {
	const alphabet = "abcdeABCDE01 _-"
	var b strings.Builder
	words := 3 + r.IntN(12)
	for w := range words {
		if w > 0 {
			b.WriteByte(' ')
		}
		for range 1 + r.IntN(8) {
			b.WriteByte(alphabet[r.IntN(len(alphabet))])
		}
	}
	return b.String()
}

type storedLine struct {
	at   time.Time
	fn   string
	text string
}

// An index-assisted search finds exactly what a scan of every line finds:
// random lines in many sealed segments, searched for substrings of stored
// lines (across word boundaries), their case variants, random texts and
// short ones, with and without function, time range and limit; the
// expected answer is computed from the lines written, not from the store.
// It also checks the index was there and skipped blocks, so the test
// would not pass on a scan alone.
func TestIndexedSearchMatchesScan(t *testing.T) {
	// Small segments: many of them, a few blocks each. Large ones: a
	// candidate range longer than scanChunk, looked through in chunks.
	for _, size := range []int64{300 << 10, 2 << 20} {
		t.Run(strconv.FormatInt(size>>10, 10)+"KiB", func(t *testing.T) { testIndexedSearch(t, size) })
	}
}

func testIndexedSearch(t *testing.T, segmentBytes int64) {
	r := rand.New(rand.NewPCG(12, 34))
	s := openStore(t, Options{SegmentBytes: segmentBytes})
	base := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	var all []storedLine
	srcs := []Source{api, worker}
	for i := 0; i < 60_000; {
		src := srcs[r.IntN(2)]
		var batch []Entry
		for range 1 + r.IntN(200) {
			at := base.Add(time.Duration(i) * time.Millisecond)
			text := randomText(r)
			if i%9000 == 4500 {
				text += " RareToken-x9"
			}
			batch = append(batch, Entry{Time: at, Stream: StreamStdout, Text: text})
			all = append(all, storedLine{at, src.Function, text})
			i++
		}
		if err := s.Append(src, batch); err != nil {
			t.Fatal(err)
		}
	}
	s.WaitIndexed()
	dir := filepath.Join(s.opt.Dir, "shop", "dev")
	idx, _ := filepath.Glob(filepath.Join(dir, "*.idx"))
	segs, _ := listSegments(dir)
	if len(segs) < 2 || len(idx) != len(segs)-1 {
		t.Fatalf("%d segments, %d indexes; want every sealed segment indexed", len(segs), len(idx))
	}

	// Candidate blocks for a rare text are few: the index does its job.
	sd, err := openSegment(dir, segs[0].name)
	if err != nil {
		t.Fatal(err)
	}
	ix, release := s.index.open(dir, segs[0].name, sd.data)
	if ix == nil || ix.blocks < 4 || segmentBytes > scanChunk && ix.covered <= scanChunk {
		t.Fatalf("index of %s: %+v", segs[0].name, ix)
	}
	if c := ix.candidates([]byte("zzQzzQ")); len(c) > 1 {
		t.Errorf("a text in no line leaves %d of %d blocks to scan", len(c), ix.blocks)
	}
	release()
	sd.release()

	type query struct {
		name string
		q    Query
	}
	var queries []query
	pick := func() string { return all[r.IntN(len(all))].text }
	for range 60 {
		text := pick()
		lo := r.IntN(len(text))
		hi := min(len(text), lo+1+r.IntN(12))
		sub := text[lo:hi]
		queries = append(queries, query{"substring", Query{Grep: sub}})
		queries = append(queries, query{"upper", Query{Grep: strings.ToUpper(sub)}})
		queries = append(queries, query{"lower", Query{Grep: strings.ToLower(sub)}})
	}
	for range 30 {
		queries = append(queries, query{"random", Query{Grep: randomText(r)[:5]}})
	}
	queries = append(queries,
		query{"rare", Query{Grep: "RareToken-x9"}},
		query{"rare, other case", Query{Grep: "raretoken-x9"}},
		query{"rare in one function", Query{Grep: "RareToken", Function: "jobs/worker"}},
		query{"rare, limit 2", Query{Grep: "RareToken", Limit: 2}},
		query{"two bytes", Query{Grep: "aB"}},
		query{"across a word", Query{Grep: "a b"}},
		query{"common, newest 3", Query{Grep: "a b", Limit: 3}},
		query{"common, newest 5000", Query{Grep: "AB", Limit: 5000}},
		query{"common, three bytes, newest 2000", Query{Grep: "aB ", Limit: 2000}},
	)
	for i := range 40 {
		since := base.Add(time.Duration(r.IntN(60_000)) * time.Millisecond)
		q := Query{Grep: pick()[:3], Since: since, Until: since.Add(time.Duration(r.IntN(20_000)) * time.Millisecond), Limit: 1 + r.IntN(MaxLimit)}
		if i%2 == 0 {
			q.Function = "api/hello"
		}
		queries = append(queries, query{"range", q})
	}

	ctx := context.Background()
	for _, tt := range queries {
		q := tt.q
		q.App, q.Stage = "shop", "dev"
		if q.Limit == 0 {
			q.Limit = MaxLimit
		}
		var want []string
		for _, l := range all {
			if (q.Function == "" || l.fn == q.Function) && (q.Since.IsZero() || !l.at.Before(q.Since)) &&
				(q.Until.IsZero() || !l.at.After(q.Until)) && strings.Contains(l.text, q.Grep) {
				want = append(want, l.text)
			}
		}
		more := len(want) > q.Limit
		if more {
			want = want[len(want)-q.Limit:]
		}
		res, err := s.Query(ctx, q)
		if err != nil {
			t.Fatalf("%s %+v: %v", tt.name, q, err)
		}
		s.scanOnly = true
		scanned, err := s.Query(ctx, q)
		s.scanOnly = false
		if err != nil || !reflect.DeepEqual(scanned, res) {
			t.Fatalf("%s %q: the indexed search (%d lines) and the scan (%d lines, %v) differ", tt.name, q.Grep, len(res.Lines), len(scanned.Lines), err)
		}
		got := make([]string, len(res.Lines))
		for i, l := range res.Lines {
			got[i] = l.Text
		}
		if !slicesEqual(got, want) || res.More != more {
			t.Fatalf("%s %q (function %q, limit %d): %d lines (more %v), a scan of every line finds %d (more %v)",
				tt.name, q.Grep, q.Function, q.Limit, len(got), res.More, len(want), more)
		}
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A missing, truncated, garbled or foreign index is not used: the search
// scans the segment and finds every line, and the index is built again.
func TestDamagedIndexIsRebuilt(t *testing.T) {
	damage := []struct {
		name string
		do   func(t *testing.T, path string, other []byte)
	}{
		{"missing", func(t *testing.T, path string, _ []byte) { mustRemove(t, path) }},
		{"truncated", func(t *testing.T, path string, _ []byte) {
			b, _ := os.ReadFile(path)
			mustWrite(t, path, b[:len(b)/2])
		}},
		{"bits flipped", func(t *testing.T, path string, _ []byte) {
			b, _ := os.ReadFile(path)
			for i := indexHeader + 200; i < len(b)-4; i++ {
				b[i] = 0 // a filter that says no to everything
			}
			mustWrite(t, path, b)
		}},
		{"another segment's", func(t *testing.T, path string, other []byte) { mustWrite(t, path, other) }},
		{"garbage", func(t *testing.T, path string, _ []byte) { mustWrite(t, path, bytes.Repeat([]byte("x"), 5000)) }},
	}
	for _, tt := range damage {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, Options{Dir: dir, SegmentBytes: 100 << 10})
			base := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
			for i := range 6000 {
				text := "line " + strings.Repeat("padding ", 3) + string(rune('a'+i%26))
				if i%1000 == 7 {
					text += " needle"
				}
				if err := s.Append(api, []Entry{{Time: base.Add(time.Duration(i) * time.Millisecond), Text: text}}); err != nil {
					t.Fatal(err)
				}
			}
			s.WaitIndexed()
			sdir := filepath.Join(dir, "shop", "dev")
			segs, _ := listSegments(sdir)
			if len(segs) < 3 {
				t.Fatalf("%d segments", len(segs))
			}
			path := filepath.Join(sdir, segs[0].name+".idx")
			other, err := os.ReadFile(filepath.Join(sdir, segs[1].name+".idx"))
			if err != nil {
				t.Fatal(err)
			}
			good, _ := os.ReadFile(path)
			// A search first, so the store has checked this index whole.
			q := Query{App: "shop", Stage: "dev", Grep: "needle"}
			if res, err := s.Query(context.Background(), q); err != nil || len(res.Lines) != 6 {
				t.Fatalf("before damage: %d lines, %v", len(res.Lines), err)
			}
			time.Sleep(10 * time.Millisecond) // a new modification time
			tt.do(t, path, other)
			res, err := s.Query(context.Background(), q)
			if err != nil || len(res.Lines) != 6 {
				t.Fatalf("with a %s index: %d lines, %v; want 6", tt.name, len(res.Lines), err)
			}
			s.WaitIndexed()
			if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, good) {
				t.Errorf("the %s index was not rebuilt (%v)", tt.name, err)
			}
		})
	}
}

func mustRemove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Pruning a segment removes its index too.
func TestPruneRemovesIndex(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, Options{Dir: dir, SegmentBytes: 50 << 10, Retention: Retention{Bytes: 120 << 10}})
	base := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	for i := range 5000 {
		if err := s.Append(api, []Entry{{Time: base.Add(time.Duration(i) * time.Millisecond), Text: strings.Repeat("word ", 10)}}); err != nil {
			t.Fatal(err)
		}
	}
	s.WaitIndexed()
	sdir := filepath.Join(dir, "shop", "dev")
	segs, _ := listSegments(sdir)
	idx, _ := filepath.Glob(filepath.Join(sdir, "*.idx"))
	if len(idx) > len(segs) || len(idx) == 0 {
		t.Errorf("%d indexes for %d segments: pruned segments left their index", len(idx), len(segs))
	}
	for _, p := range idx {
		name := strings.TrimSuffix(filepath.Base(p), ".idx")
		if _, err := os.Stat(filepath.Join(sdir, name+".log")); err != nil {
			t.Errorf("index %s has no segment", p)
		}
	}
}

// BenchmarkGrep searches lines like bench/fnlogs' (SEEDBED_FNLOG_BENCH_LINES
// of them, default 1,000,000) for a rare text, through the indexes and by
// scanning every segment.
func BenchmarkGrep(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("SEEDBED_FNLOG_BENCH_LINES")); err == nil && v > 0 {
		n = v
	}
	s, err := Open(Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	base := time.Now().Add(-24 * time.Hour)
	levels := []string{"info", "info", "info", "debug", "warn", "error"}
	var batch []Entry
	for i := range n {
		text := fmt.Sprintf(`{"level":"%s","msg":"handled request","path":"/api/orders/%d","status=200","user=u%d ","ms":%d,"trace":"%08x"}`,
			levels[i%len(levels)], i%9973, i%1000, i%250, uint32(i)*2654435761)
		if i%1_000_000 == 500_000 {
			text += " needle-7f3a"
		}
		batch = append(batch, Entry{Time: base.Add(time.Duration(i) * 24 * time.Hour / time.Duration(n)), Text: text})
		if len(batch) == 512 || i == n-1 {
			if err := s.Append(Source{App: "big", Stage: "dev", Function: "svc/fn"}, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	s.WaitIndexed()
	for _, mode := range []struct {
		name     string
		scanOnly bool
	}{{"indexed", false}, {"scan", true}} {
		b.Run(mode.name, func(b *testing.B) {
			s.scanOnly = mode.scanOnly
			for b.Loop() {
				res, err := s.Query(context.Background(), Query{App: "big", Stage: "dev", Grep: "needle-7f3a"})
				if err != nil || len(res.Lines) != max(1, n/1_000_000) {
					b.Fatalf("%d lines, %v", len(res.Lines), err)
				}
			}
		})
	}
}

// BenchmarkBuildIndex is the work of sealing a 16 MiB segment of lines
// like bench/fnlogs': building its index (b.SetBytes: the segment).
func BenchmarkBuildIndex(b *testing.B) {
	var data []byte
	levels := []string{"info", "info", "info", "debug", "warn", "error"}
	for i := 0; len(data) < 16<<20; i++ {
		data = fmt.Appendf(data, "%d\t%d\toI\t"+`{"level":"%s","msg":"handled request","path":"/api/orders/%d","status=200","user=u%d ","ms":%d,"trace":"%08x"}`+"\n",
			1796514338829323+i, 1+i%20, levels[i%len(levels)], i%9973, i%1000, i%250, uint32(i)*2654435761)
	}
	b.SetBytes(int64(len(data)))
	var size int
	for b.Loop() {
		size = len(buildIndex(data))
	}
	b.ReportMetric(float64(size)/float64(len(data))*100, "index-%")
}

// Searches while lines are written, segments sealed and indexed find
// every line with the text written before the search began.
func TestSearchWhileIndexing(t *testing.T) {
	s := openStore(t, Options{SegmentBytes: 64 << 10})
	base := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	var written atomic.Int64 // lines with the text, all stored
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 20_000 {
			text := "filler line " + strconv.Itoa(i)
			if i%50 == 0 {
				text += " marker-q7"
			}
			if err := s.Append(api, []Entry{{Time: base.Add(time.Duration(i) * time.Millisecond), Text: text}}); err != nil {
				t.Error(err)
				return
			}
			if i%50 == 0 {
				written.Add(1)
			}
		}
	}()
	for {
		finished := false
		select {
		case <-done:
			finished = true
		default:
		}
		before := written.Load()
		res, err := s.Query(context.Background(), Query{App: "shop", Stage: "dev", Grep: "marker-q7", Limit: MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(res.Lines)) < before {
			t.Fatalf("found %d lines with the text, %d were stored before the search", len(res.Lines), before)
		}
		if finished {
			if len(res.Lines) != 400 {
				t.Fatalf("found %d, want 400", len(res.Lines))
			}
			return
		}
	}
}
