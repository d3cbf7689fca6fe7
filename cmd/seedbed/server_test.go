package main

import "testing"

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
