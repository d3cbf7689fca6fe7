package gateway

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

func mustCIDR(t testing.TB, s string) *net.IPNet {
	t.Helper()
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestForwardingOf(t *testing.T) {
	tgt := &Gateway{cfg: Config{TrustedProxies: []*net.IPNet{mustCIDR(t, "10.0.0.0/8"), mustCIDR(t, "fd00::/8")}}}
	tests := []struct {
		name      string
		remote    string
		host      string
		header    http.Header
		tls       bool
		prefix    string
		want      Forwarding
		forwarded string // Forwarded, when checked
	}{
		{
			name: "direct client", remote: "192.0.2.5:4000", host: "shop.example:8081", prefix: "/shop/dev",
			want:      Forwarding{Host: "shop.example:8081", Proto: "http", Port: "8081", Client: "192.0.2.5", Chain: "192.0.2.5", Prefix: "/shop/dev"},
			forwarded: `for=192.0.2.5;host="shop.example:8081";proto=http`,
		},
		{
			name: "direct client's claims are ignored", remote: "192.0.2.5:4000", host: "dev--shop.example",
			header: http.Header{"X-Forwarded-For": {"203.0.113.66"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"evil.example"}},
			want:   Forwarding{Host: "dev--shop.example", Proto: "http", Port: "80", Client: "192.0.2.5", Chain: "192.0.2.5"},
		},
		{
			name: "TLS", remote: "192.0.2.5:4000", host: "dev--shop.example", tls: true,
			want: Forwarding{Host: "dev--shop.example", Proto: "https", Port: "443", Client: "192.0.2.5", Chain: "192.0.2.5"},
		},
		{
			name: "trusted proxy", remote: "10.0.0.2:5000", host: "dev--shop.example",
			header: http.Header{"X-Forwarded-For": {"198.51.100.1, 203.0.113.7"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"evil.example"}},
			want: Forwarding{Host: "dev--shop.example", Proto: "https", Port: "443", Client: "203.0.113.7",
				Chain: "198.51.100.1, 203.0.113.7, 10.0.0.2"},
			forwarded: `for=203.0.113.7;host=dev--shop.example;proto=https`,
		},
		{
			name: "two trusted proxies, chain in two lines", remote: "10.0.0.2:5000", host: "dev--shop.example",
			header: http.Header{"X-Forwarded-For": {"203.0.113.7", "10.0.0.3"}},
			want:   Forwarding{Host: "dev--shop.example", Proto: "http", Port: "80", Client: "203.0.113.7", Chain: "203.0.113.7, 10.0.0.3, 10.0.0.2"},
		},
		{
			name: "garbage in the chain stops at the last trusted hop", remote: "10.0.0.2:5000", host: "h",
			header: http.Header{"X-Forwarded-For": {"203.0.113.7, not-an-address"}},
			want:   Forwarding{Host: "h", Proto: "http", Port: "80", Client: "10.0.0.2", Chain: "203.0.113.7, not-an-address, 10.0.0.2"},
		},
		{
			name: "every hop trusted", remote: "10.0.0.2:5000", host: "h",
			header: http.Header{"X-Forwarded-For": {"10.0.0.9"}},
			want:   Forwarding{Host: "h", Proto: "http", Port: "80", Client: "10.0.0.9", Chain: "10.0.0.9, 10.0.0.2"},
		},
		{
			name: "trusted proxy without a chain", remote: "10.0.0.2:5000", host: "h",
			want: Forwarding{Host: "h", Proto: "http", Port: "80", Client: "10.0.0.2", Chain: "10.0.0.2"},
		},
		{
			name: "hop with brackets and port", remote: "[fd00::2]:5000", host: "h",
			header:    http.Header{"X-Forwarded-For": {"[2001:db8::7]:443"}},
			want:      Forwarding{Host: "h", Proto: "http", Port: "80", Client: "2001:db8::7", Chain: "[2001:db8::7]:443, fd00::2"},
			forwarded: `for="[2001:db8::7]";host=h;proto=http`,
		},
		{
			name: "trusted proxy's odd scheme is ignored", remote: "10.0.0.2:5000", host: "h",
			header: http.Header{"X-Forwarded-Proto": {"gopher"}},
			want:   Forwarding{Host: "h", Proto: "http", Port: "80", Client: "10.0.0.2", Chain: "10.0.0.2"},
		},
		{
			name: "the nearest proxy's scheme counts", remote: "10.0.0.2:5000", host: "h",
			header: http.Header{"X-Forwarded-Proto": {"https, HTTP"}},
			want:   Forwarding{Host: "h", Proto: "http", Port: "80", Client: "10.0.0.2", Chain: "10.0.0.2"},
		},
		{
			name: "request without Host", remote: "192.0.2.5:4000", host: "",
			want: Forwarding{Host: "127.0.0.1:8081", Proto: "http", Port: "8081", Client: "192.0.2.5", Chain: "192.0.2.5"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8081}))
			r.RemoteAddr, r.Host = tt.remote, tt.host
			r.TLS = nil
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			for k, vs := range tt.header {
				r.Header[k] = vs
			}
			got := tgt.forwardingOf(r, tt.prefix)
			if got != tt.want {
				t.Errorf("forwardingOf = %+v\nwant          %+v", got, tt.want)
			}
			if tt.forwarded != "" && got.forwarded() != tt.forwarded {
				t.Errorf("Forwarded = %s, want %s", got.forwarded(), tt.forwarded)
			}
		})
	}
}

func TestIsForwardingHeader(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"X-Forwarded-For", true},
		{"X-Forwarded-Host", true},
		{"X-Forwarded-Ssl", true},
		{"X_forwarded_for", true}, // as Go canonicalises X_Forwarded_For; CGI servers read it as X-Forwarded-For
		{"Forwarded", true},
		{"X-Real-Ip", true},
		{"True-Client-Ip", true},
		{"Cf-Connecting-Ip", true},
		{"Front-End-Https", true},
		{"X-Forwardedfor", false},
		{"Authorization", false},
		{"X-Request-Id", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsForwardingHeader(tt.name); got != tt.want {
				t.Errorf("IsForwardingHeader(%q) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}

func TestForwardedValue(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"h", "h"},
		{"dev--shop.example", "dev--shop.example"},
		{"", `""`},
		{"shop.example:8081", `"shop.example:8081"`},
		{"[2001:db8::7]", `"[2001:db8::7]"`},
		{`a"b\c`, `"a\"b\\c"`},
		{`"`, `"\""`},
		{"é", `"é"`},
	} {
		if got := forwardedValue(tc.in); got != tc.want {
			t.Errorf("forwardedValue(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
