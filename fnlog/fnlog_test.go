package fnlog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDetectLevel(t *testing.T) {
	tests := []struct {
		name, stream, text, want string
	}{
		{"plain stdout", StreamStdout, "listening on :8080", LevelInfo},
		{"plain stderr", StreamStderr, "something went sideways", LevelError},
		{"runtime error", StreamRuntime, "Runtime.ExitError: boom", LevelError},
		{"slog json", StreamStderr, `{"time":"x","level":"WARN","msg":"slow"}`, LevelWarn},
		{"zap json lower", StreamStdout, `{"level":"error","msg":"db down"}`, LevelError},
		{"pino numeric", StreamStdout, `{"level":30,"msg":"ok"}`, LevelInfo},
		{"pino numeric error", StreamStdout, `{"level":50,"msg":"bad"}`, LevelError},
		{"severity", StreamStdout, `{"severity":"DEBUG","message":"x"}`, LevelDebug},
		{"logfmt", StreamStderr, `time=2026 level=info msg="started"`, LevelInfo},
		{"prefix", StreamStdout, "ERROR: could not connect", LevelError},
		{"bracketed", StreamStdout, "[WARN] disk at 91%", LevelWarn},
		{"after timestamp", StreamStderr, "2026/12/06 10:00:00 INFO ready", LevelInfo},
		{"go panic", StreamStdout, "panic: runtime error: index out of range", LevelError},
		{"python traceback", StreamStdout, "Traceback (most recent call last):", LevelError},
		{"word inside text is not a level", StreamStdout, "the error budget is fine today really", LevelInfo},
		{"seedbed note", StreamSeedbed, "process exited with status 2; restarting in 1s", LevelInfo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DetectLevel(tt.stream, tt.text); got != tt.want {
				t.Errorf("DetectLevel(%q, %q) = %q, want %q", tt.stream, tt.text, got, tt.want)
			}
		})
	}
}

func openStore(t *testing.T, opt Options) *Store {
	t.Helper()
	if opt.Dir == "" {
		opt.Dir = t.TempDir()
	}
	s, err := Open(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var (
	api    = Source{App: "shop", Stage: "dev", Function: "api/hello", Instance: "i1", Release: 7}
	worker = Source{App: "shop", Stage: "dev", Function: "jobs/worker", Instance: "i2", Release: 7}
)

func texts(lines []Line) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.Text
	}
	return out
}

func TestQueryFilters(t *testing.T) {
	s := openStore(t, Options{SegmentBytes: 150}) // many small segments
	base := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	for i := range 40 {
		src := api
		if i%2 == 1 {
			src = worker
		}
		text := fmt.Sprintf("line %02d", i)
		if i%10 == 0 {
			text += " needle"
		}
		if err := s.Append(src, []Entry{{Time: base.Add(time.Duration(i) * time.Second), Stream: StreamStdout, Text: text}}); err != nil {
			t.Fatal(err)
		}
	}
	segs, _ := listSegments(filepath.Join(s.opt.Dir, "shop", "dev"))
	if len(segs) < 5 {
		t.Fatalf("want several segments, got %d", len(segs))
	}
	tests := []struct {
		name string
		q    Query
		want []string
		more bool
	}{
		{"newest few", Query{Limit: 3}, []string{"line 37", "line 38", "line 39"}, true},
		{"grep", Query{Grep: "needle"}, []string{"line 00 needle", "line 10 needle", "line 20 needle", "line 30 needle"}, false},
		{"grep limit", Query{Grep: "needle", Limit: 2}, []string{"line 20 needle", "line 30 needle"}, true},
		{"grep matches no metadata", Query{Grep: "api/hello"}, nil, false},
		{"function", Query{Function: "jobs/worker", Since: base.Add(30 * time.Second)}, []string{"line 31", "line 33", "line 35", "line 37", "line 39"}, false},
		{"time range", Query{Since: base.Add(12 * time.Second), Until: base.Add(15 * time.Second)}, []string{"line 12", "line 13", "line 14", "line 15"}, false},
		{"unknown function", Query{Function: "nope/nope"}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.q.App, tt.q.Stage = "shop", "dev"
			res, err := s.Query(context.Background(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := texts(res.Lines); !slices.Equal(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Errorf("lines = %q, want %q", got, tt.want)
			}
			if res.More != tt.more {
				t.Errorf("more = %v, want %v", res.More, tt.more)
			}
		})
	}
	res, _ := s.Query(context.Background(), Query{App: "shop", Stage: "dev", Limit: 1})
	l := res.Lines[0]
	if l.Function != "jobs/worker" || l.Instance != "i2" || l.Release != 7 || l.Stream != StreamStdout || l.Level != LevelInfo || !l.Time.Equal(base.Add(39*time.Second)) {
		t.Errorf("newest line = %+v", l)
	}
}

func TestQueryRefusesBadInput(t *testing.T) {
	s := openStore(t, Options{})
	for _, q := range []Query{
		{App: "../etc", Stage: "dev"},
		{App: "shop", Stage: "a/b"},
		{App: "shop", Stage: "dev", Limit: MaxLimit + 1},
		{App: "shop", Stage: "dev", Since: time.Now(), Until: time.Now().Add(-time.Hour)},
	} {
		if _, err := s.Query(context.Background(), q); err == nil {
			t.Errorf("Query(%+v) succeeded", q)
		}
	}
	if err := s.Follow(context.Background(), Query{App: "shop", Stage: "dev"}, "garbage", nil); err == nil {
		t.Error("Follow with a made-up cursor succeeded")
	}
}

// A crash mid-write leaves a torn last line: it is dropped, the lines
// before it stay, and the next process writes a segment of its own.
func TestTornLineIsDropped(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, Options{Dir: dir})
	if err := s.Append(api, []Entry{{Stream: StreamStdout, Text: "one"}, {Stream: StreamStdout, Text: "two"}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	segs, _ := listSegments(filepath.Join(dir, "shop", "dev"))
	f, err := os.OpenFile(filepath.Join(dir, "shop", "dev", segs[0].name+".log"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("17650000000000\t1\toI\tthree, torn")
	f.Close()

	s2 := openStore(t, Options{Dir: dir})
	if err := s2.Append(api, []Entry{{Stream: StreamStderr, Text: "four"}}); err != nil {
		t.Fatal(err)
	}
	res, err := s2.Query(context.Background(), Query{App: "shop", Stage: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	if got := texts(res.Lines); !slices.Equal(got, []string{"one", "two", "four"}) {
		t.Errorf("lines = %q", got)
	}
	if res.Lines[2].Level != LevelError {
		t.Errorf("stderr line level = %q", res.Lines[2].Level)
	}
}

func TestFollow(t *testing.T) {
	s := openStore(t, Options{SegmentBytes: 200})
	if err := s.Append(api, []Entry{{Stream: StreamStdout, Text: "before"}}); err != nil {
		t.Fatal(err)
	}
	res, err := s.Query(context.Background(), Query{App: "shop", Stage: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan Line, 100)
	go s.Follow(ctx, Query{App: "shop", Stage: "dev", Grep: "keep"}, res.Cursor, func(ls []Line) error {
		for _, l := range ls {
			got <- l
		}
		return nil
	})
	var want []string
	for i := range 20 { // crosses several segments
		text := fmt.Sprintf("keep %d", i)
		if i%3 == 0 {
			text = fmt.Sprintf("drop %d", i)
		} else {
			want = append(want, text)
		}
		if err := s.Append(worker, []Entry{{Stream: StreamStdout, Text: text}}); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	var last Line
	for len(seen) < len(want) {
		select {
		case l := <-got:
			seen = append(seen, l.Text)
			last = l
		case <-ctx.Done():
			t.Fatalf("followed %q, want %q", seen, want)
		}
	}
	if !slices.Equal(seen, want) {
		t.Errorf("followed %q, want %q", seen, want)
	}
	// A line's cursor resumes after it.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel2()
	s.Append(api, []Entry{{Stream: StreamStdout, Text: "keep after"}})
	var resumed []string
	s.Follow(ctx2, Query{App: "shop", Stage: "dev"}, last.Cursor, func(ls []Line) error {
		resumed = append(resumed, texts(ls)...)
		cancel2()
		return nil
	})
	if !slices.Equal(resumed, []string{"keep after"}) {
		t.Errorf("resumed %q", resumed)
	}
}

func TestPrune(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		r    Retention
		want int // segments left of 5
	}{
		{"keep all", Retention{}, 5},
		{"by age", Retention{Age: 150 * time.Minute}, 3},
		{"by size", Retention{Bytes: 250}, 2},
		{"newest always stays", Retention{Bytes: 1}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			stage := filepath.Join(dir, "shop", "dev")
			os.MkdirAll(stage, 0o700)
			for i := range 5 { // one an hour, the newest at 11:00
				at := now.Add(time.Duration(i-5) * time.Hour)
				name := fmt.Sprintf("%020d", at.UnixMicro())
				os.WriteFile(filepath.Join(stage, name+".log"), []byte(strings.Repeat("x", 99)+"\n"), 0o600)
				os.WriteFile(filepath.Join(stage, name+".src"), []byte("1\tapi/hello\ti1\t7\n"), 0o600)
			}
			rep, err := Prune(context.Background(), dir, tt.r, now, false)
			if err != nil {
				t.Fatal(err)
			}
			segs, _ := listSegments(stage)
			if len(segs) != tt.want || rep.Segments != 5-tt.want {
				t.Errorf("left %d segments (report says %d removed), want %d left", len(segs), rep.Segments, tt.want)
			}
			srcs, _ := filepath.Glob(filepath.Join(stage, "*.src"))
			if len(srcs) != tt.want {
				t.Errorf("left %d dictionaries, want %d", len(srcs), tt.want)
			}
		})
	}
}

// A segment larger than a scan chunk: the newest lines come from its end,
// a rare text is found wherever it is, and lines on chunk borders are
// neither lost nor doubled.
func TestQueryAcrossChunks(t *testing.T) {
	s := openStore(t, Options{})
	const n = 40_000 // about 1.6 MB: several chunks of one segment
	entries := make([]Entry, 0, n)
	for i := range n {
		text := fmt.Sprintf("request %05d handled", i)
		if i == 123 || i == 31_000 {
			text += " rare-word"
		}
		entries = append(entries, Entry{Stream: StreamStdout, Text: text})
	}
	if err := s.Append(api, entries); err != nil {
		t.Fatal(err)
	}
	segs, _ := listSegments(filepath.Join(s.opt.Dir, "shop", "dev"))
	if len(segs) != 1 || segs[0].size < 2*scanChunk {
		t.Fatalf("want one segment of several chunks, got %+v", segs)
	}
	ctx := context.Background()
	res, err := s.Query(ctx, Query{App: "shop", Stage: "dev", Grep: "rare-word"})
	if err != nil {
		t.Fatal(err)
	}
	if got := texts(res.Lines); !slices.Equal(got, []string{"request 00123 handled rare-word", "request 31000 handled rare-word"}) {
		t.Errorf("grep found %q", got)
	}
	res, err = s.Query(ctx, Query{App: "shop", Stage: "dev", Limit: MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Lines) != MaxLimit || !res.More {
		t.Fatalf("%d lines (more %v), want %d and more", len(res.Lines), res.More, MaxLimit)
	}
	for i, l := range res.Lines {
		if want := fmt.Sprintf("request %05d handled", n-MaxLimit+i); !strings.HasPrefix(l.Text, want) {
			t.Fatalf("line %d = %q, want %q", i, l.Text, want)
		}
	}
}

// A follower keeps up with a writer that starts new segments all the time:
// every line once, in order (a batch that lands in a segment just before
// the next one starts is not skipped).
func TestFollowWhileSegmentsRotate(t *testing.T) {
	s := openStore(t, Options{SegmentBytes: 2000})
	const n = 3000
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []string
	done := make(chan error, 1)
	go func() {
		done <- s.Follow(ctx, Query{App: "shop", Stage: "dev"}, "", func(ls []Line) error {
			got = append(got, texts(ls)...)
			if len(got) >= n {
				cancel()
			}
			return nil
		})
	}()
	for i := range n {
		if err := s.Append(api, []Entry{{Stream: StreamStdout, Text: fmt.Sprintf("line %04d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	if len(got) != n {
		t.Fatalf("followed %d lines, want %d", len(got), n)
	}
	for i, text := range got {
		if want := fmt.Sprintf("line %04d", i); text != want {
			t.Fatalf("line %d is %q, want %q", i, text, want)
		}
	}
}
