package domains

import (
	"context"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/testutil"
)

// process is one Seedbed process's part in a test: a Manager on its own
// database connection, with its plain-HTTP and HTTPS listeners serving.
type process struct {
	m                   *Manager
	httpAddr, httpsAddr string
}

// startProcess serves a Manager on httpLn and httpsLn; what is no ACME
// challenge and no redirect answers 404 with "gateway".
func startProcess(t *testing.T, cfg Config, httpLn, httpsLn net.Listener) *process {
	t.Helper()
	cfg.HTTPAddr, cfg.HTTPSAddr = httpLn.Addr().String(), httpsLn.Addr().String()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	gw := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "gateway", http.StatusNotFound) })
	plain := &http.Server{Handler: m.HTTPHandler(gw)}
	secure := &http.Server{Handler: m.HTTPSHandler(nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from "+r.Host)
	})), TLSConfig: m.TLSConfig()}
	go plain.Serve(httpLn)
	go secure.ServeTLS(httpsLn, "", "")
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		plain.Close()
		secure.Close()
		m.Close()
	})
	return &process{m: m, httpAddr: cfg.HTTPAddr, httpsAddr: cfg.HTTPSAddr}
}

func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// waitIssued waits until the database says name's certificate is issued.
func waitIssued(t *testing.T, st *store.Store, name string) store.Domain {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		d, err := st.DomainByName(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status == store.DomainIssued {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not issued within 90s: %+v", name, d)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// serial dials addr for name and returns the verified leaf.
func leaf(t *testing.T, addr, name string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	chain, err := testutil.ServedChain(ctx, addr, name, roots)
	if err != nil {
		t.Fatal(err)
	}
	return chain[0]
}

// TestManagerSharesCertificatesOnPostgres runs two Seedbed processes on
// one PostgreSQL database against a real ACME CA (Pebble, validating for
// real): the first obtains a certificate over HTTP-01 or TLS-ALPN-01 and
// the second serves the same one without asking the CA; the second
// obtains another over HTTP-01 although the CA can only reach the first,
// which answers the challenge from the database; and a name registered
// nowhere gets no certificate and no order at the CA. It runs with the
// certificates in the database, and in a bucket of a real S3 server
// (SeaweedFS), every value sealed, with the locks in the database.
func TestManagerSharesCertificatesOnPostgres(t *testing.T) {
	for _, tc := range []struct {
		name    string
		objects func(t *testing.T) Objects
	}{
		{"database", func(*testing.T) Objects { return nil }},
		{"bucket", func(t *testing.T) Objects { return testArea(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) { sharesCertificates(t, tc.objects(t)) })
	}
}

// sharesCertificates is TestManagerSharesCertificatesOnPostgres with the
// certificates kept in objs, or in the database when objs is nil.
func sharesCertificates(t *testing.T, objs Objects) {
	url := testutil.PostgresURL(t)
	open := func() *store.Store {
		s, err := store.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	ctx := context.Background()
	db1, db2 := open(), open()
	app := store.App{Name: "api", RepoURL: "/src/api", Branch: "main"}
	if err := db1.CreateApp(ctx, &app, []store.Stage{{Name: "prod"}}); err != nil {
		t.Fatal(err)
	}
	stage, err := db1.StageByName(ctx, app.ID, "prod")
	if err != nil {
		t.Fatal(err)
	}

	dns := testutil.StartDNS(t, map[string][]string{"a.test": {"127.0.0.1"}, "b.test": {"127.0.0.1"}, "evil.test": {"127.0.0.1"}, "prod--api.apps.test": {"127.0.0.1"}})
	http1, https1 := listen(t, "127.0.0.1:0"), listen(t, "127.0.0.1:0")
	pebble := testutil.StartPebble(t, testutil.PebbleOptions{HTTPPort: portOf(t, http1), TLSPort: portOf(t, https1), DNSServer: dns.Addr})
	roots := x509.NewCertPool()
	rootPEM := readFile(t, pebble.ServerRootFile)
	roots.AppendCertsFromPEM(rootPEM)
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := func(st *store.Store) Config {
		return Config{Store: st, Objects: objs, Sealer: testSealer(t, 7), CA: pebble.DirectoryURL, CARoots: roots, Resolver: dns.Resolver(),
			PublicIPs: []net.IP{net.IPv4(127, 0, 0, 1)}, HostDomain: "apps.test", Logger: log}
	}
	p1 := startProcess(t, cfg(db1), http1, https1)
	c2 := cfg(db2)
	c2.Challenges = []string{HTTP01}
	p2 := startProcess(t, c2, listen(t, "127.0.0.1:0"), listen(t, "127.0.0.1:0"))
	issuerRoots := pebble.IssuerRoots(t)

	if _, err := p1.m.Add(ctx, app, stage, "A.test.", "admin@example.com"); err != nil {
		t.Fatal(err)
	}
	d := waitIssued(t, db1, "a.test")
	if d.DNSStatus != store.DNSOK || d.CertExpiresAt == nil || d.CertExpiresAt.Before(time.Now()) {
		t.Fatalf("a.test after issuance: %+v", d)
	}
	first := leaf(t, p1.httpsAddr, "a.test", issuerRoots)
	shared := leaf(t, p2.httpsAddr, "a.test", issuerRoots)
	if first.SerialNumber.Cmp(shared.SerialNumber) != 0 {
		t.Fatalf("the second process serves serial %s, the first %s: the certificate was not shared", shared.SerialNumber, first.SerialNumber)
	}
	if n := strings.Count(pebble.Log(), "Issued certificate serial"); n != 1 {
		t.Fatalf("the CA issued %d certificates for one name served by two processes, want 1\n%s", n, pebble.Log())
	}

	// b.test is obtained by the second process; the CA validates at the
	// first's HTTP port, which finds the challenge in the database.
	if _, err := p2.m.Add(ctx, app, stage, "b.test", "admin@example.com"); err != nil {
		t.Fatal(err)
	}
	waitIssued(t, db2, "b.test")
	if got := leaf(t, p2.httpsAddr, "b.test", issuerRoots); got.DNSNames[0] != "b.test" {
		t.Fatalf("b.test served a certificate for %v", got.DNSNames)
	}

	// Plain HTTP for a registered name goes to HTTPS; other hosts to the
	// gateway.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodPost, "http://"+p1.httpAddr+"/x/y?z=1", nil)
	req.Host = "a.test"
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "https://a.test:" + itoa(portOf(t, https1)) + "/x/y?z=1"; resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Fatalf("plain HTTP for a.test: %s to %q, want 308 to %q", resp.Status, resp.Header.Get("Location"), want)
	}
	req, _ = http.NewRequest(http.MethodGet, "http://"+p1.httpAddr+"/api/prod/x", nil)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "gateway") {
		t.Fatalf("plain HTTP on the address went %s %q, want the gateway", resp.Status, body)
	}

	// A name registered nowhere (though its DNS points here, and however
	// often it is asked for) gets no certificate, and the CA hears of it not.
	for range 3 {
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := testutil.ServedChain(hctx, p1.httpsAddr, "evil.test", nil)
		cancel()
		if err == nil {
			t.Fatal("a TLS handshake for an unregistered name succeeded")
		}
	}
	// Nor does a STAGE--APP host of a stage that does not exist.
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := testutil.ServedChain(hctx, p1.httpsAddr, "prod--nope.apps.test", nil); err == nil {
		t.Fatal("a TLS handshake for a made-up STAGE--APP host succeeded")
	}
	if strings.Contains(pebble.Log(), "evil.test") || strings.Contains(pebble.Log(), "nope.apps.test") {
		t.Fatalf("the CA was asked about a name no stage has:\n%s", pebble.Log())
	}

	// The STAGE--APP host of a stage that exists gets a certificate on
	// its first handshake.
	if got := leaf(t, p1.httpsAddr, "prod--api.apps.test", issuerRoots); got.DNSNames[0] != "prod--api.apps.test" {
		t.Fatalf("prod--api.apps.test served a certificate for %v", got.DNSNames)
	}

	// Names the manager refuses to register.
	for _, tc := range []struct{ name, want string }{
		{"a.test", "already a domain of a stage"},
		{"*.example.com", "wildcard"},
		{"prod--api.apps.test", "STAGE--APP"},
	} {
		_, err := p2.m.Add(ctx, app, stage, tc.name, "admin@example.com")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Add(%q) = %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
	// Removed on one process, the other stops routing it within the
	// look-up cache's few seconds.
	if err := p1.m.Remove(ctx, app, "b.test"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := p1.m.StageOf(ctx, "b.test"); ok || err != nil {
		t.Fatalf("b.test still routes on the process that removed it: %v, %v", ok, err)
	}
	if err := p1.m.Remove(ctx, app, "b.test"); err == nil || !strings.Contains(err.Error(), "no domain of app api") {
		t.Fatalf("removing it twice: %v", err)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func portOf(t *testing.T, ln net.Listener) int {
	t.Helper()
	return ln.Addr().(*net.TCPAddr).Port
}

func itoa(n int) string { return strconv.Itoa(n) }

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
