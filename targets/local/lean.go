package local

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/seedbed/seedbed/gateway"
)

// Most requests to an HTTP function are small and plain: a GET or a POST
// of a few kilobytes, answered with a body of known length or a stream.
// httputil.ReverseProxy over http.Transport serves those through three
// goroutines per upstream connection (the handler, the transport's
// writeLoop and readLoop) that hand each request and answer over
// channels; on a 2-core machine those handoffs, more than any parsing,
// held the gateway to about half of nginx's requests/s (bench/proxy). The
// lean path forwards such a request on the handler's own goroutine over a
// kept-alive connection of the instance: it writes the head and the body,
// reads the answer with net/http's own parser and copies it out.
//
// Everything else keeps going through ReverseProxy, which is full duplex
// and knows every corner of HTTP: protocol upgrades (WebSockets), bodies
// of unknown length or larger than leanBodyMax (a function may answer
// before it reads an upload, and only a full-duplex proxy cannot
// deadlock on that), and Expect: 100-continue. Both paths share the
// watchdog, the body limit, the forwarding headers, the cookie guard and
// the error answers, so a client cannot tell which one served it.

// leanBodyMax is the largest request body the lean path forwards. It must
// fit the kernel's socket buffers, so that writing it never waits for a
// function that answers without reading it.
const leanBodyMax = 64 << 10

// maxIdleUpstream is how many idle connections an instance keeps, as
// http.Transport's MaxIdleConnsPerHost did for the proxy.
const maxIdleUpstream = 64

// leanEligible reports whether the lean path may forward r.
func leanEligible(r *http.Request) bool {
	if r.ContentLength < 0 || r.ContentLength > leanBodyMax {
		return false // chunked, or large: ReverseProxy streams it full duplex
	}
	h := r.Header
	return len(h["Upgrade"]) == 0 && len(h["Expect"]) == 0 && len(r.TransferEncoding) == 0 &&
		!httpguts.HeaderValuesContainsToken(h["Connection"], "upgrade")
}

// upstreamConn is a kept-alive connection to an instance's process.
type upstreamConn struct {
	net.Conn
	addr string // the instance's address when dialled
	br   *bufio.Reader
	bw   *bufio.Writer
	// raw and peekFn are made once per connection: made per use, they
	// were two allocations of every request (see alive).
	raw    syscall.RawConn
	peekFn func(fd uintptr) bool
	peeked bool // what the last peek found: the connection is open and quiet
	peekB  [1]byte
}

func newUpstreamConn(c net.Conn, addr string) *upstreamConn {
	uc := &upstreamConn{Conn: c, addr: addr, br: bufio.NewReaderSize(c, 4<<10), bw: bufio.NewWriterSize(c, 4<<10)}
	if sc, ok := c.(syscall.Conn); ok {
		uc.raw, _ = sc.SyscallConn()
	}
	uc.peekFn = uc.peek
	return uc
}

// alive peeks at an idle connection without blocking: nothing to read
// means its process still holds it open.
func (uc *upstreamConn) alive() bool {
	if uc.raw == nil {
		return true
	}
	uc.peeked = false
	if err := uc.raw.Read(uc.peekFn); err != nil {
		return false
	}
	return uc.peeked
}

func (uc *upstreamConn) peek(fd uintptr) bool {
	n, _, err := syscall.Recvfrom(int(fd), uc.peekB[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	uc.peeked = n < 0 && (errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK))
	return true
}

// upstreamConns are an instance's idle connections, most recently used
// last (its process keeps the warmest ones open).
type upstreamConns struct {
	mu     sync.Mutex
	idle   []*upstreamConn
	closed bool
}

// get returns an idle connection to addr that its process has not closed,
// or nil.
func (u *upstreamConns) get(addr string) *upstreamConn {
	for {
		u.mu.Lock()
		n := len(u.idle)
		if n == 0 {
			u.mu.Unlock()
			return nil
		}
		c := u.idle[n-1]
		u.idle[n-1] = nil
		u.idle = u.idle[:n-1]
		u.mu.Unlock()
		// A process that restarted listens elsewhere; one that closed an
		// idle connection (Node closes them after 5 s) left EOF on it;
		// bytes nobody asked for mean the connection is out of step.
		if c.addr == addr && c.br.Buffered() == 0 && c.alive() {
			return c
		}
		c.Close()
	}
}

// put keeps c for the next request, unless the instance stopped or keeps
// enough already.
func (u *upstreamConns) put(c *upstreamConn) {
	u.mu.Lock()
	if !u.closed && len(u.idle) < maxIdleUpstream {
		u.idle = append(u.idle, c)
		u.mu.Unlock()
		return
	}
	u.mu.Unlock()
	c.Close()
}

// close closes every idle connection and keeps none from now on.
func (u *upstreamConns) close() {
	u.mu.Lock()
	idle := u.idle
	u.idle, u.closed = nil, true
	u.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
}

// forward serves r on the lean path: pt says where and how.
func (t *Target) forward(w http.ResponseWriter, r *http.Request, pt *proxyTarget) {
	in := pt.inst
	addr := in.addr()
	ctx := pt.ctx
	for attempt := 0; ; attempt++ {
		uc := in.conns.get(addr)
		reused := uc != nil
		if uc == nil {
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				t.failed(w, r, pt, err)
				return
			}
			uc = newUpstreamConn(c, addr)
		}
		// The watchdog and a client that goes away cancel ctx; that
		// must stop a read from the function that would block.
		stop := context.AfterFunc(ctx, func() { _ = uc.SetDeadline(time.Unix(1, 0)) }) // a past deadline: at once
		resp, err := roundTrip(uc, r, pt)
		if err != nil {
			stop()
			uc.Close()
			// A kept-alive connection its process closed just after get
			// looked fails before a byte of answer. An idempotent
			// request without a body goes once more on a new one (as
			// http.Transport does); anything else may have been acted
			// on, so its client hears of the failure.
			if reused && attempt == 0 && idempotent(r) && ctx.Err() == nil && closedByPeer(err) {
				continue
			}
			t.failed(w, r, pt, err)
			return
		}
		t.answer(w, r, pt, resp, uc, &in.conns, stop)
		return
	}
}

// answer relays resp to the client, then keeps uc in idle for the next
// request when it can serve one. relay panics with http.ErrAbortHandler when the
// function breaks its answer off; the connection is closed then too.
func (t *Target) answer(w http.ResponseWriter, r *http.Request, pt *proxyTarget, resp *http.Response, uc *upstreamConn, idle *upstreamConns, stop func() bool) {
	reusable := false
	defer func() {
		// stop is false when ctx was cancelled and the deadline is set.
		if stop() && reusable {
			idle.put(uc)
		} else {
			uc.Close()
		}
	}()
	reusable = t.relay(w, pt, resp)
}

// closedByPeer reports whether err says the other side closed or reset
// the connection.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// idempotent reports whether r may be sent again after a failure: a
// method without side effects and no body.
func idempotent(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return r.ContentLength == 0
	}
	return false
}

// roundTrip writes r to uc and reads the head of the answer, skipping
// informational answers.
func roundTrip(uc *upstreamConn, r *http.Request, pt *proxyTarget) (resp *http.Response, err error) {
	writeHead(uc.bw, r, pt)
	if r.ContentLength > 0 {
		if _, err := io.CopyN(uc.bw, r.Body, r.ContentLength); err != nil {
			return nil, bodyError(err)
		}
	}
	if err := uc.bw.Flush(); err != nil {
		return nil, err
	}
	for {
		resp, err = http.ReadResponse(uc.br, r)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		// 100 Continue or 103 Early Hints nobody asked for: the answer
		// follows.
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		resp.Body.Close()
		return nil, errors.New("the function switched protocols, but the request asked for no upgrade")
	}
	return resp, nil
}

// bodyError keeps the body limit's error recognisable (413) and names a
// body that ended early.
func bodyError(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// isHopHeader reports whether k (canonical) belongs to one connection and
// is never passed on (RFC 9110, section 7.6.1), or is framing the proxy
// sets itself.
func isHopHeader(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length", "Host":
		return true
	}
	return false
}

// writeHead writes the request line and headers the function gets: the
// client's headers without those of its connection, the forwarding
// headers, the public host, and framing the proxy chose.
func writeHead(bw *bufio.Writer, r *http.Request, pt *proxyTarget) {
	path := pt.rawPath
	if path == "" {
		path = "/"
	}
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	bw.WriteString(path)
	if r.URL.RawQuery != "" || r.URL.ForceQuery {
		bw.WriteByte('?')
		bw.WriteString(r.URL.RawQuery)
	}
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(pt.fwd.Host)
	bw.WriteString("\r\n")
	connHeaders := r.Header["Connection"]
	for k, vs := range r.Header {
		if isHopHeader(k) || gateway.IsForwardingHeader(k) || len(connHeaders) > 0 && httpguts.HeaderValuesContainsToken(connHeaders, k) {
			continue
		}
		for _, v := range vs {
			writeField(bw, k, v)
		}
	}
	pt.fwd.Each(func(k, v string) { writeField(bw, k, v) })
	if r.ContentLength > 0 || r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
		bw.WriteString("Content-Length: ")
		bw.WriteString(strconv.FormatInt(r.ContentLength, 10))
		bw.WriteString("\r\n")
	}
	bw.WriteString("\r\n")
}

// writeField writes one header line. net/http has checked the client's
// names and values; the forwarding headers are the gateway's own.
func writeField(bw *bufio.Writer, k, v string) {
	bw.WriteString(k)
	bw.WriteString(": ")
	bw.WriteString(v)
	bw.WriteString("\r\n")
}

// relay writes the function's answer to the client and reports whether
// the connection to the function can serve another request.
func (t *Target) relay(w http.ResponseWriter, pt *proxyTarget, resp *http.Response) (reusable bool) {
	defer resp.Body.Close()
	_ = noteServerErrorsOf(pt, resp) // notes a 5xx and drops the console's cookies
	h := w.Header()
	connHeaders := resp.Header["Connection"]
	for k, vs := range resp.Header {
		if k != "Content-Length" && isHopHeader(k) || len(connHeaders) > 0 && httpguts.HeaderValuesContainsToken(connHeaders, k) {
			continue
		}
		h[k] = vs
	}
	if len(resp.Trailer) > 0 {
		names := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			names = append(names, k)
		}
		h["Trailer"] = []string{strings.Join(names, ", ")}
	}
	w.WriteHeader(resp.StatusCode)

	// A stream (no length, or server-sent events) goes out as the
	// function writes it; a body of known length as the buffer fills
	// (as ReverseProxy with FlushInterval 0).
	stream := resp.ContentLength < 0 || isEventStream(resp.Header)
	var flusher http.Flusher
	if stream {
		flusher, _ = w.(http.Flusher)
	}
	buf := t.buffers.Get()
	defer t.buffers.Put(buf)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return false // the client went away
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			// The function broke off (or the watchdog did): the client
			// must not take a cut answer for a whole one, so the server
			// drops the connection instead of ending the body.
			t.log.Warn("answer broken off", "function", pt.fn.Key(), "err", rerr)
			panic(http.ErrAbortHandler)
		}
	}
	for k, vs := range resp.Trailer {
		h[http.TrailerPrefix+k] = vs
	}
	return !resp.Close
}

// isEventStream reports whether h is the head of server-sent events.
func isEventStream(h http.Header) bool {
	ct, _, _ := strings.Cut(h.Get("Content-Type"), ";")
	return strings.EqualFold(strings.TrimSpace(ct), "text/event-stream")
}
