// Package keepalive serves the gateway's plain HTTP/1.1 requests with a
// loop of its own and hands every connection that carries anything else
// to net/http's server.
//
// Most requests a function gets are plain: a GET or a small POST on a
// kept-alive connection. net/http's server spends, for each of them, a
// goroutine that reads ahead on the connection (to notice a client that
// goes away), a context, a response buffered twice and the wake-ups
// between them; on a 2-core machine that was a fifth of the gateway's
// requests/s (docs/benchmarks.md, issue 14.3). The loop here reads such a
// request with net/http's own parser, runs the handler on the
// connection's goroutine and writes the answer with the same framing
// net/http would choose.
//
// It takes only what it recognised whole: an HTTP/1.1 request in origin
// form with one valid Host, valid header fields, a method it knows, a
// body of declared length up to MaxBody and no Upgrade, Expect or
// Transfer-Encoding, whose head fits its buffer. Anything else — an
// upgrade (WebSockets), a chunked or large upload, HEAD, HTTP/1.0, a head
// net/http would refuse — goes, with every byte already read put back in
// front, to the http.Server the loop was made from, which serves the
// connection from then on and answers exactly as it always did.
//
// What the loop does not do: it does not read ahead while the handler
// runs, so a client that goes away is noticed when its answer is written,
// not before (the gateway's per-function timeouts bound the wait).
package keepalive

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// MaxBody is the largest request body the loop reads itself; a larger
// one goes to net/http, which streams it.
const MaxBody = 64 << 10

// headBuffer is the size of each connection's read buffer: a head that
// does not fit goes to net/http (whose limit is the server's
// MaxHeaderBytes).
const headBuffer = 4 << 10

// Server serves plain requests on kept-alive connections with the loop and
// the rest with an http.Server.
type Server struct {
	srv      *http.Server
	handover *handoverListener

	mu         sync.Mutex
	conns      map[*conn]struct{}
	listener   net.Listener
	accepting  chan struct{} // closed when Serve's accept loop has ended
	inShutdown atomic.Bool
	done       chan struct{} // closed when the last tracked connection ends after Shutdown
	date       atomic.Pointer[dateField]

	// newConnGrace is how long Shutdown waits for a new connection's
	// first request: 5 s, as net/http's.
	newConnGrace time.Duration

	// What a connection needs only while it reads a head or holds an
	// answer is pooled, so that an idle kept-alive connection holds no
	// more than its two buffers, as with net/http.
	parsers sync.Pool // *parser
	holds   sync.Pool // *[]byte of bufferBeforeChunking
}

// parser reads a head that is in a connection's buffer with
// http.ReadRequest.
type parser struct {
	head bytes.Reader
	r    *bufio.Reader
}

func (s *Server) parse(raw []byte) (*http.Request, error) {
	p, ok := s.parsers.Get().(*parser)
	if !ok {
		p = &parser{}
		p.r = bufio.NewReaderSize(&p.head, headBuffer)
	}
	p.head.Reset(raw)
	p.r.Reset(&p.head)
	req, err := http.ReadRequest(p.r)
	p.head.Reset(nil)
	s.parsers.Put(p)
	return req, err
}

// dateField is a Date field line, made once a second.
type dateField struct {
	unix int64
	line []byte
}

// dateField returns "Date: <now>\r\n".
func (s *Server) dateField() []byte {
	now := time.Now()
	if d := s.date.Load(); d != nil && d.unix == now.Unix() {
		return d.line
	}
	line := append([]byte("Date: "), now.UTC().AppendFormat(nil, http.TimeFormat)...)
	d := &dateField{unix: now.Unix(), line: append(line, "\r\n"...)}
	s.date.Store(d)
	return d.line
}

// New returns a server for srv's handler, with srv's ReadHeaderTimeout,
// IdleTimeout and ErrorLog; srv serves the connections the loop hands
// over, and must not be served or shut down by anyone else.
func New(srv *http.Server) *Server {
	return &Server{srv: srv, conns: map[*conn]struct{}{}, newConnGrace: 5 * time.Second}
}

// Serve accepts connections on ln until Shutdown, which makes it return
// http.ErrServerClosed. It may be called once.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.listener != nil {
		s.mu.Unlock()
		return errors.New("keepalive: Serve called twice")
	}
	s.listener = ln
	s.handover = newHandoverListener(ln.Addr())
	s.accepting = make(chan struct{})
	defer close(s.accepting)
	s.mu.Unlock()
	if s.inShutdown.Load() {
		ln.Close()
		return http.ErrServerClosed
	}
	fallback := make(chan error, 1)
	go func() { fallback <- s.srv.Serve(s.handover) }()
	stopSweep := make(chan struct{})
	defer close(stopSweep)
	go s.sweep(stopSweep)

	var delay time.Duration // how long to sleep on accept failure, as net/http does
	for {
		rwc, err := ln.Accept()
		if err != nil {
			if s.inShutdown.Load() {
				return http.ErrServerClosed
			}
			// Out of descriptors, say: wait and go on, as net/http does,
			// rather than stop serving.
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.logf("keepalive: accept error: %v; retrying in %v", err, delay)
				time.Sleep(delay)
				continue
			}
			s.handover.Close()
			<-fallback
			return err
		}
		delay = 0
		// A connection accepted as Shutdown closes the listener is served
		// all the same: its client has sent, or will send, a request.
		c := newConn(s, rwc)
		s.track(c)
		go c.serve()
	}
}

// Shutdown stops accepting connections, closes idle ones, lets each
// request under way finish and returns once every connection is closed,
// or with ctx's error when ctx ends first. The handed-over connections
// are shut down by the http.Server, alike.
//
// As net/http's, it leaves a new connection that has not brought its
// first request alone for newConnGrace: a client that has just connected
// has sent its request or is about to, and closing the connection under
// that request would reset it, which the client may not retry (it
// retries only on a connection it had used before). The first request
// is answered with "Connection: close".
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.inShutdown.Store(true)
	ln, handover, accepting := s.listener, s.handover, s.accepting
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	if accepting != nil {
		<-accepting // no connection is tracked after this
	}
	s.mu.Lock()
	if s.done == nil {
		s.done = make(chan struct{})
		if len(s.conns) == 0 {
			close(s.done)
		}
	}
	done := s.done
	s.mu.Unlock()
	s.closeIdle()
	// Closes net/http's idle connections now and each busy one after
	// its request, as its Shutdown would.
	s.srv.SetKeepAlivesEnabled(false)
	err := s.waitConns(ctx, done)
	// net/http stops only now, so that a request the loop hands over
	// while it drains (an upgrade, say, on a connection accepted just
	// before the listener closed) is still served.
	if handover != nil {
		handover.Close()
		if fallbackErr := s.srv.Shutdown(ctx); err == nil {
			err = fallbackErr
		}
	}
	return err
}

// waitConns waits until done is closed, closing connections as they go
// idle or stale, or until ctx ends.
func (s *Server) waitConns(ctx context.Context, done <-chan struct{}) error {
	t := time.NewTicker(watchAfter)
	defer t.Stop()
	for {
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			s.closeIdle()
		}
	}
}

// closeIdle closes every idle connection and every new one that has
// waited newConnGrace for its first request.
func (s *Server) closeIdle() {
	stale := time.Now().Add(-s.newConnGrace).UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.state.CompareAndSwap(stateIdle, stateClosing) ||
			c.began.Load() < stale && c.state.CompareAndSwap(stateNew, stateClosing) {
			c.rwc.Close()
		}
	}
}

// track adds c to the connections Shutdown waits for.
func (s *Server) track(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[c] = struct{}{}
}

// forget removes c, whether it closed or was handed over.
func (s *Server) forget(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if s.done != nil && len(s.conns) == 0 {
		select {
		case <-s.done:
		default:
			close(s.done)
		}
	}
}

// watchAfter is how long a request runs before the loop starts watching
// its connection for a client that goes away; shorter requests, nearly
// all of them, never pay for a watch.
const watchAfter = 100 * time.Millisecond

// sweep starts the watch of every request that has run for watchAfter,
// until stop is closed.
func (s *Server) sweep(stop <-chan struct{}) {
	t := time.NewTicker(watchAfter / 2)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			cutoff := now.Add(-watchAfter).UnixNano()
			s.mu.Lock()
			for c := range s.conns {
				if c.state.Load() == stateBusy && c.watchable.Load() && c.began.Load() < cutoff {
					c.startWatch()
				}
			}
			s.mu.Unlock()
		}
	}
}

func (s *Server) logf(format string, args ...any) {
	if s.srv.ErrorLog != nil {
		s.srv.ErrorLog.Printf(format, args...)
		return
	}
	log.Printf(format, args...)
}

// Connection states: Shutdown closes idle connections, and new ones
// after newConnGrace, and a connection does not start a request once it
// is closing.
const (
	stateNew int32 = iota // accepted, its first request not yet begun
	stateIdle
	stateBusy
	stateClosing
)

// conn is one client connection the loop serves.
type conn struct {
	s        *Server
	rwc      net.Conn
	state    atomic.Int32
	began    atomic.Int64  // when the request under way began (a new connection: was accepted), in Unix ns
	br       *bufio.Reader // reads through the conn (see Read)
	bw       *bufio.Writer
	ctx      context.Context // the connection's, under every request's
	remote   string
	lastPost bool      // the last request was a POST (see serve)
	headBy   time.Time // when the head being read must be in (ReadHeaderTimeout), or zero
	res      response  // reused by every request

	// The watch: a read of the connection while a long request runs,
	// as net/http's server does for every request, to cancel the
	// request's context when the client goes away. It may read the
	// first byte of the next request, which Read then gives first.
	watchable atomic.Bool // nothing else reads the connection: the body is read
	mu        sync.Mutex
	watching  chan struct{} // closed when the watch ends; nil: none
	cancel    context.CancelFunc
	gone      atomic.Bool // the watch saw the client close the connection
	stashed   bool
	stash     [1]byte
}

func newConn(s *Server, rwc net.Conn) *conn {
	c := &conn{s: s, rwc: rwc, remote: rwc.RemoteAddr().String()}
	c.began.Store(time.Now().UnixNano())
	c.br = bufio.NewReaderSize(c, headBuffer)
	c.bw = bufio.NewWriterSize(rwc, headBuffer)
	ctx := context.WithValue(context.Background(), http.ServerContextKey, s.srv)
	c.ctx = context.WithValue(ctx, http.LocalAddrContextKey, rwc.LocalAddr())
	return c
}

// Read reads the connection for br: the byte a watch read first.
func (c *conn) Read(p []byte) (int, error) {
	if c.stashed && len(p) > 0 {
		c.stashed = false
		p[0] = c.stash[0]
		return 1, nil
	}
	return c.rwc.Read(p)
}

// startWatch starts watching the connection for the client going away.
func (c *conn) startWatch() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.watching != nil || c.cancel == nil {
		return
	}
	done := make(chan struct{})
	c.watching = done
	cancel := c.cancel
	go func() {
		defer close(done)
		n, err := c.rwc.Read(c.stash[:])
		if n == 1 {
			c.stashed = true // the client sent more: it is there
			return
		}
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			c.gone.Store(true)
			cancel()
		}
	}()
}

// stopWatch ends the watch, if one runs, and waits for it.
func (c *conn) stopWatch() {
	c.mu.Lock()
	done := c.watching
	c.watching, c.cancel = nil, nil
	c.mu.Unlock()
	c.watchable.Store(false)
	if done != nil {
		_ = c.rwc.SetReadDeadline(time.Unix(1, 0)) // in the past: the read returns at once
		<-done
	}
}

// serve runs the loop until the connection closes or goes to net/http.
func (c *conn) serve() {
	handedOver, served := false, false
	defer func() {
		if !handedOver {
			c.rwc.Close()
		}
		c.s.forget(c)
	}()
	for {
		// A deadline a handler set for its body must not outlive it.
		var deadline time.Time
		if idle := c.s.srv.IdleTimeout; idle > 0 {
			deadline = time.Now().Add(idle)
		}
		_ = c.rwc.SetReadDeadline(deadline)
		// As net/http: the first request may be cut short (and gets a
		// 400), a later one must bring 4 bytes before it counts.
		wait := 1
		if served {
			wait = 4
		}
		if _, err := c.br.Peek(wait); err != nil {
			return // closed, or idle too long
		}
		// A request that has come is served, during Shutdown too (with
		// "Connection: close"), unless Shutdown closed the connection
		// first: closing it now, under the request, would reset it.
		from := stateIdle
		if !served {
			from = stateNew
		}
		if !c.state.CompareAndSwap(from, stateBusy) {
			return
		}
		c.began.Store(time.Now().UnixNano())
		c.headBy = time.Time{}
		if d := c.s.srv.ReadHeaderTimeout; d > 0 {
			c.headBy = time.Now().Add(d)
			_ = c.rwc.SetReadDeadline(c.headBy)
		}
		if c.lastPost {
			// RFC 9112, section 2.2: a server may ignore line ends a
			// client sent after a POST's body, as net/http does.
			c.skipLineEnds()
		}
		req, head, next := c.readPlain()
		switch next {
		case closeConn:
			return // the client went away or timed out in the head
		case toNetHTTP:
			handedOver = c.handOver()
			return
		}
		_, _ = c.br.Discard(head)
		_ = c.rwc.SetReadDeadline(time.Time{})
		c.lastPost = req.Method == http.MethodPost
		served = true
		if !c.serveRequest(req) {
			return
		}
		if !c.state.CompareAndSwap(stateBusy, stateIdle) || c.s.inShutdown.Load() {
			return
		}
	}
}

// skipLineEnds discards CR and LF among the next 4 bytes (which serve
// has waited for), exactly as many as net/http's server skips.
func (c *conn) skipLineEnds() {
	b, _ := c.br.Peek(4)
	n := 0
	for n < len(b) && (b[n] == '\r' || b[n] == '\n') {
		n++
	}
	_, _ = c.br.Discard(n)
}

// What becomes of a connection after its next head was read.
type verdict uint8

const (
	serveHere verdict = iota // the loop serves the request
	toNetHTTP                // net/http must have the connection
	closeConn                // the client went away or timed out
)

// readPlain reads the next request's head and parses it without
// consuming it; the request and the head's length are set when the loop
// serves it.
func (c *conn) readPlain() (req *http.Request, head int, next verdict) {
	n, err := c.peekHead()
	if err != nil {
		return nil, 0, closeConn
	}
	if n == 0 {
		return nil, 0, toNetHTTP // too large for the loop, or cut short
	}
	raw, _ := c.br.Peek(n)
	req, err = c.s.parse(raw)
	if err != nil || !plain(req, raw) {
		return nil, 0, toNetHTTP
	}
	return req, n, serveHere
}

// peekHead waits until the buffer holds a whole head (up to its empty
// line) and returns its length, or 0 when it does not fit the buffer.
func (c *conn) peekHead() (int, error) {
	from := 0
	for {
		buf, _ := c.br.Peek(c.br.Buffered())
		if i := headEnd(buf, from); i > 0 {
			return i, nil
		}
		if len(buf) == c.br.Size() {
			return 0, nil
		}
		from = max(len(buf)-3, 0)
		if _, err := c.br.Peek(len(buf) + 1); err != nil {
			if errors.Is(err, io.EOF) && len(buf) > 0 {
				return 0, nil // a head cut short: net/http answers 400
			}
			return 0, err
		}
	}
}

// headEnd returns the length of the head at the start of buf (through the
// empty line that ends it, CRLF or a bare LF as net/http accepts), or 0
// when buf does not hold one yet; the search starts at from.
func headEnd(buf []byte, from int) int {
	for i := from; i < len(buf); i++ {
		if buf[i] != '\n' {
			continue
		}
		switch {
		case i+1 < len(buf) && buf[i+1] == '\n':
			return i + 2
		case i+2 < len(buf) && buf[i+1] == '\r' && buf[i+2] == '\n':
			return i + 3
		}
	}
	return 0
}

// plain reports whether the loop serves req, whose head is raw: exactly
// the requests net/http's server accepts and serves the same way with
// nothing of what the loop leaves out (see the package comment).
func plain(req *http.Request, raw []byte) bool {
	switch req.Method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
	default:
		return false
	}
	if req.ProtoMajor != 1 || req.ProtoMinor != 1 || req.URL.Host != "" || len(req.RequestURI) == 0 || req.RequestURI[0] != '/' {
		return false
	}
	if req.Host == "" || !httpguts.ValidHostHeader(req.Host) || hostFields(raw) != 1 {
		return false
	}
	if req.ContentLength < 0 || req.ContentLength > MaxBody || len(req.TransferEncoding) > 0 {
		return false
	}
	h := req.Header
	if len(h["Upgrade"]) > 0 || len(h["Expect"]) > 0 || len(h["Transfer-Encoding"]) > 0 ||
		httpguts.HeaderValuesContainsToken(h["Connection"], "upgrade") {
		return false
	}
	return ValidFields(h)
}

// ValidFields reports whether every name and value of h is one net/http's
// server accepts from a client (it answers 400 otherwise).
func ValidFields(h http.Header) bool {
	for k, vs := range h {
		if !httpguts.ValidHeaderFieldName(k) {
			return false
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return false
			}
		}
	}
	return true
}

// hostFields counts the Host fields of a head: http.ReadRequest keeps the
// first, and net/http's server refuses a request with several.
func hostFields(raw []byte) int {
	n := 0
	for i := 0; i < len(raw); i++ {
		if raw[i] == '\n' && i+5 < len(raw) && asciiHasPrefixFold(raw[i+1:], "host:") {
			n++
		}
	}
	return n
}

func asciiHasPrefixFold(b []byte, prefix string) bool {
	if len(b) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// handOver gives the connection, with what was read of it, to net/http;
// false when net/http no longer takes connections.
func (c *conn) handOver() bool {
	_ = c.rwc.SetReadDeadline(time.Time{})
	pending, _ := c.br.Peek(c.br.Buffered())
	rc := &replayConn{Conn: c.rwc, pending: bytes.Clone(pending), headBy: c.headBy}
	// serve forgets c only after this: a Shutdown that saw the loop's
	// last connection gone would close the hand-over listener under rc.
	return c.s.handover.deliver(rc)
}

// serveRequest runs the handler for req and finishes its answer; false
// when the connection must close.
func (c *conn) serveRequest(req *http.Request) (keep bool) {
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	req = req.WithContext(ctx)
	req.RemoteAddr = c.remote
	c.mu.Lock()
	c.cancel = cancel
	c.mu.Unlock()
	var body *requestBody
	if req.ContentLength > 0 {
		body = &requestBody{c: c, left: req.ContentLength}
		req.Body = body
	} else {
		req.Body = http.NoBody
		c.watchable.Store(c.br.Buffered() == 0)
	}
	w := &c.res
	hold, ok := c.s.holds.Get().(*[]byte)
	if !ok {
		b := make([]byte, 0, bufferBeforeChunking)
		hold = &b
	}
	defer func() {
		*hold = w.buf[:0]
		w.buf = nil
		c.s.holds.Put(hold)
	}()
	w.reset(c, req, (*hold)[:0])
	defer func() {
		if err := recover(); err != nil {
			keep = false
			if err != http.ErrAbortHandler {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.s.logf("http: panic serving %s: %v\n%s", c.remote, err, buf)
			}
			_ = c.bw.Flush() // what was sent stays sent; the client sees the answer cut
			c.stopWatch()
		}
		w.req = nil
	}()
	c.s.srv.Handler.ServeHTTP(w, req)
	finished := w.finish()
	c.stopWatch()
	if !finished || c.gone.Load() {
		return false
	}
	if body != nil && body.left > 0 {
		// The handler left part of the body: read it away (it is at most
		// MaxBody), bounded like a head, so that the next request starts
		// where it should.
		if d := c.s.srv.ReadHeaderTimeout; d > 0 {
			_ = c.rwc.SetReadDeadline(time.Now().Add(d))
		}
		if _, err := c.br.Discard(int(body.left)); err != nil {
			return false
		}
	}
	return !w.closeAfter
}

// requestBody is a plain request's body, read from the connection.
type requestBody struct {
	c      *conn
	left   int64
	closed bool
}

func (b *requestBody) Read(p []byte) (int, error) {
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.c.br.Read(p)
	b.left -= int64(n)
	if b.left == 0 {
		b.c.watchable.Store(b.c.br.Buffered() == 0)
	}
	if err != nil && b.left > 0 {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // as net/http's body says it
		}
		return n, err
	}
	if b.left == 0 {
		return n, io.EOF
	}
	return n, nil
}

func (b *requestBody) Close() error {
	b.closed = true
	return nil
}
