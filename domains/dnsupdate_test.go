package domains

import (
	"context"
	"crypto/x509"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libdns/libdns"

	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/testutil"
)

// tsigSecret is a base64 HMAC-SHA256 key for the tests' DNS server.
const tsigSecret = "c2VlZGJlZC10ZXN0LXRzaWcta2V5LW9mLTMyLWJ5dGVzIQ=="

func TestDNSUpdateCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		u    DNSUpdate
		want string // "" for valid
	}{
		{"valid", DNSUpdate{Server: "ns1.example.com:53", KeyName: "seedbed", Secret: tsigSecret}, ""},
		{"sha512", DNSUpdate{Server: "ns1.example.com:53", KeyName: "seedbed", Secret: tsigSecret, Algorithm: "HMAC-SHA512"}, ""},
		{"no server", DNSUpdate{KeyName: "seedbed", Secret: tsigSecret}, "--acme-dns-server"},
		{"no port", DNSUpdate{Server: "ns1.example.com", KeyName: "seedbed", Secret: tsigSecret}, "ns1.example.com:53"},
		{"no key", DNSUpdate{Server: "ns1.example.com:53"}, "TSIG key"},
		{"md5", DNSUpdate{Server: "ns1.example.com:53", KeyName: "seedbed", Secret: tsigSecret, Algorithm: "hmac-md5"}, "not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.u.Check()
			if tc.want == "" && err != nil {
				t.Fatalf("Check() = %v, want valid", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Check() = %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// TestDNSUpdate adds and removes a challenge record on a real DNS server
// over RFC 2136 with TSIG, and a wrong key is refused with a message that
// says what to check.
func TestDNSUpdate(t *testing.T) {
	d := testutil.StartDNSZone(t, "apps.test", "seedbed-acme", tsigSecret, nil)
	u := &DNSUpdate{Server: d.Addr, KeyName: "seedbed-acme", Secret: tsigSecret}
	ctx := context.Background()
	rec := libdns.TXT{Name: "_acme-challenge", Text: "token-1", TTL: time.Minute}
	if _, err := u.AppendRecords(ctx, "apps.test.", []libdns.Record{rec}); err != nil {
		t.Fatal(err)
	}
	if got := d.TXT("_acme-challenge.apps.test"); !slices.Equal(got, []string{"token-1"}) {
		t.Fatalf("TXT after the update: %q", got)
	}
	if _, err := u.DeleteRecords(ctx, "apps.test.", []libdns.Record{rec}); err != nil {
		t.Fatal(err)
	}
	if got := d.TXT("_acme-challenge.apps.test"); len(got) != 0 {
		t.Fatalf("TXT after the delete: %q", got)
	}

	wrong := &DNSUpdate{Server: d.Addr, KeyName: "seedbed-acme", Secret: "d3Jvbmctc2VjcmV0LWZvci10aGUta2V5LWF0LWFsbCEh"}
	_, err := wrong.AppendRecords(ctx, "apps.test.", []libdns.Record{rec})
	if err == nil {
		t.Fatal("an update signed with the wrong secret was accepted")
	}
	if got := d.TXT("_acme-challenge.apps.test"); len(got) != 0 {
		t.Fatalf("the wrongly signed update changed the zone: %q", got)
	}
	other := &DNSUpdate{Server: d.Addr, KeyName: "seedbed-acme", Secret: tsigSecret}
	_, err = other.AppendRecords(ctx, "elsewhere.test.", []libdns.Record{rec})
	if err == nil || !strings.Contains(err.Error(), "not authoritative for zone elsewhere.test.") {
		t.Fatalf("an update of a zone the server does not serve: %v", err)
	}
	if _, err := u.AppendRecords(ctx, "apps.test.", []libdns.Record{libdns.Address{Name: "x"}}); err == nil || !strings.Contains(err.Error(), "TXT records only") {
		t.Fatalf("an A record: %v", err)
	}
}

// TestManagerWildcardOverDNS01 obtains the wildcard certificate of the
// host routing domain from a real ACME CA (Pebble) that validates DNS-01
// against a real DNS server the Manager updates over RFC 2136; every
// STAGE--APP host is then served by that one certificate, and the CA
// issued no per-name certificate.
func TestManagerWildcardOverDNS01(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "seedbed.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	app := store.App{Name: "api", RepoURL: "/src/api", Branch: "main"}
	if err := st.CreateApp(ctx, &app, []store.Stage{{Name: "prod"}, {Name: "dev"}}); err != nil {
		t.Fatal(err)
	}

	zone := testutil.StartDNSZone(t, "apps.test", "seedbed-acme", tsigSecret, map[string][]string{
		"prod--api.apps.test": {"127.0.0.1"}, "dev--api.apps.test": {"127.0.0.1"},
	})
	httpLn, httpsLn := listen(t, "127.0.0.1:0"), listen(t, "127.0.0.1:0")
	pebble := testutil.StartPebble(t, testutil.PebbleOptions{HTTPPort: portOf(t, httpLn), TLSPort: portOf(t, httpsLn), DNSServer: zone.Addr})
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(readFile(t, pebble.ServerRootFile))
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p := startProcess(t, Config{Store: st, CA: pebble.DirectoryURL, CARoots: roots, Resolver: zone.Resolver(),
		PublicIPs: []net.IP{net.IPv4(127, 0, 0, 1)}, HostDomain: "apps.test", Logger: log,
		DNS01:        &DNSUpdate{Server: zone.Addr, KeyName: "seedbed-acme", Secret: tsigSecret},
		DNSResolvers: []string{zone.Addr}}, httpLn, httpsLn)

	// Handshakes fail until the wildcard is obtained and cached (no
	// certificate per name is asked for meanwhile), then both hosts get it.
	deadline := time.Now().Add(2 * time.Minute)
	issuerRoots := pebble.IssuerRoots(t)
	var serial string
	for _, host := range []string{"prod--api.apps.test", "dev--api.apps.test"} {
		var got *x509.Certificate
		for got == nil {
			hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			chain, err := testutil.ServedChain(hctx, p.httpsAddr, host, issuerRoots)
			cancel()
			if err == nil {
				got = chain[0]
			} else if time.Now().After(deadline) {
				t.Fatalf("%s: no certificate within 2 minutes: %v\n%s", host, err, pebble.Log())
			} else {
				time.Sleep(200 * time.Millisecond)
			}
		}
		if !slices.Equal(got.DNSNames, []string{"*.apps.test"}) {
			t.Fatalf("%s served a certificate for %v, want the wildcard", host, got.DNSNames)
		}
		if serial != "" && got.SerialNumber.String() != serial {
			t.Fatalf("%s served serial %s, the other host %s: not one wildcard", host, got.SerialNumber, serial)
		}
		serial = got.SerialNumber.String()
	}
	if n := strings.Count(pebble.Log(), "Issued certificate serial"); n != 1 {
		t.Fatalf("the CA issued %d certificates, want the one wildcard\n%s", n, pebble.Log())
	}
	if zone.Updates() < 2 {
		t.Fatalf("the DNS server saw %d updates, want the challenge record added and removed", zone.Updates())
	}
	if got := zone.TXT("_acme-challenge.apps.test"); len(got) != 0 {
		t.Fatalf("the challenge record was left in the zone: %q", got)
	}
}
