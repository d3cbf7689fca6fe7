package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web/apiv1"
)

// headersFunction answers with the Host and forwarding headers it got.
const headersFunction = `package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "host=%s for=%s proto=%s real=%s prefix=%s", r.Host, r.Header.Get("X-Forwarded-For"),
			r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Real-Ip"), r.Header.Get("X-Forwarded-Prefix"))
	})
	if err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`

// --trusted-proxies reaches the gateway: a function behind a trusted proxy
// learns the client's address and scheme from it, and a client's own
// claims count for nothing.
func TestGatewayForwardingHeaders(t *testing.T) {
	t.Parallel()
	a := startAppWith(t, embedded, func(c *Config) { c.TrustedProxyList = "127.0.0.2" })
	repo := testutil.NewRepo(t)
	repo.Commit("headers", map[string]string{
		"seedbed.yml":          stackFile(helloFunction),
		"services/api/go.mod":  goMod,
		"services/api/main.go": headersFunction,
	})
	if _, err := a.api.CreateApp(context.Background(), apiv1.CreateAppRequest{Name: "shop", RepoURL: repo.Dir, Branch: "main"}); err != nil {
		t.Fatalf("create app: %v", err)
	}
	a.mustDeploy("shop", "dev", "")

	claims := http.Header{"X-Forwarded-For": {"203.0.113.7"}, "X-Forwarded-Proto": {"https"}, "X-Real-Ip": {"203.0.113.9"}}
	tests := []struct {
		name string
		from string
		host string
		path string
		want string
	}{
		{name: "client, path routing", from: "127.0.0.1", path: "/shop/dev/hello",
			want: "host=" + a.gateway[len("http://"):] + " for=127.0.0.1 proto=http real=127.0.0.1 prefix=/shop/dev"},
		{name: "client, host routing", from: "127.0.0.1", host: "dev--shop.localhost", path: "/hello",
			want: "host=dev--shop.localhost for=127.0.0.1 proto=http real=127.0.0.1 prefix="},
		{name: "trusted proxy", from: "127.0.0.2", host: "dev--shop.localhost", path: "/hello",
			want: "host=dev--shop.localhost for=203.0.113.7, 127.0.0.2 proto=https real=203.0.113.7 prefix="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, a.gateway+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.host != "" {
				req.Host = tt.host
			}
			for k, vs := range claims {
				req.Header[k] = vs
			}
			d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(tt.from)}}
			tr := &http.Transport{DialContext: d.DialContext}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if err != nil {
				t.Fatalf("GET %s: %v", tt.path, err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || string(body) != tt.want {
				t.Errorf("GET %s from %s = %d %q\nwant 200 %q", tt.path, tt.from, resp.StatusCode, body, tt.want)
			}
		})
	}
}
