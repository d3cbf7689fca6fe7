package local

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Through the gateway, a real function process gets no console cookie and
// cannot set one (issue 10, item 2: a function replayed the admin's
// session and planted the CSRF cookie).
func TestGatewayKeepsConsoleCookiesFromFunctions(t *testing.T) {
	b := setup(t)
	b.apply(t, shopDev, goFn("web", "v1", nil, "ANY /{proxy+}"))
	q := url.Values{"set": {
		"seedbed_csrf=attackerchosen; Path=/",
		"seedbed_session=stolen; Path=/; HttpOnly",
		"__Host-seedbed_session=x; Path=/; Secure",
		"__secure-Seedbed_Flash=x",
		"=seedbed_csrf=nameless",
		"cart=3; Path=/",
	}}
	for _, via := range []struct{ name, host, path string }{
		{"path routing", "", "/shop/dev/cookies"},
		{"host routing", "dev--shop.localhost", "/cookies"},
	} {
		t.Run(via.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, b.server.URL+via.path+"?"+q.Encode(), nil)
			if via.host != "" {
				req.Host = via.host
			}
			req.Header.Add("Cookie", "seedbed_session=admin-secret; cart=3")
			req.Header.Add("Cookie", "__Host-seedbed_csrf=tok; theme=dark")
			resp, err := b.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if got := strings.TrimSpace(string(body)); got != "cookie: cart=3; theme=dark" {
				t.Errorf("the function got %q, want only its own cookies", got)
			}
			if got := resp.Header.Values("Set-Cookie"); len(got) != 1 || got[0] != "cart=3; Path=/" {
				t.Errorf("Set-Cookie reaching the browser: %q, want only the function's own cart cookie", got)
			}
		})
	}
}
