package views

import (
	"net/http"
	"strings"
	"testing"

	"github.com/a-h/templ"
	"github.com/chromedp/chromedp"
)

// A finished build's log renders ANSI colours as classes (never as markup
// from the text), and the filter box hides the lines that do not match.
func TestLogColoursAndFilterInBrowser(t *testing.T) {
	srv := consoleServer(t, map[string]http.HandlerFunc{
		"/builds/7": page(func() templ.Component {
			m := buildFixture()
			m.Build.Status, m.StreamURL = "succeeded", ""
			m.Log = []LogLine{
				{ID: 1, Stream: "seedbed", Text: "Checking out main"},
				{ID: 2, Stream: "stdout", Text: "\x1b[31mred error\x1b[0m and <i>plain</i>"},
				{ID: 3, Stream: "stdout", Text: "compiling package api"},
				{ID: 4, Stream: "stderr", Text: "\x1b[1;32mok\x1b[0m tests passed"},
			}
			return BuildPage(m)
		}),
	})
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/builds/7"), chromedp.WaitVisible(`[data-testid=build-log-filter]`)); err != nil {
		t.Fatalf("open the build: %v", err)
	}
	red, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector('#log .ansi-red') || {}).textContent || ''`))
	if err != nil || red != "red error" {
		t.Fatalf("the red span reads %q (%v)", red, err)
	}
	italics, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#log i').length`))
	if err != nil || italics != 0 {
		t.Fatalf("markup in a log line was interpreted: %d <i> elements (%v)", italics, err)
	}
	err = chromedp.Do(ctx,
		chromedp.SendKeys(`[data-testid=build-log-filter]`, "pass"),
		poll(`Array.from(document.querySelectorAll('#log span.line')).filter(s => !s.hidden && s.offsetParent !== null).length === 1`),
	)
	if err != nil {
		t.Fatalf("filter the log: %v", err)
	}
	visible, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#log span.line')).filter(s => !s.hidden && s.offsetParent !== null).map(s => s.textContent)`))
	if err != nil || len(visible) != 1 || !strings.Contains(visible[0], "tests passed") {
		t.Fatalf("lines left visible by the filter: %q (%v)", visible, err)
	}
	shoot(t, ctx, "log-filter")
}
