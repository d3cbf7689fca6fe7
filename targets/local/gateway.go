package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/seedbed/seedbed/targets"
)

// Gateway returns the HTTP handler that routes requests to the functions of
// every stage:
//
//   - by path: /APP/STAGE/rest is matched as "/rest" against the stage's
//     routes and proxied with the prefix stripped (X-Forwarded-Prefix
//     carries it);
//   - by host, when Config.Domain is set: STAGE--APP.<Domain>/path is
//     matched and proxied with its full path.
//
// An HTTP function gets the request proxied; a Lambda-style function gets
// it as an API Gateway HTTP API (payload 2.0) event (see serveLambda); a
// static function's files are served from its artifact (see static.go).
// Functions see the host the client used and the client's address, in
// headers only the gateway sets (see forwarded.go).
//
// It answers 404 when no stage or route matches, 405 when a route matches
// the path but not the method, 502 when the function does not answer (or
// fails; the body says so when the kernel stopped it for exceeding its
// memory) and 504 when it takes longer than its timeout (default 30s).
func (t *Target) Gateway() http.Handler { return guardConsoleCookies(gateway{t}) }

type gateway struct{ t *Target }

// proxyTarget travels in the request context from ServeHTTP to the proxy.
type proxyTarget struct {
	inst    *instance
	fn      targets.Function
	path    string // the path the function sees, decoded
	rawPath string // the same, as the client escaped it
	fwd     forwarding
	timeout time.Duration
	began   time.Time
}

type proxyTargetKey struct{}

func (g gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ref, rest, prefix, ok := g.t.resolve(r)
	if !ok {
		notFound(w, "no app and stage in the request: use /APP/STAGE/path"+g.t.hostHint())
		return
	}
	segs := splitEscapedPath(rest)
	// A route lookup races with Apply swapping tables and draining the old
	// instances; an instance that refuses the request is being replaced,
	// and the next lookup finds its successor.
	for range 5 {
		table := g.t.table(ref)
		if table == nil {
			notFound(w, fmt.Sprintf("stage %s is not deployed (%s %s)", ref, r.Method, rest))
			return
		}
		rt, allowed := table.match(r.Method, segs)
		if rt == nil && len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			plainError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed for %s on %s (allowed: %s)", r.Method, rest, ref, strings.Join(allowed, ", ")))
			return
		}
		if rt == nil {
			notFound(w, fmt.Sprintf("no route of %s matches %s %s", ref, r.Method, rest))
			return
		}
		if rt.inst == nil || !rt.inst.acquire() {
			continue
		}
		g.serve(w, r, ref, rt, segs, rest, prefix)
		return
	}
	plainError(w, http.StatusServiceUnavailable, fmt.Sprintf("stage %s is switching releases; try again", ref))
}

func (g gateway) serve(w http.ResponseWriter, r *http.Request, ref targets.StageRef, rt *route, segs []string, rest, prefix string) {
	defer rt.inst.release()
	switch {
	case rt.inst.site != nil:
		rt.inst.site.serve(w, r, rt, segs)
		return
	case rt.inst.api != nil:
		g.serveLambda(w, r, ref, rt, segs, rest, prefix)
		return
	}
	timeout := functionTimeout(rt.fn)
	path, err := url.PathUnescape(rest)
	if err != nil {
		path = rest
	}
	pt := &proxyTarget{inst: rt.inst, fn: rt.fn, path: path, rawPath: rest, fwd: g.t.forwardingOf(r, prefix), timeout: timeout, began: time.Now()}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	g.t.proxy.ServeHTTP(w, r.WithContext(context.WithValue(ctx, proxyTargetKey{}, pt)))
}

// resolve finds the stage a request is for, the escaped path to match
// against its routes and the prefix that was stripped.
func (t *Target) resolve(r *http.Request) (ref targets.StageRef, rest, prefix string, ok bool) {
	if t.cfg.Domain != "" {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.ToLower(strings.TrimSuffix(host, "."))
		if label, found := strings.CutSuffix(host, "."+t.cfg.Domain); found && !strings.Contains(label, ".") {
			if stage, app, found := strings.Cut(label, "--"); found && stage != "" && app != "" {
				return targets.StageRef{App: app, Stage: stage}, r.URL.EscapedPath(), "", true
			}
		}
	}
	escaped := strings.TrimPrefix(r.URL.EscapedPath(), "/")
	parts := strings.SplitN(escaped, "/", 3)
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return ref, "", "", false
	}
	app, err1 := url.PathUnescape(parts[0])
	stage, err2 := url.PathUnescape(parts[1])
	if err1 != nil || err2 != nil {
		return ref, "", "", false
	}
	rest = "/"
	if len(parts) == 3 {
		rest += parts[2]
	}
	return targets.StageRef{App: app, Stage: stage}, rest, "/" + parts[0] + "/" + parts[1], true
}

func (t *Target) hostHint() string {
	if t.cfg.Domain == "" {
		return ""
	}
	return " or the host STAGE--APP." + t.cfg.Domain
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
			pr.Out.Host = pt.fwd.host // the public host, not the function's address
			pt.fwd.apply(pr.Out.Header)
		},
		Transport:     t.transport,
		FlushInterval: -1, // stream responses as the function writes them
		ErrorLog:      slog.NewLogLogger(t.log.Handler(), slog.LevelWarn),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			pt := r.Context().Value(proxyTargetKey{}).(*proxyTarget)
			if errors.Is(r.Context().Err(), context.DeadlineExceeded) {
				plainError(w, http.StatusGatewayTimeout, fmt.Sprintf("function %s did not answer within %s", pt.fn.Key(), pt.timeout))
				return
			}
			if r.Context().Err() == nil {
				if oom := pt.inst.outOfMemory(pt.began, false); oom != "" {
					pt.inst.log.Error("request failed: "+oom, "method", r.Method, "path", pt.path, "err", err)
					plainError(w, http.StatusBadGateway, oom)
					return
				}
				t.log.Warn("function not answering", "app", pt.inst.stage.App, "stage", pt.inst.stage.Stage,
					"function", pt.fn.Key(), "err", err)
			}
			plainError(w, http.StatusBadGateway, fmt.Sprintf("function %s is not answering", pt.fn.Key()))
		},
		ModifyResponse: modifyResponseCookies, // see cookies.go
	}
}

func notFound(w http.ResponseWriter, msg string) {
	plainError(w, http.StatusNotFound, "not found: "+msg)
}

func plainError(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(msg)+1))
	w.WriteHeader(code)
	_, _ = fmt.Fprintln(w, msg)
}
