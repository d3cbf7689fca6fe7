package testutil

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// FailOnCSPViolations makes a browser test fail when a page of the browser
// ctx breaks its Content-Security-Policy: an inline script or style, an
// on* handler, a resource from elsewhere. Every page reports its
// securitypolicyviolation events to the console (a script the DevTools
// protocol adds, which the page's policy does not govern), and Chromium's
// own "Refused to …" messages count as well. Call it before the first
// navigation; the test fails at its end, listing each violation.
func FailOnCSPViolations(t testing.TB, ctx context.Context) {
	t.Helper()
	const report = `document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline") +
    " at " + e.sourceFile + ":" + e.lineNumber + " on " + e.documentURI);
});`
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: report}); err != nil {
		t.Fatalf("watch CSP violations: %v", err)
	}
	var (
		mu   sync.Mutex
		seen []string
	)
	watch, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	messages := chromedp.Console(watch)
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if strings.Contains(m.Text, "CSP violation") || strings.Contains(m.Text, "Content Security Policy") {
				mu.Lock()
				seen = append(seen, m.String())
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		stop()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, v := range seen {
			t.Errorf("Content-Security-Policy violated: %s", v)
		}
	})
}
