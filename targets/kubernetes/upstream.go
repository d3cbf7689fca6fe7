package kubernetes

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/seedbed/seedbed/gateway"
	"github.com/seedbed/seedbed/targets"
)

// Seedbed's gateway fronts the kubernetes target as it fronts the local
// one: the target publishes, per stage, a gateway.Table whose upstreams are
// the functions' Services. A request is handed to the Service as the
// gateway received it — the same path (/APP/STAGE/… under path routing)
// and Host — with the gateway's forwarding headers, so that the runner in
// the pod routes it with the same gateway code and tells the function the
// same public address the local target would. Reaching a Service's
// cluster DNS name needs seedbed serve to run in the cluster (see
// docs/kubernetes.md for why this, and not an Ingress or HTTPRoute).

var _ gateway.Tables = (*Target)(nil)

// Table returns the route table of stage as last applied by this target,
// or nil; it implements gateway.Tables.
func (t *Target) Table(ref targets.StageRef) *gateway.Table {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tables[ref]
}

// ServiceURL is the address of a function's Service inside the cluster.
func ServiceURL(namespace, service string) string {
	return fmt.Sprintf("http://%s.%s.svc:%d", service, namespace, ServicePort)
}

// publish builds and stores stage's gateway table for st.
func (t *Target) publish(st *stagePlan) error {
	table, err := gateway.NewTable(st.sortedFunctions())
	if err != nil {
		return err
	}
	ups := map[string]gateway.Upstream{}
	for _, p := range st.fns {
		u, err := url.Parse(t.serviceURL(t.cfg.Namespace, p.base))
		if err != nil {
			return fmt.Errorf("function %s: service address: %w", p.fn.Key(), err)
		}
		ups[p.fn.Key()] = &serviceUpstream{svc: u, proxy: t.proxy}
	}
	table.Bind(func(key string) gateway.Upstream { return ups[key] })
	t.mu.Lock()
	t.tables[st.ref] = table
	t.mu.Unlock()
	return nil
}

// serviceUpstream hands requests to one function's Service.
type serviceUpstream struct {
	svc   *url.URL
	proxy *httputil.ReverseProxy
}

// Acquire always admits: the Service, not Seedbed, drains old pods.
func (u *serviceUpstream) Acquire() bool { return true }

// Release ends a request.
func (u *serviceUpstream) Release() {}

type callKey struct{}

type upstreamCall struct {
	svc *url.URL
	c   *gateway.Call
}

// Serve proxies the request to the Service.
func (u *serviceUpstream) Serve(w http.ResponseWriter, r *http.Request, c *gateway.Call) {
	timeout := 30 * time.Second
	if fn := c.Route.Function(); fn.Timeout > 0 {
		timeout = fn.Timeout + 5*time.Second // the runner answers 504 first
	}
	ctx, cancel := contextWithTimeout(r, timeout)
	defer cancel()
	u.proxy.ServeHTTP(w, r.WithContext(withCall(ctx, &upstreamCall{svc: u.svc, c: c})))
}

func newServiceProxy(transport http.RoundTripper) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			uc := callOf(pr.In.Context())
			pr.Out.URL.Scheme = uc.svc.Scheme
			pr.Out.URL.Host = uc.svc.Host
			// Path and query stay as the client sent them: the runner
			// routes them again, to the one function it runs.
			pr.Out.Host = uc.c.Forwarding.Host
			uc.c.Forwarding.Apply(pr.Out.Header)
			// The runner trusts its only caller, the gateway: give it the
			// client the gateway settled on, not the chain it came through.
			pr.Out.Header.Set("X-Forwarded-For", uc.c.Forwarding.Client)
		},
		Transport: transport,
		// As the local target's proxy: responses of unknown length and
		// server-sent events flush as written, others as they fill the
		// buffer.
		FlushInterval: 0,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			uc := callOf(r.Context())
			gateway.PlainError(w, http.StatusBadGateway, fmt.Sprintf("function %s is not answering (service %s: %v)", uc.c.Route.Function().Key(), uc.svc.Host, err))
		},
	}
}

func contextWithTimeout(r *http.Request, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), d)
}

func withCall(ctx context.Context, uc *upstreamCall) context.Context {
	return context.WithValue(ctx, callKey{}, uc)
}

func callOf(ctx context.Context) *upstreamCall { return ctx.Value(callKey{}).(*upstreamCall) }
