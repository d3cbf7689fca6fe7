package web_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/seedbed/seedbed/domains"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web"
)

// page fetches a console page with a signed-in browser.
func page(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The domains page shows each domain's state in words (DNS not pointing
// here, pending, issued with its expiry, the last error), lets owners add
// and remove names with mistakes shown at the form, and tells a Seedbed
// without HTTPS how to turn it on. The manager is the real one, on the
// fixture's database, with a test DNS server; no CA is contacted.
func TestDomainsPage(t *testing.T) {
	off := setup(t)
	c, _ := off.signIn(t)
	if code, body := page(t, c, off.srv.URL+"/apps/shop/domains"); code != http.StatusOK || !strings.Contains(body, `data-testid="domains-disabled"`) || !strings.Contains(body, "--https-addr") {
		t.Fatalf("domains page without HTTPS: %d\n%s", code, body)
	}

	dns := testutil.StartDNS(t, map[string][]string{"xn--bcher-kva.example": {"192.0.2.7"}, "shop.example": {"192.0.2.8"}})
	var m *domains.Manager
	f := setupWith(t, func(cfg *web.Config) {
		st := cfg.Store.(*store.Store)
		var err error
		m, err = domains.New(domains.Config{Store: st, CA: "https://127.0.0.1:9/dir", HTTPAddr: "127.0.0.1:80", HTTPSAddr: "127.0.0.1:443",
			PublicIPs: []net.IP{net.IPv4(203, 0, 113, 7)}, Resolver: dns.Resolver(), HostDomain: "apps.example",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Close)
		cfg.Domains = m
	})
	c, _ = f.signIn(t)
	base := f.srv.URL + "/apps/shop/domains"
	add := func(stage, name string) (int, string) {
		t.Helper()
		tok := csrfFrom(t, c, base)
		resp, err := c.PostForm(base, url.Values{"stage": {stage}, "name": {name}, "_csrf": {tok}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := page(t, c, base); code != http.StatusOK || !strings.Contains(body, `data-testid="domains-empty"`) || !strings.Contains(body, "203.0.113.7") {
		t.Fatalf("empty domains page: %d\n%s", code, body)
	}
	if code, body := add("prod", "Bücher.example"); code != http.StatusSeeOther {
		t.Fatalf("add: %d\n%s", code, body)
	}
	if code, body := add("dev", "shop.example"); code != http.StatusSeeOther {
		t.Fatalf("add: %d\n%s", code, body)
	}
	for _, tc := range []struct{ stage, name, want string }{
		{"prod", "*.example.com", "wildcard"},
		{"dev", "bücher.example", "one stage only"},
		{"prod", "prod--shop.apps.example", "STAGE--APP"},
		{"nope", "x.example", "no stage named nope"},
	} {
		code, body := add(tc.stage, tc.name)
		if code < 400 || code >= 500 || !strings.Contains(body, `data-testid="form-error"`) || !strings.Contains(body, tc.want) {
			t.Errorf("add %s to %s: %d, want the form again saying %q\n%s", tc.name, tc.stage, code, tc.want, body)
		}
	}
	// The DNS checks run in the background; the page shows their outcome.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := page(t, c, base)
		if strings.Contains(body, "resolves to 192.0.2.7") && strings.Contains(body, "resolves to 192.0.2.8") {
			if !strings.Contains(body, "bücher.example") || strings.Count(body, "DNS not pointing here") != 2 {
				t.Fatalf("domains page:\n%s", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the DNS states did not show:\n%s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// An issued certificate shows its expiry; a failed renewal its error.
	ctx := context.Background()
	issued, expires := time.Now().UTC(), time.Date(2027, 3, 6, 12, 0, 0, 0, time.UTC)
	if err := f.store.SetDomainCert(ctx, "shop.example", store.DomainCert{Status: store.DomainIssued, IssuedAt: &issued, ExpiresAt: &expires}); err != nil {
		t.Fatal(err)
	}
	if err := f.store.SetDomainCert(ctx, "xn--bcher-kva.example", store.DomainCert{Status: store.DomainFailed, Error: "urn:ietf:params:acme:error:connection: Timeout during connect"}); err != nil {
		t.Fatal(err)
	}
	_, body := page(t, c, base)
	for _, want := range []string{"issued", "expires on 2027-03-06 12:00 UTC", "Timeout during connect", `data-testid="remove-domain-shop.example"`} {
		if !strings.Contains(body, want) {
			t.Errorf("domains page lacks %q", want)
		}
	}
	tok := csrfFrom(t, c, base)
	resp, err := c.PostForm(base+"/shop.example/delete", url.Values{"_csrf": {tok}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, body := page(t, c, base); resp.StatusCode != http.StatusSeeOther || strings.Contains(body, `data-testid="domain-shop.example"`) {
		t.Fatalf("remove: %d; page still lists it", resp.StatusCode)
	}
}
