package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web/apiv1"
)

// httpsClient talks to the HTTPS listener at addr for any host name, as a
// browser whose DNS names this server would: it verifies the chain against
// roots (Pebble's issuing root) and follows no redirects.
func httpsClient(addr string, roots *x509.CertPool) *http.Client {
	d := net.Dialer{Timeout: 10 * time.Second}
	return &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return d.DialContext(ctx, network, addr)
			},
			TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		},
	}
}

func portNumber(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// waitFor polls f every 250ms until it returns nil or within is over.
func waitFor(t *testing.T, within time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, within, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// A stage gets a domain of its own through the CLI and serves HTTPS on it
// with a certificate from a real ACME CA (Pebble, validating challenges
// against Seedbed's own listeners), verified by a real TLS client against
// Pebble's root; the certificate is renewed before it expires; plain HTTP
// is redirected; HSTS is sent; the console answers on its own domain; a
// name whose DNS points elsewhere says so; unregistered names get no
// certificate; viewers cannot add domains.
func TestCustomDomainHTTPS(t *testing.T) {
	ctx := context.Background()
	dns := testutil.StartDNS(t, map[string][]string{
		"api.test": {"127.0.0.1"}, "console.test": {"127.0.0.1"}, "elsewhere.test": {"192.0.2.10"}, "nothere.test": {"127.0.0.1"},
	})
	consoleAddr, gatewayAddr, httpsAddr := testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t)
	const validity = 30 * time.Second
	pebble := testutil.StartPebble(t, testutil.PebbleOptions{HTTPPort: portNumber(t, gatewayAddr), TLSPort: portNumber(t, httpsAddr), DNSServer: dns.Addr, Validity: validity})
	a := startAppWith(t, embedded, func(c *Config) {
		c.Addr, c.GatewayAddr, c.PublicURL = consoleAddr, gatewayAddr, "http://"+consoleAddr
		c.HTTPS = HTTPSConfig{Addr: httpsAddr, CA: pebble.DirectoryURL, CARootFile: pebble.ServerRootFile, HSTS: 24 * time.Hour,
			ConsoleDomain: "console.test", PublicIPList: "127.0.0.1", Resolver: dns.Resolver(),
			RenewCheckInterval: 2 * time.Second, SyncInterval: 2 * time.Second}
	})
	roots := pebble.IssuerRoots(t)
	client := httpsClient(httpsAddr, roots)
	httpsPort := strconv.Itoa(portNumber(t, httpsAddr))

	repo := testutil.NewRepo(t)
	repo.Commit("v1", map[string]string{"seedbed.yml": staticSite, "site/version.txt": "site v1\n"})
	if _, err := a.api.CreateApp(ctx, apiv1.CreateAppRequest{Name: "site", RepoURL: repo.Dir, Branch: "main"}); err != nil {
		t.Fatal(err)
	}
	a.mustDeploy("site", "dev", "")

	c := cli{t: t, env: map[string]string{"SEEDBED_SERVER": a.ConsoleURL(), "SEEDBED_TOKEN": a.api.Token, "SEEDBED_CLI_CONFIG": filepath.Join(t.TempDir(), "none.json")}}
	if out := c.must("domains", "add", "site", "--stage", "dev", "API.test"); !strings.Contains(out, "Added api.test to dev of site") {
		t.Fatalf("domains add said:\n%s", out)
	}
	if code, _, errOut := c.run("domains", "add", "site", "--stage", "dev", "*.example.com"); code != 1 || !strings.Contains(errOut, "wildcard") {
		t.Fatalf("a wildcard: exit %d, %s", code, errOut)
	}
	if code, _, errOut := c.run("domains", "add", "site", "--stage", "staging", "api.test"); code != 1 || !strings.Contains(errOut, "one stage only") {
		t.Fatalf("a domain on a second stage: exit %d, %s", code, errOut)
	}
	c.must("domains", "add", "site", "--stage", "dev", "elsewhere.test")

	// The certificate is issued: the API says so, and a real TLS client
	// verifies the chain against Pebble's root.
	var issued apiv1.Domain
	waitFor(t, 90*time.Second, "api.test issued", func() error {
		var ds apiv1.Domains
		if err := json.Unmarshal([]byte(c.must("domains", "list", "site", "--output", "json")), &ds); err != nil {
			return err
		}
		for _, d := range ds.Domains {
			if d.Name == "api.test" && d.Status == "issued" {
				issued = d
				return nil
			}
		}
		return errors.New("not yet")
	})
	if issued.ExpiresAt == nil || issued.DNS != "ok" || issued.URL != "https://api.test:"+httpsPort {
		t.Fatalf("issued domain: %+v", issued)
	}
	chain, err := testutil.ServedChain(ctx, httpsAddr, "api.test", roots)
	if err != nil {
		t.Fatal(err)
	}
	first := chain[0]
	if !first.NotAfter.Equal(issued.ExpiresAt.Truncate(time.Second)) && first.NotAfter.Sub(*issued.ExpiresAt).Abs() > time.Second {
		t.Fatalf("served certificate expires %s, the API says %s", first.NotAfter, issued.ExpiresAt)
	}
	if got := first.NotAfter.Sub(first.NotBefore); got > validity {
		t.Fatalf("certificate lives %s, Pebble was told %s", got, validity)
	}

	// The stage's function answers on the domain with the full path, HSTS
	// on.
	resp, err := client.Get("https://api.test:" + httpsPort + "/site/version.txt")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "site v1\n" {
		t.Fatalf("GET https://api.test/site/version.txt: %s %q", resp.Status, body)
	}
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=86400" {
		t.Fatalf("HSTS header %q", got)
	}

	// Plain HTTP on the gateway redirects to HTTPS, path and query kept;
	// path routing on the address still works.
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, "http://"+gatewayAddr+"/site/version.txt?x=1", nil)
	req.Host = "api.test"
	resp, err = plain.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "https://api.test:" + httpsPort + "/site/version.txt?x=1"; resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Fatalf("plain HTTP: %s to %q, want 308 to %q", resp.Status, resp.Header.Get("Location"), want)
	}
	if code, body := a.get("/site/dev/site/version.txt"); code != http.StatusOK || body != "site v1\n" {
		t.Fatalf("path routing over plain HTTP: %d %q", code, body)
	}

	// The console answers on its own domain over HTTPS.
	waitFor(t, 60*time.Second, "console on console.test", func() error {
		resp, err := client.Get("https://console.test:" + httpsPort + "/login")
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `type="password"`) {
			return errors.New(resp.Status + ": " + string(b))
		}
		return nil
	})

	// A name whose DNS points elsewhere says so, and is not asked for.
	out := c.must("domains", "list", "site")
	if !strings.Contains(out, "elsewhere.test") || !strings.Contains(out, "DNS not pointing here (resolves to 192.0.2.10)") || !strings.Contains(out, "DNS must point at: 127.0.0.1") {
		t.Fatalf("domains list:\n%s", out)
	}
	// An unregistered name whose DNS points here gets no certificate.
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := testutil.ServedChain(hctx, httpsAddr, "nothere.test", nil); err == nil {
		t.Fatal("a TLS handshake for an unregistered name succeeded")
	}
	if log := pebble.Log(); strings.Contains(log, "elsewhere.test") || strings.Contains(log, "nothere.test") {
		t.Fatalf("the CA was asked about a name that does not point here or is no stage's:\n%s", log)
	}
	// A viewer reads the domains but cannot add one.
	viewer := apiv1.NewClient(a.ConsoleURL(), a.userToken("vic@example.com", "site", "viewer"))
	if ds, err := viewer.Domains(ctx, "site"); err != nil || len(ds.Domains) != 2 {
		t.Fatalf("a viewer lists the domains: %+v, %v", ds, err)
	}
	var apiErr *apiv1.APIError
	if _, err := viewer.AddDomain(ctx, "site", apiv1.AddDomainRequest{Stage: "dev", Name: "mine.test"}); !errors.As(err, &apiErr) || apiErr.Status != http.StatusForbidden {
		t.Fatalf("a viewer added a domain: %v", err)
	}

	// Renewal: before the short-lived certificate expires, a new one is
	// served, and the API shows its expiry.
	waitFor(t, 2*validity, "renewal of api.test", func() error {
		chain, err := testutil.ServedChain(ctx, httpsAddr, "api.test", roots)
		if err != nil {
			return err
		}
		if chain[0].SerialNumber.Cmp(first.SerialNumber) == 0 {
			return errors.New("still the first certificate, expiring " + first.NotAfter.String())
		}
		if !chain[0].NotAfter.After(first.NotAfter) {
			return errors.New("a new certificate that does not last longer")
		}
		if time.Now().After(first.NotAfter) {
			t.Errorf("the first certificate expired (%s) before a new one was served", first.NotAfter)
		}
		return nil
	})
	waitFor(t, 10*time.Second, "the renewal recorded", func() error {
		var ds apiv1.Domains
		if err := json.Unmarshal([]byte(c.must("domains", "list", "site", "--output", "json")), &ds); err != nil {
			return err
		}
		for _, d := range ds.Domains {
			if d.Name == "api.test" && d.ExpiresAt != nil && d.ExpiresAt.After(first.NotAfter) && d.Status == "issued" {
				return nil
			}
		}
		return errors.New("the API still shows the first expiry")
	})

	// Removed, the domain no longer reaches the stage.
	c.must("domains", "remove", "site", "api.test")
	resp, err = client.Get("https://api.test:" + httpsPort + "/site/version.txt")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("a removed domain still answers: %s", resp.Status)
		}
	}
}
