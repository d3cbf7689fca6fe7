package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/seedbed/seedbed/targets"
)

// echoUpstream answers with the stage and the path the function sees.
type echoUpstream struct{}

func (echoUpstream) Acquire() bool { return true }
func (echoUpstream) Release()      {}
func (echoUpstream) Serve(w http.ResponseWriter, r *http.Request, c *Call) {
	io.WriteString(w, c.Stage.String()+" "+c.RawPath+" prefix="+c.Forwarding.Prefix)
}

// stageTables serves one table for every stage.
type stageTables struct{ table *Table }

func (s stageTables) Table(targets.StageRef) *Table { return s.table }

// fakeDomains knows some custom domains; a lookup of "broken.example"
// fails as a database outage would.
type fakeDomains map[string]targets.StageRef

func (f fakeDomains) StageOf(_ context.Context, host string) (targets.StageRef, bool, error) {
	if host == "broken.example" {
		return targets.StageRef{}, false, errors.New("database is down")
	}
	ref, ok := f[host]
	return ref, ok, nil
}

func TestCustomDomainRouting(t *testing.T) {
	table, err := NewTable([]targets.Function{routedFn("all", "ANY /{rest+}")})
	if err != nil {
		t.Fatal(err)
	}
	table.Bind(func(string) Upstream { return echoUpstream{} })
	domains := fakeDomains{"api.example.com": {App: "shop", Stage: "prod"}, "dev--other.apps.test": {App: "shop", Stage: "prod"}}
	gw := New(Config{Domain: "apps.test", Domains: domains}, stageTables{table})
	tests := []struct {
		name, host, path string
		status           int
		body             string
	}{
		{name: "custom domain gets the full path", host: "api.example.com", path: "/shop/dev/x", status: 200, body: "shop/prod /shop/dev/x prefix="},
		{name: "custom domain with port and case", host: "API.example.com.:8443", path: "/a", status: 200, body: "shop/prod /a prefix="},
		{name: "host routing is not a custom domain", host: "dev--shop.apps.test", path: "/a", status: 200, body: "shop/dev /a prefix="},
		{name: "a registered name under the routing domain does not win", host: "dev--other.apps.test", path: "/a", status: 200, body: "other/dev /a prefix="},
		{name: "other hosts route by path", host: "127.0.0.1:8081", path: "/shop/dev/a", status: 200, body: "shop/dev /a prefix=/shop/dev"},
		{name: "unknown names route by path", host: "other.example", path: "/shop/dev/a", status: 200, body: "shop/dev /a prefix=/shop/dev"},
		{name: "a failed lookup is no fallback to path routing", host: "broken.example", path: "/shop/dev/a", status: 503},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "http://x"+tc.path, nil)
			req.Host = tc.host
			rec := httptest.NewRecorder()
			gw.ServeHTTP(rec, req)
			if rec.Code != tc.status || (tc.body != "" && rec.Body.String() != tc.body) {
				t.Fatalf("%s %s: %d %q, want %d %q", tc.host, tc.path, rec.Code, rec.Body.String(), tc.status, tc.body)
			}
		})
	}
	// Without the hook nothing changes.
	plain := New(Config{Domain: "apps.test"}, stageTables{table})
	req := httptest.NewRequest(http.MethodGet, "http://x/shop/dev/a", nil)
	req.Host = "api.example.com"
	rec := httptest.NewRecorder()
	plain.ServeHTTP(rec, req)
	if rec.Body.String() != "shop/dev /a prefix=/shop/dev" {
		t.Fatalf("without Domains: %q", rec.Body.String())
	}
}
