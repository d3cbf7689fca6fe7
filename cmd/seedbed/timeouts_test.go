package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startTimeoutServer serves h through newHTTPServer with short timeouts.
func startTimeoutServer(t *testing.T, h http.Handler) string {
	t.Helper()
	to := httpTimeouts{Header: 500 * time.Millisecond, Body: time.Second, Stall: 500 * time.Millisecond, Idle: time.Second}
	srv := newHTTPServer(h, to, isGitRequest)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// closedWithin sends parts with pause between them and tells how long the
// server kept the connection open (the read side seeing EOF or a reset),
// or fails after limit.
func closedWithin(t *testing.T, addr string, parts []string, pause, limit time.Duration) time.Duration {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		_, _ = io.Copy(io.Discard, conn)
	}()
	for _, p := range parts {
		select {
		case <-closed:
			return time.Since(start)
		case <-time.After(pause):
		}
		_, _ = conn.Write([]byte(p))
	}
	select {
	case <-closed:
		return time.Since(start)
	case <-time.After(limit):
		t.Fatalf("the server kept the connection open for %s", limit)
		return 0
	}
}

// Slow clients are cut off (issue 10: "slow request bodies and idle
// keep-alive connections never time out"), while live streams and git
// pushes that keep moving are not.
func TestHTTPServerTimeouts(t *testing.T) {
	addr := startTimeoutServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/stream":
			for i := range 8 { // 2.4 s: past every timeout
				if _, err := fmt.Fprintf(w, "tick %d\n", i); err != nil {
					return
				}
				http.NewResponseController(w).Flush() //nolint:errcheck
				select {
				case <-r.Context().Done():
					return
				case <-time.After(300 * time.Millisecond):
				}
			}
			fmt.Fprintln(w, "done")
		default:
			n, err := io.Copy(io.Discard, r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusRequestTimeout)
				return
			}
			fmt.Fprintf(w, "read %d\n", n)
		}
	}))
	trickle := func(n int) []string { return strings.Split(strings.Repeat("x", n), "") }

	t.Run("slowloris headers", func(t *testing.T) {
		parts := append([]string{"GET / HTTP/1.1\r\nHost: x\r\n"}, strings.Split(strings.Repeat("X-Slow: 1\r\n", 40), "\n")...)
		if d := closedWithin(t, addr, parts, 100*time.Millisecond, 3*time.Second); d > 1500*time.Millisecond {
			t.Errorf("closed after %s, want about the 500ms header timeout", d)
		}
	})
	t.Run("stalled body", func(t *testing.T) {
		parts := []string{"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc"}
		if d := closedWithin(t, addr, parts, 0, 4*time.Second); d > 2500*time.Millisecond {
			t.Errorf("closed after %s, want about the 1s body timeout", d)
		}
	})
	t.Run("trickled body", func(t *testing.T) {
		parts := append([]string{"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"}, trickle(100)...)
		if d := closedWithin(t, addr, parts, 100*time.Millisecond, 6*time.Second); d > 2500*time.Millisecond {
			t.Errorf("closed after %s, want about the 1s body timeout though bytes kept coming", d)
		}
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		parts := []string{"GET / HTTP/1.1\r\nHost: x\r\n\r\n"}
		if d := closedWithin(t, addr, parts, 0, 4*time.Second); d > 2500*time.Millisecond {
			t.Errorf("idle connection closed after %s, want about the 1s idle timeout", d)
		}
	})
	t.Run("git push that keeps moving", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprint(conn, "POST /git/shop.git/git-receive-pack HTTP/1.1\r\nHost: x\r\nContent-Length: 15\r\n\r\n")
		for range 15 { // 3 s in all, 200 ms apart: past Body, within Stall each time
			time.Sleep(200 * time.Millisecond)
			if _, err := conn.Write([]byte("x")); err != nil {
				t.Fatalf("the server cut a moving push: %v", err)
			}
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if strings.TrimSpace(string(b)) != "read 15" {
			t.Errorf("push answered %d %q, want read 15", resp.StatusCode, b)
		}
	})
	t.Run("stalled git push", func(t *testing.T) {
		parts := []string{"POST /git/shop.git/git-receive-pack HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc"}
		if d := closedWithin(t, addr, parts, 0, 4*time.Second); d > 1500*time.Millisecond {
			t.Errorf("closed after %s, want about the 500ms stall timeout", d)
		}
	})
	t.Run("live stream", func(t *testing.T) {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			var body io.Reader
			if method == http.MethodPost {
				body = strings.NewReader("a=1") // a body read at once lifts its deadline
			}
			req, _ := http.NewRequest(method, "http://"+addr+"/stream", body)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil && !errors.Is(err, io.EOF) {
				t.Fatalf("%s stream: %v", method, err)
			}
			if !strings.HasSuffix(string(b), "done\n") {
				t.Errorf("%s stream cut short: %q", method, b)
			}
		}
	})
}
