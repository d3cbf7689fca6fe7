package runner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seedbed/seedbed/fnlog"
	"github.com/seedbed/seedbed/targets"
	"github.com/seedbed/seedbed/targets/runner"
)

// fakeSeedbed is a log endpoint that records the batches it takes and
// answers fail's status while fail is set.
type fakeSeedbed struct {
	mu      sync.Mutex
	batches []runner.LogBatch
	auth    []string
	fail    int // status to answer; 0 takes the batch
	tries   int
}

func (f *fakeSeedbed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tries++
	if f.fail != 0 {
		http.Error(w, "not now", f.fail)
		return
	}
	var b runner.LogBatch
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.batches = append(f.batches, b)
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeSeedbed) setFail(code int) {
	f.mu.Lock()
	f.fail = code
	f.mu.Unlock()
}

// texts are the texts of the lines taken so far, in order.
func (f *fakeSeedbed) texts() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, b := range f.batches {
		for _, l := range b.Lines {
			out = append(out, l.Text)
		}
	}
	return out
}

func (f *fakeSeedbed) waitLines(t *testing.T, n int, within time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := f.texts()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d lines arrived in %s, want %d: %q", len(got), within, n, got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var shipSrc = fnlog.Source{App: "shop", Stage: "prod", Function: "api/hello", Instance: "local-id"}

func lines(texts ...string) []fnlog.Entry {
	out := make([]fnlog.Entry, len(texts))
	for i, s := range texts {
		out[i] = fnlog.Entry{Time: time.Now(), Stream: fnlog.StreamStdout, Text: s}
	}
	return out
}

func newShipper(t *testing.T, url string, edit func(*runner.LogShipperConfig)) *runner.LogShipper {
	t.Helper()
	cfg := runner.LogShipperConfig{URL: url, Token: "sbl1_secret-token", Instance: "hello-7f9c-abcde", Digest: "sha256:" + strings.Repeat("a", 64),
		FlushEvery: 20 * time.Millisecond, BackoffMin: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond}
	if edit != nil {
		edit(&cfg)
	}
	s, err := runner.NewLogShipper(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return s
}

// Lines written together arrive in one batch within the flush interval,
// with the bearer token, the pod's name and the artifact, masked.
func TestLogShipperBatchesAndMasks(t *testing.T) {
	fake := &fakeSeedbed{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	s := newShipper(t, srv.URL, func(c *runner.LogShipperConfig) {
		// Long enough that the two appends below fall in one interval
		// on a busy machine too.
		c.FlushEvery = 300 * time.Millisecond
		c.Mask = []string{"sbl1_secret-token"}
	})
	began := time.Now()
	if err := s.Append(shipSrc, lines("one", "two: my token is sbl1_secret-token")); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(shipSrc, lines("three")); err != nil {
		t.Fatal(err)
	}
	got := fake.waitLines(t, 3, 2*time.Second)
	took := time.Since(began)
	want := []string{"one", "two: my token is ••••••", "three"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("lines %q, want %q", got, want)
	}
	if took < 250*time.Millisecond {
		t.Errorf("the batch went after %s: it should wait for the flush interval (300ms)", took)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.batches) != 1 {
		t.Fatalf("%d batches, want 1", len(fake.batches))
	}
	b := fake.batches[0]
	if b.App != "shop" || b.Stage != "prod" || b.Function != "api/hello" || b.Instance != "hello-7f9c-abcde" || !strings.HasPrefix(b.Digest, "sha256:") {
		t.Errorf("batch header %+v", b)
	}
	if fake.auth[0] != "Bearer sbl1_secret-token" {
		t.Errorf("Authorization %q", fake.auth[0])
	}
}

// A batch is sent once BatchBytes wait, without waiting for the interval,
// and no batch is larger.
func TestLogShipperSendsFullBatchesAtOnce(t *testing.T) {
	fake := &fakeSeedbed{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	s := newShipper(t, srv.URL, func(c *runner.LogShipperConfig) {
		c.FlushEvery = time.Hour
		c.BatchBytes = 4 << 10
	})
	text := strings.Repeat("x", 1000)
	for range 10 {
		if err := s.Append(shipSrc, lines(text)); err != nil {
			t.Fatal(err)
		}
	}
	fake.waitLines(t, 8, 2*time.Second) // two full batches; the rest waits for the hour
	fake.mu.Lock()
	for i, b := range fake.batches {
		size := 0
		for _, l := range b.Lines {
			size += len(l.Text)
		}
		if size > 4<<10 {
			t.Errorf("batch %d holds %d bytes of text, over 4 KiB", i, size)
		}
	}
	fake.mu.Unlock()
	// Close sends the rest at once.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.texts()); n != 10 {
		t.Fatalf("%d lines after Close, want 10", n)
	}
}

// While Seedbed answers 503 or cannot be reached the batch is sent again
// with backoff; the lines arrive once it is back, in order.
func TestLogShipperRetriesUntilSeedbedIsBack(t *testing.T) {
	cases := []struct {
		name string
		down func(fake *fakeSeedbed, srv *httptest.Server)
		up   func(fake *fakeSeedbed, srv *httptest.Server)
	}{
		{"503", func(f *fakeSeedbed, _ *httptest.Server) { f.setFail(http.StatusServiceUnavailable) },
			func(f *fakeSeedbed, _ *httptest.Server) { f.setFail(0) }},
		{"429", func(f *fakeSeedbed, _ *httptest.Server) { f.setFail(http.StatusTooManyRequests) },
			func(f *fakeSeedbed, _ *httptest.Server) { f.setFail(0) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeSeedbed{}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			s := newShipper(t, srv.URL, nil)
			tc.down(fake, srv)
			for i := range 5 {
				if err := s.Append(shipSrc, lines(fmt.Sprintf("line %d", i))); err != nil {
					t.Fatal(err)
				}
				time.Sleep(10 * time.Millisecond)
			}
			// It keeps trying: wait for a third try (a busy machine may
			// take longer than the back-off says).
			var tries int
			for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				fake.mu.Lock()
				tries = fake.tries
				fake.mu.Unlock()
				if tries >= 3 || time.Now().After(deadline) {
					break
				}
			}
			if tries < 3 {
				t.Errorf("%d tries while down, want it to keep trying", tries)
			}
			if n := len(fake.texts()); n != 0 {
				t.Fatalf("%d lines taken while down", n)
			}
			tc.up(fake, srv)
			got := fake.waitLines(t, 5, 2*time.Second)
			if fmt.Sprint(got) != fmt.Sprint([]string{"line 0", "line 1", "line 2", "line 3", "line 4"}) {
				t.Fatalf("lines %q, want line 0 … line 4 in order", got)
			}
			// Seedbed holds the lines before the shipper has read its
			// answer and counted them.
			st := s.Stats()
			for deadline := time.Now().Add(2 * time.Second); st.Sent < 5 && time.Now().Before(deadline); st = s.Stats() {
				time.Sleep(5 * time.Millisecond)
			}
			if st.Sent != 5 || st.Dropped != 0 {
				t.Errorf("stats %+v, want 5 sent and none dropped", st)
			}
		})
	}
}

// Seedbed not listening at all: connection refused is retried too.
func TestLogShipperRetriesARefusedConnection(t *testing.T) {
	fake := &fakeSeedbed{}
	srv := httptest.NewUnstartedServer(fake)
	addr := srv.Listener.Addr().String()
	srv.Listener.Close() // nothing listens: connections are refused
	s := newShipper(t, "http://"+addr+"/runner/logs", nil)
	if err := s.Append(shipSrc, lines("while down")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	srv2 := httptest.NewUnstartedServer(fake)
	ln, err := listenRetry(addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	srv2.Listener = ln
	srv2.Start()
	defer srv2.Close()
	if got := fake.waitLines(t, 1, 3*time.Second); got[0] != "while down" {
		t.Fatalf("lines %q", got)
	}
}

// A full buffer drops its oldest lines, and the next batch says how many.
func TestLogShipperDropsOldestAndSaysSo(t *testing.T) {
	fake := &fakeSeedbed{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	fake.setFail(http.StatusBadGateway)
	s := newShipper(t, srv.URL, func(c *runner.LogShipperConfig) {
		c.BatchBytes = 1 << 10
		c.BufferBytes = 2 << 10
	})
	// The first line goes into the batch in flight, which is kept; the
	// buffer behind it holds about 2 KiB of the 40 lines that follow.
	if err := s.Append(shipSrc, lines("first")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	for i := range 40 {
		if err := s.Append(shipSrc, lines(fmt.Sprintf("line %02d %s", i, strings.Repeat("y", 100)))); err != nil {
			t.Fatal(err)
		}
	}
	dropped := s.Stats().Dropped
	if dropped == 0 || dropped >= 40 {
		t.Fatalf("dropped %d lines, want some but not all of 40", dropped)
	}
	fake.setFail(0)
	got := fake.waitLines(t, 1+1+40-dropped, 2*time.Second)
	if got[0] != "first" {
		t.Errorf("first line %q, want the batch that was in flight", got[0])
	}
	note := fmt.Sprintf("%d earlier lines were dropped", dropped)
	if !strings.HasPrefix(got[1], note) {
		t.Errorf("second line %q, want the note %q…", got[1], note)
	}
	if last := got[len(got)-1]; !strings.HasPrefix(last, "line 39 ") {
		t.Errorf("last line %q, want the newest (line 39)", last)
	}
	if first := got[2]; !strings.HasPrefix(first, fmt.Sprintf("line %02d ", dropped)) {
		t.Errorf("first line after the note %q, want line %02d (the oldest kept)", first, dropped)
	}
}

// A batch Seedbed refuses (a wrong token) is dropped, not sent again.
func TestLogShipperDropsRefusedBatches(t *testing.T) {
	fake := &fakeSeedbed{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	fake.setFail(http.StatusUnauthorized)
	s := newShipper(t, srv.URL, nil)
	if err := s.Append(shipSrc, lines("a", "b")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for s.Stats().Refused != 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	fake.mu.Lock()
	tries := fake.tries
	fake.mu.Unlock()
	if st := s.Stats(); st.Refused != 2 || tries != 1 {
		t.Fatalf("stats %+v after %d tries; want 2 refused in 1 try", st, tries)
	}
}

// Close tries until its context ends and then says what was lost.
func TestLogShipperCloseGivesUpWithItsContext(t *testing.T) {
	fake := &fakeSeedbed{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	fake.setFail(http.StatusServiceUnavailable)
	s := newShipper(t, srv.URL, func(c *runner.LogShipperConfig) { c.FlushEvery = time.Hour })
	if err := s.Append(shipSrc, lines("a", "b", "c")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := s.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "3 lines not sent") {
		t.Fatalf("Close: %v; want it to say 3 lines were not sent", err)
	}
	if err := s.Append(shipSrc, lines("late")); err == nil {
		t.Error("Append after Close succeeded")
	}
}

// The endpoint takes a stage's lines only with that stage's token, and
// refuses what is too large or malformed with a status that says so.
func TestLogSink(t *testing.T) {
	key := bytes.Repeat([]byte("k"), 32)
	tokens, err := runner.NewLogTokens([][]byte{key})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := runner.NewLogTokens([][]byte{bytes.Repeat([]byte("o"), 32)})
	logs, err := fnlog.Open(fnlog.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	sink := &runner.LogSink{Tokens: tokens, Logs: logs, Functions: fakeFunctions{"shop/prod api/hello": 7}}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	prod := targets.StageRef{App: "shop", Stage: "prod"}
	batch := func(edit func(*runner.LogBatch)) []byte {
		b := runner.LogBatch{App: "shop", Stage: "prod", Function: "api/hello", Instance: "hello-abc", Lines: []runner.LogLine{{Time: time.Now(), Stream: "stdout", Text: "hello"}}}
		if edit != nil {
			edit(&b)
		}
		out, _ := json.Marshal(b)
		return out
	}
	cases := []struct {
		name, method, token string
		body                []byte
		code                int
	}{
		{"the stage's token", "POST", tokens.Token(prod), batch(nil), http.StatusNoContent},
		{"no token", "POST", "", batch(nil), http.StatusUnauthorized},
		{"another stage's token", "POST", tokens.Token(targets.StageRef{App: "shop", Stage: "dev"}), batch(nil), http.StatusUnauthorized},
		{"another app's token", "POST", tokens.Token(targets.StageRef{App: "blog", Stage: "prod"}), batch(nil), http.StatusUnauthorized},
		{"a token made with another key", "POST", other.Token(prod), batch(nil), http.StatusUnauthorized},
		{"a queue token's shape", "POST", "sbq1_" + strings.TrimPrefix(tokens.Token(prod), "sbl1_"), batch(nil), http.StatusUnauthorized},
		{"a batch naming another stage", "POST", tokens.Token(prod), batch(func(b *runner.LogBatch) { b.Stage = "dev" }), http.StatusUnauthorized},
		{"too large", "POST", tokens.Token(prod), bytes.Repeat([]byte(" "), runner.MaxLogBody+1), http.StatusRequestEntityTooLarge},
		{"not JSON", "POST", tokens.Token(prod), []byte("hello"), http.StatusBadRequest},
		{"no stage", "POST", tokens.Token(prod), batch(func(b *runner.LogBatch) { b.Stage = "" }), http.StatusBadRequest},
		{"a line over the limit", "POST", tokens.Token(prod), batch(func(b *runner.LogBatch) { b.Lines[0].Text = strings.Repeat("z", runner.MaxLogLine+1) }), http.StatusBadRequest},
		{"an unknown stream", "POST", tokens.Token(prod), batch(func(b *runner.LogBatch) { b.Lines[0].Stream = "stdin" }), http.StatusBadRequest},
		{"no instance", "POST", tokens.Token(prod), batch(func(b *runner.LogBatch) { b.Instance = "" }), http.StatusBadRequest},
		{"a function the stage does not run", "POST", tokens.Token(prod), batch(func(b *runner.LogBatch) { b.Function = "api/other" }), http.StatusBadRequest},
		{"a function name that is not service/name", "POST", tokens.Token(prod), batch(func(b *runner.LogBatch) { b.Function = "hello" }), http.StatusBadRequest},
		{"GET", "GET", tokens.Token(prod), nil, http.StatusMethodNotAllowed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL, bytes.NewReader(tc.body))
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.code {
				var msg bytes.Buffer
				_, _ = msg.ReadFrom(resp.Body)
				t.Fatalf("%d %s, want %d", resp.StatusCode, msg.String(), tc.code)
			}
		})
	}
	// Only the one accepted batch is stored, with its release; a line
	// from a clock ahead is moved back to now.
	future := batch(func(b *runner.LogBatch) {
		b.Lines[0].Time = time.Now().Add(time.Hour)
		b.Lines[0].Text = "from the future"
	})
	req, _ := http.NewRequest("POST", srv.URL, bytes.NewReader(future))
	req.Header.Set("Authorization", "Bearer "+tokens.Token(prod))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("post: %v %v", resp, err)
	}
	resp.Body.Close()
	res, err := logs.Query(context.Background(), fnlog.Query{App: "shop", Stage: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Lines) != 2 || res.Lines[0].Text != "hello" || res.Lines[0].Release != 7 || res.Lines[0].Instance != "hello-abc" || res.Lines[0].Function != "api/hello" {
		t.Fatalf("stored %+v", res.Lines)
	}
	if res.Lines[1].Time.After(time.Now()) {
		t.Errorf("a line from the future was stored at %s", res.Lines[1].Time)
	}
	if dev, _ := logs.Query(context.Background(), fnlog.Query{App: "shop", Stage: "dev"}); len(dev.Lines) != 0 {
		t.Errorf("stage dev got lines: %+v", dev.Lines)
	}
}

// fakeFunctions runs the functions it lists as "app/stage service/name"
// with their release.
type fakeFunctions map[string]uint

func (f fakeFunctions) FunctionRelease(_ context.Context, ref targets.StageRef, function, _ string) (uint, error) {
	r, ok := f[ref.String()+" "+function]
	if !ok {
		return 0, runner.ErrUnknownFunction
	}
	return r, nil
}

// listenRetry listens on addr again, which the system may hold briefly.
func listenRetry(addr string) (net.Listener, error) {
	var err error
	for range 50 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			return ln, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, err
}
