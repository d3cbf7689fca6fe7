// Package gateway is the front door of every function Seedbed runs: it
// finds the app and stage a request is for, matches it against the stage's
// routes and hands it to whatever serves the matched function on the
// stage's target. It knows nothing of processes, pods or artifacts; a
// target publishes a Table per stage whose routes point at Upstreams, and
// the gateway only routes, tells functions their public address (see
// forwarded.go) and keeps the console's cookies away from them (see
// cookies.go).
package gateway

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/seedbed/seedbed/metrics/observe"
	"github.com/seedbed/seedbed/targets"
)

// Config tunes the gateway.
type Config struct {
	// Domain enables host routing: a request for STAGE--APP.<Domain> is
	// routed to that stage with its full path. Path routing
	// (/APP/STAGE/path) always works.
	Domain string
	// TrustedProxies are the networks of reverse proxies in front of the
	// gateway (--trusted-proxies, as the console has it): from them the
	// client's address and scheme are taken from X-Forwarded-For and
	// X-Forwarded-Proto.
	TrustedProxies []*net.IPNet
	// Observer, when set, hears of every request handed to a function
	// (see observe.go); nil observes nothing and costs nothing.
	Observer observe.Observer
	// Domains tells the stage a custom domain belongs to; a request whose
	// host is one goes to that stage with its full path. Nil: no custom
	// domains.
	Domains Domains
	// Async takes requests sent with X-Seedbed-Invocation-Type: Event
	// (see async.go); nil answers them 501.
	Async Async
	// Queues takes messages POSTed to /APP/STAGE/_seedbed/queues/NAME;
	// nil answers them 501.
	Queues QueueSender
	// QueueTokens checks the stage's send token every such message must
	// carry (queuesend.go); nil refuses every message.
	QueueTokens QueueTokens
	// SQS checks the SigV4 credentials of the SQS-compatible endpoint at
	// /APP/STAGE/_seedbed/sqs (sqs.go); nil answers it 501.
	SQS SQSCredentials
}

// Domains looks custom domains up (package domains does, in the database).
type Domains interface {
	// StageOf tells the stage host (lower case, without port) belongs to;
	// ok is false for a name that is no stage's domain.
	StageOf(ctx context.Context, host string) (ref targets.StageRef, ok bool, err error)
}

// Tables gives the gateway the routes a stage serves now. A target (or a
// set of targets, one per stage) implements it.
type Tables interface {
	// Table returns the stage's current table, or nil when the stage is not
	// deployed. The table must not change once returned: a new release is
	// a new table.
	Table(ref targets.StageRef) *Table
}

// Upstream serves the requests of one function on a target: a process on
// this machine, a Kubernetes Service, a directory of static files.
type Upstream interface {
	// Acquire reserves the upstream for one request. It returns false when
	// the upstream is being replaced; the gateway then looks the route up
	// again and finds its successor.
	Acquire() bool
	// Release ends a request Acquire admitted.
	Release()
	// Serve answers the request. The gateway has already routed it and
	// filtered its cookies; c says what it matched.
	Serve(w http.ResponseWriter, r *http.Request, c *Call)
}

// Call is what the gateway knows about a routed request.
type Call struct {
	Stage targets.StageRef
	Route *Route
	// Segments are the decoded segments of the path the function sees.
	Segments []string
	// RawPath is the path the function sees, escaped as the client sent it
	// (the request path without /APP/STAGE under path routing).
	RawPath string
	// Forwarding is how the request reached the gateway, for the headers
	// (or event fields) a function learns its public address from.
	Forwarding Forwarding
}

// Path is the path the function sees, decoded.
func (c *Call) Path() string {
	p, err := url.PathUnescape(c.RawPath)
	if err != nil {
		return c.RawPath
	}
	return p
}

// Gateway routes requests to the functions of every stage:
//
//   - by path: /APP/STAGE/rest is matched as "/rest" against the stage's
//     routes and handed on with the prefix stripped (X-Forwarded-Prefix
//     carries it);
//   - by host, when Config.Domain is set: STAGE--APP.<Domain>/path is
//     matched and handed on with its full path.
//
// It answers 404 when no stage or route matches, 405 when a route matches
// the path but not the method, and 503 when a stage keeps switching
// releases under the request; everything else is the upstream's answer.
type Gateway struct {
	cfg     Config
	tables  Tables
	handler http.Handler
}

// New returns a gateway over the stages tables publishes.
func New(cfg Config, tables Tables) *Gateway {
	cfg.Domain = strings.ToLower(strings.Trim(cfg.Domain, "."))
	g := &Gateway{cfg: cfg, tables: tables}
	g.handler = guardConsoleCookies(http.HandlerFunc(g.route))
	return g
}

// ServeHTTP routes one request.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.handler.ServeHTTP(w, r) }

func (g *Gateway) route(w http.ResponseWriter, r *http.Request) {
	ref, ok, err := g.customDomain(r)
	if err != nil {
		PlainError(w, http.StatusServiceUnavailable, "cannot tell which stage "+r.Host+" belongs to right now; try again")
		return
	}
	rest, prefix := r.URL.EscapedPath(), ""
	if !ok {
		ref, rest, prefix, ok = g.resolve(r)
	}
	if !ok {
		NotFound(w, "no app and stage in the request: use /APP/STAGE/path"+g.hostHint())
		return
	}
	if name, ok := strings.CutPrefix(rest, QueuePrefix); ok && name != "" && !strings.Contains(name, "/") {
		g.serveQueueSend(w, r, ref, name)
		return
	}
	if rest == SQSPath || rest == SQSPath+"/" {
		g.serveSQS(w, r, ref, prefix)
		return
	}
	segs := splitEscapedPath(rest)
	// A route lookup races with a target swapping tables and draining the
	// old upstreams; an upstream that refuses the request is being
	// replaced, and the next lookup finds its successor.
	for range 5 {
		table := g.tables.Table(ref)
		if table == nil {
			NotFound(w, fmt.Sprintf("stage %s is not deployed (%s %s)", ref, r.Method, rest))
			return
		}
		rt, allowed := table.Match(r.Method, segs)
		if rt == nil && len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			PlainError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed for %s on %s (allowed: %s)", r.Method, rest, ref, strings.Join(allowed, ", ")))
			return
		}
		if rt == nil {
			NotFound(w, fmt.Sprintf("no route of %s matches %s %s", ref, r.Method, rest))
			return
		}
		up := rt.upstream
		if async, ok := asyncType(r); !ok {
			PlainError(w, http.StatusBadRequest, InvocationTypeHeader+" must be Event (do not wait for the function) or RequestResponse")
			return
		} else if async && up != nil {
			g.serveAsync(w, r, &Call{Stage: ref, Route: rt, Segments: segs, RawPath: rest, Forwarding: g.forwardingOf(r, prefix)}, up)
			return
		}
		if up == nil || !up.Acquire() {
			continue
		}
		c := &Call{Stage: ref, Route: rt, Segments: segs, RawPath: rest, Forwarding: g.forwardingOf(r, prefix)}
		g.serve(w, r, up, c)
		return
	}
	PlainError(w, http.StatusServiceUnavailable, fmt.Sprintf("stage %s is switching releases; try again", ref))
}

// resolve finds the stage a request is for, the escaped path to match
// against its routes and the prefix that was stripped.
func (g *Gateway) resolve(r *http.Request) (ref targets.StageRef, rest, prefix string, ok bool) {
	if g.cfg.Domain != "" {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.ToLower(strings.TrimSuffix(host, "."))
		if label, found := strings.CutSuffix(host, "."+g.cfg.Domain); found && !strings.Contains(label, ".") {
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

// customDomain finds the stage whose custom domain the request's host is;
// host routing names (STAGE--APP.<Domain>) and IP addresses are none.
func (g *Gateway) customDomain(r *http.Request) (targets.StageRef, bool, error) {
	if g.cfg.Domains == nil {
		return targets.StageRef{}, false, nil
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "" || net.ParseIP(strings.Trim(host, "[]")) != nil || (g.cfg.Domain != "" && strings.HasSuffix(host, "."+g.cfg.Domain)) {
		return targets.StageRef{}, false, nil
	}
	return g.cfg.Domains.StageOf(r.Context(), host)
}

func (g *Gateway) hostHint() string {
	if g.cfg.Domain == "" {
		return ""
	}
	return " or the host STAGE--APP." + g.cfg.Domain
}

// NotFound answers 404 with msg, in plain text.
func NotFound(w http.ResponseWriter, msg string) {
	PlainError(w, http.StatusNotFound, "not found: "+msg)
}

// PlainError answers code with msg as a line of plain text: the gateway's
// own answers, which no function wrote.
func PlainError(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(msg)+1))
	w.WriteHeader(code)
	_, _ = fmt.Fprintln(w, msg)
}
