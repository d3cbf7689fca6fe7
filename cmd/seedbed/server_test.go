package main

import (
	"net/http"
	"testing"
)

func TestSameHost(t *testing.T) {
	tests := []struct {
		name, console, gateway string
		want                   bool
	}{
		{"defaults: ports differ, host is one", "http://127.0.0.1:8080", "http://127.0.0.1:8081", true},
		{"case", "https://Seedbed.example", "https://seedbed.example:8443", true},
		{"host of its own", "https://seedbed.example", "https://fn.example.net", false},
		{"subdomain is another host", "http://localhost:8080", "http://dev--shop.localhost:8081", false},
		{"unparsable", "http://[::1", "http://[::1]:8081", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sameHost(tt.console, tt.gateway); got != tt.want {
				t.Errorf("sameHost(%q, %q) = %v, want %v", tt.console, tt.gateway, got, tt.want)
			}
		})
	}
}

// Served by the real wiring, the console's answers carry the security
// headers and the gateway's do not: functions own their headers.
func TestSecurityHeadersOnConsoleNotGateway(t *testing.T) {
	a := startApp(t, embedded)
	for _, tt := range []struct {
		name, url string
		want      bool
	}{
		{"sign-in page", a.ConsoleURL() + "/login", true},
		{"asset", a.ConsoleURL() + "/assets/app.js", true},
		{"console 404", a.ConsoleURL() + "/nope", true},
		{"gateway", a.GatewayURL() + "/nope/dev/", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Get(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			csp, xfo := resp.Header.Get("Content-Security-Policy"), resp.Header.Get("X-Frame-Options")
			if got := csp != "" && xfo == "DENY"; got != tt.want {
				t.Errorf("%s: CSP %q, X-Frame-Options %q; want them: %v", tt.url, csp, xfo, tt.want)
			}
		})
	}
}
