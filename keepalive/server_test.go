package keepalive

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// servedBy is the header the test handler names its server in: the loop
// or net/http (directly, or after a hand-over).
const servedBy = "X-Served-By"

// testHandler answers by path, covering what a handler may do with its
// writer; every answer names the server that ran it.
func testHandler(w http.ResponseWriter, r *http.Request) {
	by := "net/http"
	if _, ok := w.(*response); ok {
		by = "loop"
	}
	h := w.Header()
	h.Set(servedBy, by)
	switch r.URL.Path {
	case "/plain":
		io.WriteString(w, "hello\n")
	case "/html":
		io.WriteString(w, "<html><body>hi</body></html>")
	case "/json":
		h.Set("Content-Type", "application/json")
		io.WriteString(w, `{"a":1}`)
	case "/empty":
	case "/big":
		w.Write(bytes.Repeat([]byte("0123456789"), 1000))
	case "/manysmall":
		for range 500 {
			io.WriteString(w, "0123456789")
		}
	case "/length":
		h.Set("Content-Length", "5")
		io.WriteString(w, "exact")
	case "/short":
		h.Set("Content-Length", "10")
		io.WriteString(w, "short")
	case "/badlength":
		h.Set("Content-Length", "x")
		io.WriteString(w, "body")
	case "/stream":
		io.WriteString(w, "one\n")
		w.(http.Flusher).Flush()
		io.WriteString(w, "two\n")
	case "/flushfirst":
		w.(http.Flusher).Flush()
	case "/trailer":
		h.Set("Trailer", "X-Sum, X-Late")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "body")
		h.Set("X-Sum", "42")
		h.Set(http.TrailerPrefix+"X-Extra", "yes")
	case "/after":
		w.WriteHeader(http.StatusAccepted)
		h.Set("X-Too-Late", "1") // not in the head: set after WriteHeader
		io.WriteString(w, "ok")
	case "/204":
		h.Set("Content-Length", "3")
		h.Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusNoContent)
		if _, err := io.WriteString(w, "abc"); !errors.Is(err, http.ErrBodyNotAllowed) {
			panic(fmt.Sprintf("write to a 204: %v", err))
		}
	case "/304":
		h.Set("Content-Type", "text/plain")
		h.Set("Etag", `"x"`)
		w.WriteHeader(http.StatusNotModified)
	case "/103":
		h.Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		io.WriteString(w, "after hints")
	case "/599":
		w.WriteHeader(599)
		io.WriteString(w, "odd")
	case "/gzip":
		h.Set("Content-Encoding", "gzip")
		io.WriteString(w, "not really gzip")
	case "/identity":
		h.Set("Transfer-Encoding", "identity")
		io.WriteString(w, "until close")
	case "/close":
		h.Set("Connection", "close")
		io.WriteString(w, "bye")
	case "/echo":
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%s %s %s host=%s len=%d body=%q x=%q", r.Method, r.RequestURI, r.Proto, r.Host, r.ContentLength, b, r.Header.Values("X-A"))
	case "/noread":
		io.WriteString(w, "ignored the body")
	case "/halfread":
		var b [3]byte
		io.ReadFull(r.Body, b[:])
		r.Body.Close()
		fmt.Fprintf(w, "read %q", b)
	case "/abort":
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	default:
		http.NotFound(w, r)
	}
}

// pair is the same handler behind the loop and behind net/http alone.
type pair struct{ loop, std string }

func startPair(t testing.TB, h http.Handler) pair {
	t.Helper()
	listen := func() net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
	lnLoop, lnStd := listen(), listen()
	loop := New(&http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second, ErrorLog: quietLog()})
	std := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second, ErrorLog: quietLog()}
	go loop.Serve(lnLoop)
	go std.Serve(lnStd)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := loop.Shutdown(ctx); err != nil {
			t.Errorf("shut the loop down: %v", err)
		}
		std.Shutdown(ctx)
	})
	return pair{loop: lnLoop.Addr().String(), std: lnStd.Addr().String()}
}

// answer is one response as a client reads it.
type answer struct {
	Status   int
	Header   http.Header
	Body     string // shortened when long
	Trailer  http.Header
	Chunked  bool
	BodyErr  string
	ServedBy string
}

// exchange sends raw on a new connection and reads up to n answers
// (fewer when the server closes it); closed says whether the server
// closed the connection after them.
func exchange(t testing.TB, addr string, raw string, method string, n int, halfClose bool) (answers []answer, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	if halfClose {
		c.(*net.TCPConn).CloseWrite()
	}
	br := bufio.NewReader(c)
	for len(answers) < n {
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			return answers, true
		}
		b, err := io.ReadAll(resp.Body)
		a := answer{Status: resp.StatusCode, Header: resp.Header, Body: shorten(b), Trailer: resp.Trailer,
			Chunked: slices.Contains(resp.TransferEncoding, "chunked"), ServedBy: resp.Header.Get(servedBy)}
		if err != nil {
			a.BodyErr = "cut"
		}
		a.Header.Del("Date")
		a.Header.Del(servedBy)
		answers = append(answers, a)
		if err != nil {
			break
		}
	}
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err = br.ReadByte()
	var ne net.Error
	return answers, err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// TestLoopAnswersAsNetHTTP sends the same bytes to the loop and to
// net/http's server with the same handler: the answers must read the same
// (status, fields but Date, body, trailers, framing, whether the
// connection stays open), and the loop must have served what it claims
// and handed over the rest.
func TestLoopAnswersAsNetHTTP(t *testing.T) {
	p := startPair(t, http.HandlerFunc(testHandler))
	get := func(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: example.com\r\n\r\n" }
	long := strings.Repeat("a", 5000)
	cases := []struct {
		name, raw string
		method    string
		served    []string // X-Served-By of each answer from the loop's side
		halfClose bool     // the client closes its side after sending
	}{
		{"plain", get("/plain"), "GET", []string{"loop"}, false},
		{"html is sniffed", get("/html"), "GET", []string{"loop"}, false},
		{"json", get("/json"), "GET", []string{"loop"}, false},
		{"empty", get("/empty"), "GET", []string{"loop"}, false},
		{"big is chunked", get("/big"), "GET", []string{"loop"}, false},
		{"many small writes", get("/manysmall"), "GET", []string{"loop"}, false},
		{"declared length", get("/length"), "GET", []string{"loop"}, false},
		{"body shorter than declared", get("/short"), "GET", []string{"loop"}, false},
		{"invalid declared length", get("/badlength"), "GET", []string{"loop"}, false},
		{"stream", get("/stream"), "GET", []string{"loop"}, false},
		{"flush before writing", get("/flushfirst"), "GET", []string{"loop"}, false},
		{"trailers", get("/trailer"), "GET", []string{"loop"}, false},
		{"header changed after WriteHeader", get("/after"), "GET", []string{"loop"}, false},
		{"204", get("/204"), "GET", []string{"loop"}, false},
		{"304", get("/304"), "GET", []string{"loop"}, false},
		{"103 then 200", get("/103"), "GET", []string{"loop", "loop"}, false},
		{"unknown status", get("/599"), "GET", []string{"loop"}, false},
		{"content encoding is not sniffed", get("/gzip"), "GET", []string{"loop"}, false},
		{"identity transfer encoding", get("/identity"), "GET", []string{"loop"}, false},
		{"handler closes", get("/close") + get("/plain"), "GET", []string{"loop"}, false},
		{"not found", get("/nothing"), "GET", []string{"loop"}, false},
		{"aborted", get("/abort"), "GET", []string{"loop"}, false},
		{"keep-alive", get("/plain") + get("/json") + get("/length"), "GET", []string{"loop", "loop", "loop"}, false},
		{"client closes", "GET /plain HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" + get("/json"), "GET", []string{"loop"}, false},
		{"post", "POST /echo?q=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nX-A: 1\r\nX-A: 2\r\n\r\nhello" + get("/plain"), "POST", []string{"loop", "loop"}, false},
		{"put empty", "PUT /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", "PUT", []string{"loop"}, false},
		{"unread body", "POST /noread HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world" + get("/plain"), "POST", []string{"loop", "loop"}, false},
		{"half-read body", "POST /halfread HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world" + get("/plain"), "POST", []string{"loop", "loop"}, false},
		{"line end after a post", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi\r\n" + get("/plain"), "POST", []string{"loop", "loop"}, false},
		{"bare LF", "GET /echo HTTP/1.1\nHost: a\nX-A: b\n\n", "GET", []string{"loop"}, false},
		{"host with port", "GET /echo HTTP/1.1\r\nHost: a:8080\r\n\r\n", "GET", []string{"loop"}, false},
		{"escaped path and query", "GET /echo/%2e%2E/x?a=%20b&c HTTP/1.1\r\nHost: a\r\n\r\n", "GET", []string{"loop"}, false},

		// Handed to net/http.
		{"head", "HEAD /plain HTTP/1.1\r\nHost: a\r\n\r\n", "HEAD", []string{"net/http"}, false},
		{"http/1.0", "GET /plain HTTP/1.0\r\n\r\n", "GET", []string{"net/http"}, false},
		{"upgrade", "GET /plain HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", "GET", []string{"net/http"}, false},
		{"chunked upload", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" + get("/plain"), "POST", []string{"net/http", "net/http"}, false},
		{"expect", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi", "POST", []string{"", "net/http"}, false},
		{"large body", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 70000\r\n\r\n" + strings.Repeat("b", 70000), "POST", []string{"net/http"}, false},
		{"large head", "GET /echo HTTP/1.1\r\nHost: a\r\nX-A: " + long + "\r\n\r\n", "GET", []string{"net/http"}, false},
		{"absolute form", "GET http://a/echo HTTP/1.1\r\nHost: a\r\n\r\n", "GET", []string{"net/http"}, false},
		{"options star", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "OPTIONS", []string{""}, false},
		{"after a loop request", get("/plain") + "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n" + get("/json"), "GET", []string{"loop", "net/http", "net/http"}, false},

		// Refused by net/http, after a hand-over.
		{"two hosts", "GET /plain HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", "GET", []string{""}, false},
		{"no host", "GET /plain HTTP/1.1\r\n\r\n", "GET", []string{""}, false},
		{"bad host", "GET /plain HTTP/1.1\r\nHost: a b\r\n\r\n", "GET", []string{""}, false},
		{"bad field name", "GET /plain HTTP/1.1\r\nHost: a\r\nX A: 1\r\n\r\n", "GET", []string{""}, false},
		{"bad field value", "GET /plain HTTP/1.1\r\nHost: a\r\nX-A: a\x01b\r\n\r\n", "GET", []string{""}, false},
		{"two lengths", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "POST", []string{""}, false},
		{"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", "GET", []string{""}, false},
		{"http/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "GET", []string{"net/http"}, false},
		{"leading line end", "\r\n" + get("/plain"), "GET", []string{""}, false},
		{"head cut short", "GET /plain HTTP/1.1\r\nHost: a\r\nX-A:", "GET", []string{""}, true},
		{"all sent, then half-closed", get("/plain"), "GET", []string{"loop"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := max(len(tc.served), 1)
			gotLoop, closedLoop := exchange(t, p.loop, tc.raw, tc.method, n, tc.halfClose)
			gotStd, closedStd := exchange(t, p.std, tc.raw, tc.method, n, tc.halfClose)
			var served []string
			for i := range gotLoop {
				served = append(served, gotLoop[i].ServedBy)
				gotLoop[i].ServedBy = ""
			}
			for i := range gotStd {
				gotStd[i].ServedBy = ""
			}
			if !slices.Equal(served, tc.served) {
				t.Errorf("served by %q, want %q", served, tc.served)
			}
			if fmt.Sprint(gotLoop) != fmt.Sprint(gotStd) {
				t.Errorf("the loop answered\n%+v\nnet/http\n%+v", gotLoop, gotStd)
			}
			if closedLoop != closedStd {
				t.Errorf("connection closed: loop %v, net/http %v", closedLoop, closedStd)
			}
		})
	}
}

// TestShutdown: Shutdown closes idle connections, lets a request under
// way finish (closing its connection after), stops accepting, and makes
// Serve return http.ErrServerClosed; connections handed to net/http are
// shut down with it.
func TestShutdown(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		io.WriteString(w, "done")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(&http.Server{Handler: h, ErrorLog: quietLog()})
	s.newConnGrace = 300 * time.Millisecond
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	addr := ln.Addr().String()

	idle := dialT(t, addr)
	io.WriteString(idle, "GET /fast HTTP/1.1\r\nHost: a\r\n\r\n")
	idleR := bufio.NewReader(idle)
	if resp, err := http.ReadResponse(idleR, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("first request: %v", err)
	} else {
		io.ReadAll(resp.Body)
	}
	handed := dialT(t, addr) // a HEAD: net/http serves this connection
	io.WriteString(handed, "HEAD /fast HTTP/1.1\r\nHost: a\r\n\r\n")
	handedR := bufio.NewReader(handed)
	if resp, err := http.ReadResponse(handedR, &http.Request{Method: "HEAD"}); err != nil || resp.StatusCode != 200 {
		t.Fatalf("HEAD: %v", err)
	}
	busy := dialT(t, addr)
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	<-entered
	// Connections accepted before Shutdown whose clients send later: the
	// loop serves one, net/http the other (a HEAD), the third never sends.
	fresh, freshHanded, silent := dialT(t, addr), dialT(t, addr), dialT(t, addr)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		s.mu.Lock()
		n := len(s.conns) // idle, busy and the three
		s.mu.Unlock()
		if n == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections tracked, want 5", n)
		}
	}

	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	for _, c := range []struct {
		name string
		r    *bufio.Reader
	}{{"idle", idleR}, {"handed over", handedR}} {
		if _, err := c.r.ReadByte(); err == nil {
			t.Errorf("the %s connection was not closed", c.name)
		}
	}
	for _, c := range []struct {
		name   string
		conn   net.Conn
		method string
	}{{"new", fresh, "GET"}, {"new, handed over", freshHanded, "HEAD"}} {
		c.conn.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c.conn, c.method+" /fast HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c.conn), &http.Request{Method: c.method})
		if err != nil {
			t.Errorf("the %s connection's first request, sent during Shutdown: %v", c.name, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !resp.Close {
			t.Errorf("the %s connection's first request, sent during Shutdown: %d, Connection: close %v; want 200 and close", c.name, resp.StatusCode, resp.Close)
		}
	}
	silent.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a new connection that sent nothing was not closed after the grace: %v", err)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) with a request under way", err)
	case <-time.After(100 * time.Millisecond):
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.SetDeadline(time.Now().Add(time.Second))
		io.WriteString(c, "GET /fast HTTP/1.1\r\nHost: a\r\n\r\n")
		if _, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
			t.Error("a new connection was served after Shutdown")
		}
		c.Close()
	}
	close(release)
	busyR := bufio.NewReader(busy)
	resp, err := http.ReadResponse(busyR, nil)
	if err != nil {
		t.Fatalf("the request under way: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "done" || !resp.Close {
		t.Errorf("the request under way got %q, Connection: close %v; want done and close", b, resp.Close)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
	}
}

// TestIdleAndHeaderTimeouts: a connection that sends nothing for
// IdleTimeout, or takes longer than ReadHeaderTimeout over a head, is
// closed.
func TestIdleAndHeaderTimeouts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(&http.Server{Handler: http.HandlerFunc(testHandler), ReadHeaderTimeout: 200 * time.Millisecond, IdleTimeout: 300 * time.Millisecond, ErrorLog: quietLog()})
	go s.Serve(ln)
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	for _, tc := range []struct{ name, send string }{
		{"idle", ""},
		{"slow head", "GET /plain HTTP/1.1\r\nHost: a\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialT(t, ln.Addr().String())
			io.WriteString(c, tc.send)
			c.SetReadDeadline(time.Now().Add(3 * time.Second))
			began := time.Now()
			if _, err := c.Read(make([]byte, 1)); err == nil {
				t.Fatal("read an answer; want the connection closed")
			} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the server kept the connection open past its timeout")
			}
			if took := time.Since(began); took > 2*time.Second {
				t.Errorf("closed after %v", took)
			}
		})
	}
}

// TestHandedOverHeadKeepsItsDeadline: a head too large for the loop goes
// to net/http, which must not start ReadHeaderTimeout anew: a client that
// dribbles its head is cut off when the head's first byte is that timeout
// old, as without the loop.
func TestHandedOverHeadKeepsItsDeadline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const timeout = time.Second
	s := New(&http.Server{Handler: http.HandlerFunc(testHandler), ReadHeaderTimeout: timeout, ErrorLog: quietLog()})
	go s.Serve(ln)
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	c := dialT(t, ln.Addr().String())
	began := time.Now()
	io.WriteString(c, "GET /plain HTTP/1.1\r\nHost: a\r\n")
	time.Sleep(timeout * 8 / 10)
	// Larger than the loop's buffer, and no end of head: net/http's now.
	io.WriteString(c, "X-Big: "+strings.Repeat("a", 5<<10)+"\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read an answer; want the connection closed")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server kept the connection open")
	}
	// Started anew, the timeout would close it at about 1.8 s.
	if took := time.Since(began); took > timeout*3/2 {
		t.Errorf("closed %v after the head began; want about %v", took, timeout)
	}
}

func dialT(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }

// shorten keeps a long body readable in a failure message.
func shorten(b []byte) string {
	if len(b) <= 200 {
		return string(b)
	}
	return fmt.Sprintf("%s… (%d bytes, sum %d)", b[:100], len(b), crc32.ChecksumIEEE(b))
}

// TestClientGoneCancels: a request that runs long has its context
// cancelled when its client closes the connection, by the loop as by
// net/http; a client that sends its next request while a long one runs
// (the watch reads its first byte) gets both answers in order.
func TestClientGoneCancels(t *testing.T) {
	cancelled := make(chan string, 4)
	wait := map[string]time.Duration{"/wait": 5 * time.Second, "/first": time.Second, "/second": 0}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		select {
		case <-r.Context().Done():
			by := "net/http"
			if _, ok := w.(*response); ok {
				by = "loop"
			}
			cancelled <- by
		case <-time.After(wait[r.URL.Path]):
			fmt.Fprintf(w, "waited for %s", r.URL.Path)
		}
	})
	p := startPair(t, h)
	for _, side := range []struct{ name, addr string }{{"loop", p.loop}, {"net/http", p.std}} {
		for _, req := range []string{
			"GET /wait HTTP/1.1\r\nHost: a\r\n\r\n",
			"POST /wait HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody",
		} {
			c := dialT(t, side.addr)
			io.WriteString(c, req)
			time.Sleep(200 * time.Millisecond)
			c.Close()
			select {
			case by := <-cancelled:
				if by != side.name {
					t.Errorf("cancelled on %s, want %s", by, side.name)
				}
			case <-time.After(4 * time.Second):
				t.Errorf("%s: the request of a client that went away was not cancelled (%q)", side.name, req[:4])
			}
		}
		c := dialT(t, side.addr)
		io.WriteString(c, "GET /first HTTP/1.1\r\nHost: a\r\n\r\n")
		time.Sleep(500 * time.Millisecond) // the watch runs by now
		io.WriteString(c, "GET /second HTTP/1.1\r\nHost: a\r\n\r\n")
		br := bufio.NewReader(c)
		for _, want := range []string{"waited for /first", "waited for /second"} {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("%s: %v", side.name, err)
			}
			b, _ := io.ReadAll(resp.Body)
			if string(b) != want {
				t.Errorf("%s: got %q, want %q", side.name, b, want)
			}
		}
	}
}

// FuzzLoopAnswersAsNetHTTP: whatever bytes a client sends (and then closes
// its side), the loop and net/http's server answer them alike, as
// TestLoopAnswersAsNetHTTP checks for chosen exchanges.
func FuzzLoopAnswersAsNetHTTP(f *testing.F) {
	for _, seed := range []string{
		"GET /plain HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /echo?x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /json HTTP/1.1\r\nHost: b\r\n\r\n",
		"GET /trailer HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET /plain HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
		"GET /stream HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n0\n\n",
		"HEAD /big HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /halfread HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345",
	} {
		f.Add([]byte(seed))
	}
	p := startPair(f, http.HandlerFunc(testHandler))
	f.Fuzz(func(t *testing.T, raw []byte) {
		method := "GET"
		if m, _, ok := strings.Cut(string(raw), " "); ok && m == "HEAD" {
			method = "HEAD"
		}
		gotLoop, closedLoop := exchange(t, p.loop, string(raw), method, 4, true)
		gotStd, closedStd := exchange(t, p.std, string(raw), method, 4, true)
		for i := range gotLoop {
			gotLoop[i].ServedBy = ""
		}
		for i := range gotStd {
			gotStd[i].ServedBy = ""
		}
		if fmt.Sprint(gotLoop) != fmt.Sprint(gotStd) || closedLoop != closedStd {
			t.Fatalf("for %q the loop answered\n%+v (closed %v)\nnet/http\n%+v (closed %v)", raw, gotLoop, closedLoop, gotStd, closedStd)
		}
	})
}
