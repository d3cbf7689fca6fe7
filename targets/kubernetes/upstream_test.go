package kubernetes

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/seedbed/seedbed/gateway"
	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/targets"
)

type fixedLocator struct{}

func (fixedLocator) Locate(string) (string, string, error) { return "http://store", "tok", nil }

// TestGatewayHandsRequestsToTheFunctionsService checks what Seedbed's
// gateway sends a Service (a stand-in here: cluster addresses are not
// reachable from a test): the path and Host as the client sent them, so the
// runner in the pod can route them again, and the client the gateway
// settled on.
func TestGatewayHandsRequestsToTheFunctionsService(t *testing.T) {
	type seen struct {
		Host, Path, XFF, Prefix string
	}
	var services []string
	standIn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(seen{r.Host, r.URL.RequestURI(), r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Prefix")})
	}))
	defer standIn.Close()
	tg, err := New(Config{
		Client: fake.NewSimpleClientset(), Namespace: "apps", Image: "seedbed:1", Artifacts: fixedLocator{},
		ServiceURL: func(ns, svc string) string {
			services = append(services, ServiceURL(ns, svc))
			return standIn.URL
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ref := targets.StageRef{App: "shop", Stage: "prod"}
	fns := []targets.Function{
		{Service: "api", Name: "hello", Runtime: "go", Handler: "bootstrap", Digest: "sha256:" + strings.Repeat("a", 64),
			Routes: []stack.Route{{Method: "GET", Path: "/hello/{name}"}}},
		{Service: "api", Name: "orders", Runtime: "go", Handler: "bootstrap", Digest: "sha256:" + strings.Repeat("b", 64),
			Routes: []stack.Route{{Method: "POST", Path: "/orders"}}},
	}
	st, err := tg.plan(ref, fns)
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.publish(st); err != nil {
		t.Fatal(err)
	}
	want := []string{ServiceURL("apps", st.fns[0].base), ServiceURL("apps", st.fns[1].base)}
	if strings.Join(services, " ") != strings.Join(want, " ") {
		t.Errorf("services used: %v, want %v", services, want)
	}
	if want[0] != "http://"+st.fns[0].base+".apps.svc:80" {
		t.Errorf("service address %s", want[0])
	}

	gw := gateway.New(gateway.Config{Domain: "fn.example"}, tg)
	cases := []struct {
		name, method, url, host string
		code                    int
		want                    seen
	}{
		{"path routing", "GET", "/shop/prod/hello/ann?x=1", "gw.example", 200,
			seen{Host: "gw.example", Path: "/shop/prod/hello/ann?x=1", XFF: "192.0.2.1", Prefix: "/shop/prod"}},
		{"host routing", "GET", "/hello/bob", "prod--shop.fn.example", 200,
			seen{Host: "prod--shop.fn.example", Path: "/hello/bob", XFF: "192.0.2.1"}},
		{"no route", "GET", "/shop/prod/nothing", "gw.example", 404, seen{}},
		{"wrong method", "GET", "/shop/prod/orders", "gw.example", 405, seen{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.url, nil)
			r.Host = tc.host
			r.RemoteAddr = "192.0.2.1:5555"
			r.Header.Set("X-Forwarded-For", "6.6.6.6") // from an untrusted client: dropped
			w := httptest.NewRecorder()
			gw.ServeHTTP(w, r)
			body, _ := io.ReadAll(w.Result().Body)
			if w.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.code, body)
			}
			if tc.code != 200 {
				return
			}
			var got seen
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			if got != tc.want {
				t.Errorf("the service got %+v, want %+v", got, tc.want)
			}
		})
	}
	if tg.Table(targets.StageRef{App: "shop", Stage: "dev"}) != nil {
		t.Error("a stage never applied has a table")
	}
}
