package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"

	"github.com/seedbed/seedbed/gateway"
	"github.com/seedbed/seedbed/metrics/observe"
	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/targets"
)

// An instance is the gateway's upstream for its function: the gateway
// routes, the instance answers by kind — static files, a Lambda-style
// event, or a request proxied to the process.

// Acquire reserves the instance for one request; false while it drains.
func (in *instance) Acquire() bool { return in.acquire() }

// Release ends a request Acquire admitted.
func (in *instance) Release() { in.release() }

// Serve answers a request the gateway routed to this instance.
func (in *instance) Serve(w http.ResponseWriter, r *http.Request, c *gateway.Call) {
	switch {
	case in.site != nil:
		in.site.serve(w, r, c)
	case in.api != nil:
		in.serveLambda(w, r, c)
	default:
		in.serveHTTP(w, r, c)
	}
}

// proxyTarget travels in the request context from serveHTTP to the proxy.
type proxyTarget struct {
	inst    *instance
	fn      targets.Function
	path    string // the path the function sees, decoded
	rawPath string // the same, as the client escaped it
	fwd     gateway.Forwarding
	timeout time.Duration
	began   time.Time
	limit   int64 // the request body's, in bytes
	// ctx is the request's context under the watchdog: its cause says
	// why a request was cut short.
	ctx context.Context
}

type proxyTargetKey struct{}

// serveHTTP proxies a request to an HTTP function's process. The function
// has its timeout (default 30s) to start answering once the request is in
// (504 past it) and its answer may then go on for as long as bytes keep
// moving (see watchdog.go); a body over its limit is refused with 413; a
// process that does not answer is a 502 (saying so when the kernel
// stopped it for its memory).
func (in *instance) serveHTTP(w http.ResponseWriter, r *http.Request, c *gateway.Call) {
	fn := c.Route.Function()
	limit := functionBodyLimit(fn)
	if r.ContentLength > limit {
		gateway.PlainError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body too large: function %s accepts at most %d MiB (body_limit in %s)", fn.Key(), limit>>20, stack.FileName))
		return
	}
	timeout := functionTimeout(fn)
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	hasBody := r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
	dog := newWatchdog(timeout, functionIdleTimeout(fn), hasBody, cancel)
	defer dog.stop()
	pt := &proxyTarget{inst: in, fn: fn, path: c.Path(), rawPath: c.RawPath, fwd: c.Forwarding, timeout: timeout, began: time.Now(), limit: limit, ctx: ctx}
	if hasBody {
		r.Body = &watchedBody{ReadCloser: http.MaxBytesReader(w, r.Body, limit), d: dog}
	}
	if leanEligible(r) {
		// The lean path is handed pt and its context; the request keeps
		// its own (a copy of it per request was a tenth of the bytes a
		// request allocated).
		in.t.forward(&watchedWriter{ResponseWriter: w, d: dog}, r, pt)
		return
	}
	r = r.WithContext(context.WithValue(ctx, proxyTargetKey{}, pt))
	in.t.proxy.ServeHTTP(&watchedWriter{ResponseWriter: w, d: dog}, r)
}

// copyBuffers lends the proxy the buffers it copies bodies through.
// Without a pool ReverseProxy allocates 32 KiB per request: half of all
// the bytes a proxied request allocated (BenchmarkGatewayLambdaVsHTTP
// -benchmem).
type copyBuffers struct{ pool sync.Pool }

// Get returns a buffer of 32 KiB.
func (p *copyBuffers) Get() []byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, 32<<10)
}

// Put takes back a buffer Get returned.
func (p *copyBuffers) Put(b []byte) { p.pool.Put(&b) }

// newProxy builds the one reverse proxy every request goes through.
func (t *Target) newProxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pt := pr.In.Context().Value(proxyTargetKey{}).(*proxyTarget)
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = pt.inst.addr()
			pr.Out.URL.Path = pt.path
			pr.Out.URL.RawPath = pt.rawPath
			pr.Out.Host = pt.fwd.Host // the public host, not the function's address
			pt.fwd.Apply(pr.Out.Header)
		},
		Transport: t.transport,
		// Responses of unknown length (chunked, a stream) and server-sent
		// events are flushed as the function writes them (ReverseProxy
		// does that by itself); one of known length is written as it
		// fills the buffer, not flushed after each write: flushing
		// after every write cost 19 % of the requests/s (bench/proxy).
		FlushInterval:  0,
		BufferPool:     &t.buffers,
		ErrorLog:       slog.NewLogLogger(t.log.Handler(), slog.LevelWarn),
		ErrorHandler:   t.proxyError,
		ModifyResponse: noteServerErrors,
	}
}

// proxyError answers a request neither proxy path could get an answer
// for: 504 when the function did not answer in time, 408 when the upload
// stalled, 413 for a body over the limit, 502 (naming an OOM kill when
// there was one) when the function is not answering.
func (t *Target) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	t.failed(w, r, r.Context().Value(proxyTargetKey{}).(*proxyTarget), err)
}

// failed is proxyError for a request whose proxyTarget is pt.
func (t *Target) failed(w http.ResponseWriter, r *http.Request, pt *proxyTarget, err error) {
	var tooLarge *http.MaxBytesError
	switch cause := context.Cause(pt.ctx); {
	case errors.Is(cause, errNoAnswer):
		pt.inst.noteFailure(r, observe.KindTimeout, "Timeout", fmt.Sprintf("the function did not answer within %s", pt.timeout), "")
		gateway.PlainError(w, http.StatusGatewayTimeout, fmt.Sprintf("function %s did not answer within %s", pt.fn.Key(), pt.timeout))
		return
	case errors.Is(cause, errIdle):
		// Nothing was answered yet, but an upload stalled.
		gateway.PlainError(w, http.StatusRequestTimeout, fmt.Sprintf("the request to function %s stalled: no byte for %s", pt.fn.Key(), functionIdleTimeout(pt.fn)))
		return
	case errors.As(err, &tooLarge):
		gateway.PlainError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body too large: function %s accepts at most %d MiB (body_limit in %s)", pt.fn.Key(), pt.limit>>20, stack.FileName))
		return
	}
	if pt.ctx.Err() == nil {
		if oom := pt.inst.outOfMemory(pt.began, false); oom != "" {
			pt.inst.log.Error("request failed: "+oom, "method", r.Method, "path", pt.path, "err", err)
			pt.inst.noteFailure(r, observe.KindOOM, "OutOfMemory", oom, "")
			gateway.PlainError(w, http.StatusBadGateway, oom)
			return
		}
		t.log.Warn("function not answering", "app", pt.inst.stage.App, "stage", pt.inst.stage.Stage,
			"function", pt.fn.Key(), "err", err)
	}
	pt.inst.noteFailure(r, observe.KindHTTP, "HTTP 502", "the function is not answering", "")
	gateway.PlainError(w, http.StatusBadGateway, fmt.Sprintf("function %s is not answering", pt.fn.Key()))
}
