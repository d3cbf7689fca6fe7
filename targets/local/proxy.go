package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"time"

	"github.com/seedbed/seedbed/gateway"
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
}

type proxyTargetKey struct{}

// serveHTTP proxies a request to an HTTP function's process, within the
// function's timeout (default 30s): 504 past it, 502 when the process does
// not answer (saying so when the kernel stopped it for its memory).
func (in *instance) serveHTTP(w http.ResponseWriter, r *http.Request, c *gateway.Call) {
	fn := c.Route.Function()
	timeout := functionTimeout(fn)
	pt := &proxyTarget{inst: in, fn: fn, path: c.Path(), rawPath: c.RawPath, fwd: c.Forwarding, timeout: timeout, began: time.Now()}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	in.t.proxy.ServeHTTP(w, r.WithContext(context.WithValue(ctx, proxyTargetKey{}, pt)))
}

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
		Transport:     t.transport,
		FlushInterval: -1, // stream responses as the function writes them
		ErrorLog:      slog.NewLogLogger(t.log.Handler(), slog.LevelWarn),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			pt := r.Context().Value(proxyTargetKey{}).(*proxyTarget)
			if errors.Is(r.Context().Err(), context.DeadlineExceeded) {
				gateway.PlainError(w, http.StatusGatewayTimeout, fmt.Sprintf("function %s did not answer within %s", pt.fn.Key(), pt.timeout))
				return
			}
			if r.Context().Err() == nil {
				if oom := pt.inst.outOfMemory(pt.began, false); oom != "" {
					pt.inst.log.Error("request failed: "+oom, "method", r.Method, "path", pt.path, "err", err)
					gateway.PlainError(w, http.StatusBadGateway, oom)
					return
				}
				t.log.Warn("function not answering", "app", pt.inst.stage.App, "stage", pt.inst.stage.Stage,
					"function", pt.fn.Key(), "err", err)
			}
			gateway.PlainError(w, http.StatusBadGateway, fmt.Sprintf("function %s is not answering", pt.fn.Key()))
		},
		ModifyResponse: gateway.DropConsoleCookies,
	}
}
