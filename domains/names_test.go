package domains

import (
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, in, want, err string
	}{
		{name: "plain", in: "api.example.com", want: "api.example.com"},
		{name: "upper case and final dot", in: " API.Example.COM. ", want: "api.example.com"},
		{name: "unicode becomes punycode", in: "bücher.example", want: "xn--bcher-kva.example"},
		{name: "punycode kept", in: "xn--bcher-kva.example", want: "xn--bcher-kva.example"},
		{name: "wildcard", in: "*.example.com", err: "wildcard"},
		{name: "wildcard inside", in: "a.*.example.com", err: "wildcard"},
		{name: "url", in: "https://api.example.com/", err: "without scheme or path"},
		{name: "path", in: "api.example.com/x", err: "without scheme or path"},
		{name: "port", in: "api.example.com:8443", err: "has a port"},
		{name: "ipv4", in: "203.0.113.7", err: "IP address"},
		{name: "ipv6", in: "[2001:db8::1]", err: "IP address"},
		{name: "single label", in: "localhost", err: "single label"},
		{name: "empty", in: "  ", err: "give a host name"},
		{name: "empty label", in: "api..example.com", err: ""},
		{name: "underscore", in: "my_api.example.com", err: "letters, digits and hyphens"},
		{name: "hyphen at start", in: "-api.example.com", err: ""},
		{name: "long label", in: strings.Repeat("a", 64) + ".example.com", err: ""},
		{name: "too long", in: strings.Repeat("abcdefghi.", 26) + "com", err: "at most 253"},
		{name: "numeric tld", in: "api.example.123", err: "numeric label"},
		{name: "userinfo", in: "user@api.example.com", err: "without scheme or path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize(tt.in)
			if tt.want != "" {
				if err != nil || got != tt.want {
					t.Fatalf("Normalize(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Normalize(%q) = %q, want an error", tt.in, got)
			}
			if !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("Normalize(%q) error %q does not say %q", tt.in, err, tt.err)
			}
		})
	}
}

func TestUnderAndDisplay(t *testing.T) {
	if !Under("prod--api.apps.example.com", "apps.example.com") || !Under("apps.example.com", "apps.example.com.") {
		t.Error("names under the domain, and the domain itself, are under it")
	}
	if Under("evilapps.example.com", "apps.example.com") || Under("x.example.com", "") {
		t.Error("a name merely ending like the domain is not under it; nothing is under no domain")
	}
	if got := Display("xn--bcher-kva.example"); got != "bücher.example" {
		t.Errorf("Display = %q", got)
	}
}

func TestHostRoutingNeedsAPublicDomain(t *testing.T) {
	tests := []struct {
		domain, host string
		ok           bool
	}{
		{"apps.example.com", "prod--shop.apps.example.com", true},
		{"apps.example.com", "shop.apps.example.com", false},
		{"apps.example.com", "a.prod--shop.apps.example.com", false},
		{"localhost", "prod--shop.localhost", false},
		{"dev.localhost", "prod--shop.dev.localhost", false},
		{"", "prod--shop.example.com", false},
	}
	for _, tt := range tests {
		m := &Manager{cfg: Config{HostDomain: tt.domain}}
		if _, _, ok := m.hostRoute(tt.host); ok != tt.ok {
			t.Errorf("domain %q, host %q: hostRoute ok = %v, want %v", tt.domain, tt.host, ok, tt.ok)
		}
	}
}
