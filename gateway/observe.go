package gateway

import (
	"net/http"

	"github.com/seedbed/seedbed/metrics/observe"
)

// InstanceReporter is an Upstream that tells metrics which instance
// serves a request and whether it is a cold start. Upstreams that do not
// implement it are observed without either.
type InstanceReporter interface {
	// ClaimRequest names the instance and reports whether this is the
	// first request it serves since it (re)started, marking it served.
	ClaimRequest() (instance string, cold bool)
}

// Upstream is what serves the route, or nil before the table is bound.
func (r *Route) Upstream() Upstream { return r.upstream }

// serve hands a routed request to its upstream, observed when the
// gateway has an Observer: status, duration and size of the answer, and
// why it failed when the upstream noted it (observe.NoteFailure).
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, up Upstream, c *Call) {
	defer up.Release()
	if g.cfg.Observer == nil {
		up.Serve(w, r, c)
		return
	}
	s := observe.Served{App: c.Stage.App, Stage: c.Stage.Stage, Function: c.Route.Function().Key(),
		Client: c.Forwarding.Client, Path: c.Path()}
	if ir, ok := up.(InstanceReporter); ok {
		s.Instance, s.ColdStart = ir.ClaimRequest()
	}
	w, r, finish := observe.Start(g.cfg.Observer, w, r)
	defer finish(s)
	up.Serve(w, r, c)
}
