package local

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/seedbed/seedbed/targets"
)

// idleUpstream counts the kept-alive connections the instances of a
// function hold for the lean path.
func idleUpstream(t *testing.T, b *bundle, ref targets.StageRef, key string) int {
	t.Helper()
	st, err := b.target.stage(ref, false)
	if err != nil || st == nil {
		t.Fatalf("stage %s: %v", ref, err)
	}
	live := st.live.Load()
	if live == nil || (*live)[key] == nil {
		t.Fatalf("no pool of %s in %s", key, ref)
	}
	p := (*live)[key]
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, in := range p.insts {
		in.conns.mu.Lock()
		n += len(in.conns.idle)
		in.conns.mu.Unlock()
	}
	return n
}

// The lean path passes what a function should see and nothing of the
// connection either side: headers named in Connection stay on their hop,
// the forwarding headers are the gateway's, trailers arrive, and a 103
// before the answer does not become the answer.
func TestLeanPathHeaders(t *testing.T) {
	b := setup(t)
	b.apply(t, shopDev, goFn("hello", "v1", nil, "GET /hop"))

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, b.server.URL+"/shop/dev/hop", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Connection", "X-Client-Hop")
	req.Header.Set("X-Client-Hop", "of the client's connection only")
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	req.Header.Set("Proxy-Authorization", "Basic c2VjcmV0")
	req.Header.Set("X-Kept", "yes")
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Host    string              `json:"host"`
		Headers map[string][]string `json:"headers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200 (the 103 before it is no answer)", resp.StatusCode)
	}
	for _, k := range []string{"X-Client-Hop", "Connection", "Proxy-Authorization", "Te"} {
		if v, ok := got.Headers[k]; ok {
			t.Errorf("the function got %s: %q; it belongs to the client's connection", k, v)
		}
	}
	if v := got.Headers["X-Forwarded-For"]; len(v) != 1 || v[0] != "127.0.0.1" {
		t.Errorf("X-Forwarded-For %q, want the gateway's own: 127.0.0.1", v)
	}
	if v := got.Headers["X-Kept"]; len(v) != 1 || v[0] != "yes" {
		t.Errorf("X-Kept %q, want it passed on", v)
	}
	if u := strings.TrimPrefix(b.server.URL, "http://"); got.Host != u {
		t.Errorf("the function saw host %q, want the public %q", got.Host, u)
	}
	for _, k := range []string{"X-Hop-Secret", "Keep-Alive"} {
		if v := resp.Header.Get(k); v != "" {
			t.Errorf("the client got %s: %q from the function's connection", k, v)
		}
	}
	if v := resp.Trailer.Get("X-Checksum"); v != "c0ffee" {
		t.Errorf("trailer X-Checksum %q, want c0ffee", v)
	}
	if n := idleUpstream(t, b, shopDev, "api/hello"); n != 1 {
		t.Errorf("%d kept-alive connections to the function, want the lean path's 1", n)
	}
}

// A connection the function closed while it was idle (Node closes them
// after 5 s) is noticed and replaced: no request fails for it, with a
// body or without.
func TestLeanPathReplacesClosedConnections(t *testing.T) {
	b := setup(t)
	b.apply(t, shopDev, goFn("hello", "v1", map[string]string{"IDLE_TIMEOUT": "100ms"}, "GET /", "POST /size"))
	post := func(body string) result {
		t.Helper()
		resp, err := b.client.Post(b.server.URL+"/shop/dev/size", "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return result{status: resp.StatusCode, body: string(got)}
	}
	// Rounds take turns at which request meets the closed connection: a
	// POST may not be sent twice, so it must never be given one.
	for round := range 4 {
		if round%2 == 0 {
			wantStatus(t, b.get(t, "/shop/dev/"), http.StatusOK)
		}
		if res := post(strings.Repeat("x", 5000)); res.status != http.StatusOK || strings.TrimSpace(res.body) != "5000 bytes" {
			t.Fatalf("round %d: POST answered %d %q, want 200 and the body's 5000 bytes", round, res.status, res.body)
		}
		if round%2 == 1 {
			wantStatus(t, b.get(t, "/shop/dev/"), http.StatusOK)
		}
		if n := idleUpstream(t, b, shopDev, "api/hello"); n != 1 {
			t.Errorf("round %d: %d kept-alive connections, want 1", round, n)
		}
		time.Sleep(300 * time.Millisecond) // the function closes the idle one
	}
}

// A function that breaks off an answer of announced length leaves the
// client with an error, never a short answer it could take for whole.
func TestLeanPathBrokenAnswer(t *testing.T) {
	b := setup(t)
	b.apply(t, shopDev, goFn("hello", "v1", nil, "GET /cut"))
	// Either the head never arrives (the 10 bytes were still in the
	// gateway's buffer) or the body breaks: both are errors.
	resp, err := b.client.Get(b.server.URL + "/shop/dev/cut")
	if err == nil {
		body, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		if rerr == nil {
			t.Fatalf("read %q as a whole answer; want the request to fail", body)
		}
	}
	if !strings.Contains(b.logs.String(), "answer broken off") {
		t.Errorf("the log does not say the answer was broken off:\n%s", b.logs)
	}
	if n := idleUpstream(t, b, shopDev, "api/hello"); n != 0 {
		t.Errorf("%d connections kept after a broken answer, want none", n)
	}
}

// Requests the lean path leaves to ReverseProxy.
func TestLeanEligible(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(r *http.Request)
		want   bool
	}{
		{"a GET", func(*http.Request) {}, true},
		{"a small POST", func(r *http.Request) { r.Method, r.ContentLength = http.MethodPost, 1000 }, true},
		{"a body at the limit", func(r *http.Request) { r.ContentLength = leanBodyMax }, true},
		{"a body over the limit", func(r *http.Request) { r.ContentLength = leanBodyMax + 1 }, false},
		{"a chunked body", func(r *http.Request) { r.ContentLength, r.TransferEncoding = -1, []string{"chunked"} }, false},
		{"a WebSocket", func(r *http.Request) {
			r.Header.Set("Connection", "keep-alive, Upgrade")
			r.Header.Set("Upgrade", "websocket")
		}, false},
		{"an upgrade in Connection alone", func(r *http.Request) { r.Header.Set("Connection", "upgrade") }, false},
		{"100-continue", func(r *http.Request) {
			r.ContentLength = 10
			r.Header.Set("Expect", "100-continue")
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := http.NewRequest(http.MethodGet, "http://localhost/shop/dev/", nil)
			if err != nil {
				t.Fatal(err)
			}
			tc.mutate(r)
			if got := leanEligible(r); got != tc.want {
				t.Errorf("leanEligible = %v, want %v", got, tc.want)
			}
		})
	}
}

// The pool of idle connections gives out only live ones to the right
// address, and keeps none once closed.
func TestUpstreamConns(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() *upstreamConn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return newUpstreamConn(c, ln.Addr().String())
	}
	var u upstreamConns
	live, dead := dial(), dial()
	for range 2 {
		if c := <-accepted; c.RemoteAddr().String() == dead.LocalAddr().String() {
			c.Close() // its process closed it while it was idle
		} else {
			defer c.Close()
		}
	}
	u.put(live)
	u.put(dead) // last in: tried first
	time.Sleep(50 * time.Millisecond)
	if got := u.get(ln.Addr().String()); got != live {
		t.Fatalf("got %v, want the live connection", got)
	}
	if u.get(ln.Addr().String()) != nil {
		t.Error("a second connection; the closed one must be dropped")
	}
	u.put(live)
	if u.get("127.0.0.1:1") != nil {
		t.Error("a connection to another address")
	}
	u.put(dial())
	u.close()
	if u.get(ln.Addr().String()) != nil {
		t.Error("a connection after close")
	}
	u.put(dial())
	if n := len(u.idle); n != 0 {
		t.Errorf("%d idle after close, want none kept", n)
	}
}

// An invocation's excerpt waits for the lines its function printed just
// before it answered: settle returns once they are in the ring, however
// late the reader gets to them.
func TestSettleWaitsForPrintedLines(t *testing.T) {
	in := &instance{t: &Target{}, out: &ringBuffer{}, log: slog.New(slog.DiscardHandler)}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); in.capture(r, "stdout") }()
	for i := range 50 {
		line := fmt.Sprintf("line %d", i)
		if _, err := fmt.Fprintln(w, line); err != nil {
			t.Fatal(err)
		}
		in.out.settle(time.Second)
		if got := in.out.last(); len(got) == 0 || got[len(got)-1] != line {
			t.Fatalf("after settle the ring ends %q, want %q", got, line)
		}
	}
	w.Close()
	<-done
	if !in.out.caughtUp() || len(in.out.pipes) != 0 {
		t.Errorf("a pipe read to its end is still watched: %d", len(in.out.pipes))
	}
}

// Once a POST's body is in, the function's timeout runs, not the
// upload's idle clock: no answer in time is a 504.
func TestLeanPathTimeoutAfterBody(t *testing.T) {
	b := setup(t)
	fn := goFn("hello", "v1", nil, "POST /sleep")
	fn.Timeout, fn.IdleTimeout = 300*time.Millisecond, 5*time.Second
	b.apply(t, shopDev, fn)
	began := time.Now()
	resp, err := b.client.Post(b.server.URL+"/shop/dev/sleep?d=2s", "text/plain", strings.NewReader("a body"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(string(body), "did not answer within 300ms") {
		t.Errorf("status %d body %q after %s, want 504 after 300ms", resp.StatusCode, body, time.Since(began))
	}
}
