package local

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/seedbed/seedbed/targets"
)

// An HTTP function's request is held to two clocks, as Heroku's router
// holds a dyno's: the function has Timeout (default 30s) to start
// answering once the request is in, and an answer under way — a large
// download, a server-sent event stream, a WebSocket — may go on as long
// as it likes provided no more than IdleTimeout (default 60s) passes
// without a byte either way. While the client is still sending the body,
// the idle clock runs too: a slow upload that keeps moving is fine. One
// clock for the whole request would cut every stream at 30s.

// Defaults of the per-function limits (see stack.Function).
const (
	defaultIdleTimeout = 60 * time.Second
	defaultBodyLimit   = 10 << 20
)

// Why a watchdog cut a request short; the proxy's error handler tells them
// apart by context.Cause.
var (
	errNoAnswer = errors.New("the function did not start answering in time")
	errIdle     = errors.New("the answer went idle")
)

// functionIdleTimeout is how long an answer of fn under way may be silent.
func functionIdleTimeout(fn targets.Function) time.Duration {
	if fn.IdleTimeout > 0 {
		return fn.IdleTimeout
	}
	return defaultIdleTimeout
}

// functionBodyLimit is the largest request body fn accepts, in bytes.
func functionBodyLimit(fn targets.Function) int64 {
	if fn.BodyLimit > 0 {
		return int64(fn.BodyLimit) << 20
	}
	return defaultBodyLimit
}

// watchdog runs a request's clocks and cancels it (with errNoAnswer or
// errIdle) when one runs out.
type watchdog struct {
	timeout, idle time.Duration
	cancel        func(error)

	mu       sync.Mutex
	timer    *time.Timer
	state    watchState
	lastSeen time.Time // the last byte either way, while idle counts
}

type watchState uint8

const (
	watchUploading watchState = iota // the body is coming in: idle clock
	watchWaiting                     // the request is in: timeout clock
	watchAnswering                   // the answer is under way: idle clock
	watchDone
)

// newWatchdog starts the clocks: uploading when the request has a body
// still to come, waiting otherwise.
func newWatchdog(timeout, idle time.Duration, hasBody bool, cancel func(error)) *watchdog {
	d := &watchdog{timeout: timeout, idle: idle, cancel: cancel, lastSeen: time.Now()}
	d.mu.Lock()
	defer d.mu.Unlock()
	if hasBody {
		d.state = watchUploading
		d.timer = time.AfterFunc(idle, d.check)
	} else {
		d.state = watchWaiting
		d.timer = time.AfterFunc(timeout, d.check)
	}
	return d
}

// check fires when a clock may have run out. Activity only notes its
// time (timers are not reset on every byte); check rearms for the rest.
func (d *watchdog) check() {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch d.state {
	case watchWaiting:
		d.state = watchDone
		d.cancel(errNoAnswer)
	case watchUploading, watchAnswering:
		if left := d.idle - time.Since(d.lastSeen); left > 0 {
			d.timer.Reset(left)
			return
		}
		d.state = watchDone
		d.cancel(errIdle)
	}
}

// touch notes a byte moving either way.
func (d *watchdog) touch() {
	d.mu.Lock()
	d.lastSeen = time.Now()
	d.mu.Unlock()
}

// bodyDone starts the timeout clock: the request is in.
func (d *watchdog) bodyDone() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state == watchUploading {
		d.state = watchWaiting
		d.timer.Reset(d.timeout)
	}
}

// answering starts the idle clock: the function has begun to answer.
func (d *watchdog) answering() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state == watchUploading || d.state == watchWaiting {
		d.state = watchAnswering
		d.lastSeen = time.Now()
		d.timer.Reset(d.idle)
	}
}

// stop ends the clocks.
func (d *watchdog) stop() {
	d.mu.Lock()
	d.state = watchDone
	d.timer.Stop()
	d.mu.Unlock()
}

// watchedBody is a request body whose reads count as activity and whose
// end starts the timeout clock.
type watchedBody struct {
	io.ReadCloser
	d *watchdog
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.d.touch()
	}
	if err == io.EOF {
		b.d.bodyDone()
	}
	return n, err
}

// watchedWriter is the client's side of an answer: writes and flushes
// count as activity, the first header starts the idle clock, and a
// protocol switch (WebSocket) hands over a connection whose every read
// and write counts too.
type watchedWriter struct {
	http.ResponseWriter
	d *watchdog
}

func (w *watchedWriter) WriteHeader(code int) {
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.d.answering()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *watchedWriter) Write(p []byte) (int, error) {
	w.d.answering()
	w.d.touch()
	return w.ResponseWriter.Write(p)
}

// Flush keeps streamed answers streaming.
func (w *watchedWriter) Flush() {
	w.d.touch()
	http.NewResponseController(w.ResponseWriter).Flush() //nolint:errcheck // as http.Flusher: nothing to report
}

// Hijack hands the connection over for a protocol switch, watched.
func (w *watchedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.d.answering()
	wc := &watchedConn{Conn: c, d: w.d}
	// What the server had read ahead comes first, then the watched
	// connection; the server's own reader would bypass it.
	buffered, err := brw.Reader.Peek(brw.Reader.Buffered())
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	r := io.MultiReader(bytes.NewReader(bytes.Clone(buffered)), wc)
	return wc, bufio.NewReadWriter(bufio.NewReader(r), bufio.NewWriter(wc)), nil
}

// Unwrap lets http.ResponseController reach the connection's deadlines.
func (w *watchedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// watchedConn is a hijacked client connection whose traffic counts as
// activity.
type watchedConn struct {
	net.Conn
	d *watchdog
}

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.d.touch()
	}
	return n, err
}

func (c *watchedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.d.touch()
	}
	return n, err
}
