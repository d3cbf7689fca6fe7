package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHTTPSConfigFinish(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		in    HTTPSConfig
		err   string
		check func(t *testing.T, h HTTPSConfig)
	}{
		{name: "off", in: HTTPSConfig{}},
		{name: "console domain without https", in: HTTPSConfig{ConsoleDomain: "seedbed.example.com"}, err: "--console-domain needs --https-addr"},
		{name: "defaults", in: HTTPSConfig{Addr: ":443", PublicIPList: "203.0.113.7, 2001:db8::7", ConsoleDomain: "Seedbed.Example.COM."},
			check: func(t *testing.T, h HTTPSConfig) {
				if strings.Join(h.Challenges, ",") != "http-01,tls-alpn-01" || len(h.PublicIPs) != 2 || h.ConsoleDomain != "seedbed.example.com" {
					t.Fatalf("finished: %+v", h)
				}
			}},
		{name: "one challenge", in: HTTPSConfig{Addr: ":443", ChallengeList: "TLS-ALPN-01", PublicIPList: "203.0.113.7"},
			check: func(t *testing.T, h HTTPSConfig) {
				if strings.Join(h.Challenges, ",") != "tls-alpn-01" {
					t.Fatalf("challenges %v", h.Challenges)
				}
			}},
		{name: "bad address", in: HTTPSConfig{Addr: "443"}, err: "want host:port"},
		{name: "bad challenge", in: HTTPSConfig{Addr: ":443", ChallengeList: "dns-01"}, err: `"dns-01" is not http-01 or tls-alpn-01`},
		{name: "bad public ip", in: HTTPSConfig{Addr: ":443", PublicIPList: "example.com"}, err: "--public-ip"},
		{name: "wildcard console domain", in: HTTPSConfig{Addr: ":443", ConsoleDomain: "*.example.com"}, err: "wildcard"},
		{name: "missing root file", in: HTTPSConfig{Addr: ":443", CARootFile: filepath.Join(dir, "none.pem")}, err: "--acme-ca-root"},
		{name: "root file without PEM", in: HTTPSConfig{Addr: ":443", CARootFile: notPEM}, err: "holds no PEM certificate"},
		{name: "negative hsts", in: HTTPSConfig{Addr: ":443", HSTS: -time.Second, PublicIPList: "203.0.113.7"}, err: "--hsts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.in
			err := h.finish()
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tt.check != nil {
					tt.check(t, h)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("finish() = %v, want an error saying %q", err, tt.err)
			}
		})
	}
}

func TestParseDomainsArgs(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want domainsOptions
		err  string
	}{
		{name: "list", args: []string{"list", "shop"}, want: domainsOptions{Action: "list", App: "shop"}},
		{name: "list json", args: []string{"ls", "shop", "--output", "json"}, want: domainsOptions{Action: "list", App: "shop", Output: "json"}},
		{name: "add", args: []string{"add", "shop", "--stage", "prod", "api.example.com"}, want: domainsOptions{Action: "add", App: "shop", Stage: "prod", Name: "api.example.com"}},
		{name: "add flag last", args: []string{"add", "shop", "api.example.com", "--stage=prod"}, want: domainsOptions{Action: "add", App: "shop", Stage: "prod", Name: "api.example.com"}},
		{name: "add without stage", args: []string{"add", "shop", "api.example.com"}, err: "--stage"},
		{name: "remove", args: []string{"rm", "shop", "api.example.com"}, want: domainsOptions{Action: "remove", App: "shop", Name: "api.example.com"}},
		{name: "check", args: []string{"check", "shop", "api.example.com"}, want: domainsOptions{Action: "check", App: "shop", Name: "api.example.com"}},
		{name: "missing name", args: []string{"remove", "shop"}, err: "usage"},
		{name: "bad output", args: []string{"list", "shop", "--output", "yaml"}, err: "--output takes json"},
		{name: "unknown action", args: []string{"move", "shop"}, err: "usage"},
		{name: "nothing", args: nil, err: "usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDomainsArgs(tt.args, io.Discard)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parse %v = %+v, %v; want an error saying %q", tt.args, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parse %v = %+v, %v; want %+v", tt.args, got, err, tt.want)
			}
		})
	}
}
