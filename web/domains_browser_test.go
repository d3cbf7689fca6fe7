package web_test

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/seedbed/seedbed/assets"
	"github.com/seedbed/seedbed/domains"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web"
)

// In a real browser, an owner adds a domain from the app's Domains page,
// sees that its DNS does not point at this server (and where it points),
// and removes it after confirming; the page breaks no content security
// rule.
func TestDomainsPageInBrowser(t *testing.T) {
	dns := testutil.StartDNS(t, map[string][]string{"api.example.org": {"192.0.2.44"}})
	f := setupWith(t, func(cfg *web.Config) {
		cfg.Assets = assets.FS()
		m, err := domains.New(domains.Config{Store: cfg.Store.(*store.Store), CA: "https://127.0.0.1:9/dir", HTTPAddr: "127.0.0.1:80", HTTPSAddr: "127.0.0.1:443",
			PublicIPs: []net.IP{net.IPv4(203, 0, 113, 7)}, Resolver: dns.Resolver(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Close)
		cfg.Domains = m
	})
	ctx := consoleBrowser(t, f)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(f.srv.URL+"/apps/shop"),
		chromedp.WaitVisible(`[data-testid=app-domains]`),
	); err != nil {
		t.Fatalf("open the app: %v", err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(f.srv.URL+"/apps/shop/domains"),
		chromedp.WaitVisible(`[data-testid=domains-empty]`),
	); err != nil {
		t.Fatalf("open the domains page: %v", err)
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(`#domain-name`, "API.example.org"),
		chromedp.SetValue(`#domain-stage`, "prod"),
		chromedp.Click(`[data-testid=add-domain]`),
		bpoll(`document.querySelector('[data-testid="domain-api.example.org"]') !== null`),
	); err != nil {
		t.Fatalf("add a domain: %v", err)
	}
	// The DNS check runs in the background: reload until it shows.
	for i := 0; ; i++ {
		text := eval[string](t, ctx, `document.querySelector('[data-testid="domain-state-api.example.org"]').innerText`)
		if strings.Contains(text, "DNS not pointing here") && strings.Contains(text, "192.0.2.44") {
			break
		}
		if i == 40 {
			t.Fatalf("the state says %q", text)
		}
		if err := chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(`[data-testid="domain-api.example.org"]`)); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Screenshot(t, ctx, "domains")
	markPage(t, ctx, true)
	if err := chromedp.Do(ctx,
		chromedp.Click(`[data-testid="remove-domain-api.example.org"]`),
		bpoll(`document.querySelector('[data-testid=domains-empty]') !== null`),
	); err != nil {
		t.Fatalf("remove the domain: %v", err)
	}
}
