package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seedbed/seedbed/domains"
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
		{name: "dns-01 without https", in: HTTPSConfig{DNS01: &domains.DNSUpdate{Server: "ns1.example.com:53"}}, err: "--acme-dns-server needs --https-addr"},
		{name: "dns-01 without key", in: HTTPSConfig{Addr: ":443", PublicIPList: "203.0.113.7", DNS01: &domains.DNSUpdate{Server: "ns1.example.com:53"}}, err: "SEEDBED_ACME_DNS_TSIG_SECRET"},
		{name: "dns-01 off", in: HTTPSConfig{Addr: ":443", PublicIPList: "203.0.113.7", DNS01: &domains.DNSUpdate{KeyName: "k"}},
			check: func(t *testing.T, h HTTPSConfig) {
				if h.DNS01 != nil {
					t.Fatalf("no --acme-dns-server, yet DNS-01 is set: %+v", h.DNS01)
				}
			}},
		{name: "dns-01", in: HTTPSConfig{Addr: ":443", PublicIPList: "203.0.113.7", DNSResolverList: "192.0.2.53, 192.0.2.54:5353",
			DNS01: &domains.DNSUpdate{Server: "ns1.example.com:53", KeyName: "seedbed", Secret: "c2VjcmV0"}},
			check: func(t *testing.T, h HTTPSConfig) {
				if h.DNS01 == nil || strings.Join(h.DNSResolvers, ",") != "192.0.2.53:53,192.0.2.54:5353" {
					t.Fatalf("finished: %+v %v", h.DNS01, h.DNSResolvers)
				}
			}},
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

// The domains commands refuse a wrong call before asking the server: exit
// 2, naming what is missing.
func TestDomainsCommandUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "add without stage", args: []string{"domains", "add", "shop", "api.example.com"}, want: `"stage"`},
		{name: "add without name", args: []string{"domains", "add", "shop", "--stage", "prod"}, want: "missing NAME"},
		{name: "list without app", args: []string{"domains", "list"}, want: "missing APP"},
		{name: "bad output", args: []string{"domains", "list", "shop", "--output", "yaml"}, want: "want text or json"},
		{name: "unknown subcommand", args: []string{"domains", "move", "shop"}, want: "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cli{t: t, env: map[string]string{"SEEDBED_SERVER": "http://127.0.0.1:9", "SEEDBED_TOKEN": "x", "SEEDBED_CLI_CONFIG": filepath.Join(t.TempDir(), "none.json")}}
			code, _, errOut := c.run(tt.args...)
			if code != 2 || !strings.Contains(errOut, tt.want) {
				t.Fatalf("seedbed %v: exit %d, stderr %q; want exit 2 saying %q", tt.args, code, errOut, tt.want)
			}
		})
	}
}
