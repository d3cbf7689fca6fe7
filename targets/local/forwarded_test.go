package local

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/gateway"
	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/targets"
)

// trustLoopback2 makes 127.0.0.2 a trusted proxy (see clientFrom).
func trustLoopback2(t testing.TB) []*net.IPNet {
	t.Helper()
	_, n, err := net.ParseCIDR("127.0.0.2/32")
	if err != nil {
		t.Fatal(err)
	}
	return []*net.IPNet{n}
}

// clientFrom makes an HTTP client whose connections come from the loopback
// address ip, so that tests can be a trusted proxy (127.0.0.2) or not.
func clientFrom(t testing.TB, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// forwardCall is one request of the forwarding tests.
type forwardCall struct {
	from   string // the client's loopback address
	host   string // Host, if not the server's
	path   string
	header http.Header
}

func (b *bundle) forwardCall(t *testing.T, c forwardCall) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, b.server.URL+c.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.host != "" {
		req.Host = c.host
	}
	for k, vs := range c.header {
		req.Header[k] = vs
	}
	resp, err := clientFrom(t, c.from).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", c.path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", c.path, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", c.path, resp.StatusCode, body)
	}
	return resp, body
}

// spoof is what a client sends to pass for someone else, somewhere else.
func spoof() http.Header {
	return http.Header{
		"X-Forwarded-For":    {"203.0.113.66"},
		"X-Forwarded-Host":   {"evil.example"},
		"X-Forwarded-Proto":  {"https"},
		"X-Forwarded-Port":   {"443"},
		"X-Forwarded-Prefix": {"/evil"},
		"X-Forwarded-Ssl":    {"on"},
		"X_Forwarded_For":    {"203.0.113.67"},
		"Forwarded":          {"for=203.0.113.66;host=evil.example;proto=https"},
		"X-Real-Ip":          {"203.0.113.66"},
		"True-Client-Ip":     {"203.0.113.66"},
	}
}

func TestGatewayTellsFunctionsTheirPublicAddress(t *testing.T) {
	b := setupWith(t, gateway.Config{Domain: "localhost", TrustedProxies: trustLoopback2(t)})
	b.apply(t, shopDev, goFn("hello", "v1", nil, "GET /headers"))
	server := strings.TrimPrefix(b.server.URL, "http://")
	_, port, _ := net.SplitHostPort(server)

	tests := []struct {
		name     string
		call     forwardCall
		wantHost string
		want     map[string]string // every forwarding header the function gets
	}{
		{
			name: "path routing", call: forwardCall{from: "127.0.0.1", path: "/shop/dev/headers"},
			wantHost: server,
			want: map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Host": server, "X-Forwarded-Proto": "http",
				"X-Forwarded-Port": port, "X-Forwarded-Prefix": "/shop/dev", "X-Real-Ip": "127.0.0.1",
				"Forwarded": `for=127.0.0.1;host="` + server + `";proto=http`},
		},
		{
			name: "host routing", call: forwardCall{from: "127.0.0.3", host: "dev--shop.localhost:8080", path: "/headers"},
			wantHost: "dev--shop.localhost:8080",
			want: map[string]string{"X-Forwarded-For": "127.0.0.3", "X-Forwarded-Host": "dev--shop.localhost:8080", "X-Forwarded-Proto": "http",
				"X-Forwarded-Port": "8080", "X-Real-Ip": "127.0.0.3",
				"Forwarded": `for=127.0.0.3;host="dev--shop.localhost:8080";proto=http`},
		},
		{
			name: "a client's own forwarding headers are replaced", call: forwardCall{from: "127.0.0.1", path: "/shop/dev/headers", header: spoof()},
			wantHost: server,
			want: map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Host": server, "X-Forwarded-Proto": "http",
				"X-Forwarded-Port": port, "X-Forwarded-Prefix": "/shop/dev", "X-Real-Ip": "127.0.0.1",
				"Forwarded": `for=127.0.0.1;host="` + server + `";proto=http`},
		},
		{
			name: "host routing replaces a client's prefix", call: forwardCall{from: "127.0.0.1", host: "dev--shop.localhost", path: "/headers", header: spoof()},
			wantHost: "dev--shop.localhost",
			want: map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Host": "dev--shop.localhost", "X-Forwarded-Proto": "http",
				"X-Forwarded-Port": "80", "X-Real-Ip": "127.0.0.1", "Forwarded": `for=127.0.0.1;host=dev--shop.localhost;proto=http`},
		},
		{
			name: "a trusted proxy's chain and scheme count, its host does not",
			call: forwardCall{from: "127.0.0.2", host: "dev--shop.localhost", path: "/headers", header: http.Header{
				"X-Forwarded-For": {"203.0.113.7"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"evil.example"}, "Forwarded": {"for=x"}}},
			wantHost: "dev--shop.localhost",
			want: map[string]string{"X-Forwarded-For": "203.0.113.7, 127.0.0.2", "X-Forwarded-Host": "dev--shop.localhost", "X-Forwarded-Proto": "https",
				"X-Forwarded-Port": "443", "X-Real-Ip": "203.0.113.7", "Forwarded": `for=203.0.113.7;host=dev--shop.localhost;proto=https`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, body := b.forwardCall(t, tt.call)
			var got struct {
				Host    string      `json:"host"`
				Headers http.Header `json:"headers"`
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("decode %s: %v", body, err)
			}
			if got.Host != tt.wantHost {
				t.Errorf("Host = %q, want %q", got.Host, tt.wantHost)
			}
			for k, v := range tt.want {
				if vs := got.Headers.Values(k); !slices.Equal(vs, []string{v}) {
					t.Errorf("%s = %q, want %q", k, vs, v)
				}
			}
			for k, vs := range got.Headers {
				if _, ok := tt.want[k]; !ok && gateway.IsForwardingHeader(k) {
					t.Errorf("the function got %s: %q", k, vs)
				}
			}
		})
	}
}

func TestLambdaEventCarriesPublicAddress(t *testing.T) {
	b := setupWith(t, gateway.Config{Domain: "localhost", TrustedProxies: trustLoopback2(t)}, withTrees)
	b.apply(t, shopDev, lambdaFn("go", "bootstrap", "go-lambda", nil))
	server := strings.TrimPrefix(b.server.URL, "http://")

	tests := []struct {
		name       string
		call       forwardCall
		wantDomain string
		wantSource string
		want       map[string]string // headers; "" means absent
	}{
		{
			name: "path routing", call: forwardCall{from: "127.0.0.3", path: "/shop/dev/echo"},
			wantDomain: "127.0.0.1", wantSource: "127.0.0.3",
			want: map[string]string{"host": server, "x-forwarded-host": server, "x-forwarded-for": "127.0.0.3",
				"x-forwarded-proto": "http", "x-forwarded-prefix": "/shop/dev"},
		},
		{
			name: "host routing", call: forwardCall{from: "127.0.0.1", host: "dev--shop.localhost:8080", path: "/echo"},
			wantDomain: "dev--shop.localhost", wantSource: "127.0.0.1",
			want: map[string]string{"host": "dev--shop.localhost:8080", "x-forwarded-host": "dev--shop.localhost:8080",
				"x-forwarded-for": "127.0.0.1", "x-forwarded-port": "8080", "x-forwarded-prefix": ""},
		},
		{
			name: "a client's spoof is replaced", call: forwardCall{from: "127.0.0.1", host: "dev--shop.localhost", path: "/echo", header: spoof()},
			wantDomain: "dev--shop.localhost", wantSource: "127.0.0.1",
			want: map[string]string{"host": "dev--shop.localhost", "x-forwarded-host": "dev--shop.localhost", "x-forwarded-for": "127.0.0.1",
				"x-forwarded-proto": "http", "x-forwarded-prefix": "", "x-forwarded-ssl": "", "x_forwarded_for": "", "true-client-ip": "",
				"x-real-ip": "127.0.0.1", "forwarded": "for=127.0.0.1;host=dev--shop.localhost;proto=http"},
		},
		{
			name: "behind a trusted proxy",
			call: forwardCall{from: "127.0.0.2", host: "dev--shop.localhost", path: "/echo", header: http.Header{
				"X-Forwarded-For": {"203.0.113.7"}, "X-Forwarded-Proto": {"https"}}},
			wantDomain: "dev--shop.localhost", wantSource: "203.0.113.7",
			want: map[string]string{"x-forwarded-for": "203.0.113.7, 127.0.0.2", "x-forwarded-proto": "https", "x-forwarded-port": "443"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, body := b.forwardCall(t, tt.call)
			var e echoReply
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("decode %s: %v", body, err)
			}
			if e.DomainName != tt.wantDomain || e.SourceIP != tt.wantSource {
				t.Errorf("requestContext.domainName %q, http.sourceIp %q; want %q, %q", e.DomainName, e.SourceIP, tt.wantDomain, tt.wantSource)
			}
			for k, v := range tt.want {
				if got, ok := e.Headers[k]; got != v || ok != (v != "") {
					t.Errorf("headers[%q] = %q (present %v), want %q", k, got, ok, v)
				}
			}
		})
	}
}

// The event of a request the gateway builds is independent of the
// function: buildEvent alone, for what needs no process.
func TestBuildEventForwarding(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/echo", nil)
	r.Host, r.RemoteAddr = "dev--shop.example.com", "[2001:db8::5]:4000"
	r.Header.Set("X-Forwarded-For", "203.0.113.66")
	table, err := gateway.NewTable([]targets.Function{{Service: "api", Name: "echo", Routes: []stack.Route{{Method: "GET", Path: "/echo"}}}})
	if err != nil {
		t.Fatal(err)
	}
	fwd := gateway.Forwarding{Host: r.Host, Proto: "http", Port: "80", Client: "2001:db8::5", Chain: "2001:db8::5"}
	call := &gateway.Call{Stage: targets.StageRef{App: "shop", Stage: "dev"}, Route: table.Routes()[0], Segments: []string{"echo"}, RawPath: "/echo", Forwarding: fwd}
	ev, err := buildEvent(r, nil, eventInput{call: call})
	if err != nil {
		t.Fatal(err)
	}
	var got apiGatewayEvent
	if err := json.Unmarshal(ev, &got); err != nil {
		t.Fatal(err)
	}
	if got.RequestContext.DomainName != "dev--shop.example.com" || got.RequestContext.DomainPrefix != "dev--shop" ||
		got.RequestContext.HTTP.SourceIP != "2001:db8::5" {
		t.Errorf("requestContext = %+v", got.RequestContext)
	}
	if got.Headers["x-forwarded-for"] != "2001:db8::5" || got.Headers["forwarded"] != `for="[2001:db8::5]";host=dev--shop.example.com;proto=http` {
		t.Errorf("headers = %v", got.Headers)
	}
}
