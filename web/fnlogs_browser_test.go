package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/seedbed/seedbed/fnlog"
)

// The function logs page in Chromium, under the console's CSP: reached
// from the app page, lines coloured by level, new lines appear live, and
// the filter form narrows both the lines shown and the live stream to one
// function.
func TestFunctionLogsPageInBrowser(t *testing.T) {
	lf := setupLogs(t)
	b := consoleBrowser(t, lf.fixture)
	if err := chromedp.Do(b,
		chromedp.Navigate(lf.srv.URL+"/apps/shop"),
		chromedp.Click(`[data-testid=logs-dev]`),
		chromedp.WaitVisible(`[data-testid=function-log]`),
		bpoll(`document.querySelector('[data-live-indicator]').textContent === 'Live'`),
	); err != nil {
		t.Fatalf("open the logs of dev: %v", err)
	}
	colours := eval[map[string]string](t, b, `(() => {
		const c = sel => getComputedStyle(document.querySelector(sel)).color;
		return {error: c('#log .level-error'), warn: c('#log .level-warn'), info: c('#log .level-info')};
	})()`)
	if colours["error"] == colours["info"] || colours["warn"] == colours["info"] || colours["error"] == colours["warn"] {
		t.Errorf("levels are not told apart by colour: %v", colours)
	}
	if got := eval[string](t, b, `document.querySelector('#log').textContent`); !strings.Contains(got, "ERROR: <script>alert(1)</script> failed") || strings.Contains(got, "an old line") {
		t.Errorf("the log shows:\n%s", got)
	}

	hello := fnlog.Source{App: "shop", Stage: "dev", Function: "api/hello", Instance: "1234", Release: 3}
	worker := fnlog.Source{App: "shop", Stage: "dev", Function: "jobs/worker", Instance: "99", Release: 3}
	if err := lf.logs.Append(hello, []fnlog.Entry{{Stream: fnlog.StreamStderr, Text: "panic: live <i>boom</i>"}}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(b, bpoll(`Array.from(document.querySelectorAll('#log .line.level-error')).some(s => s.textContent.includes('panic: live <i>boom</i>'))`)); err != nil {
		t.Fatalf("the new line did not appear, escaped and coloured: %v", err)
	}

	// One function, all kept lines, text "queue".
	if err := chromedp.Do(b,
		chromedp.SetValue(`[data-testid=logs-function-select]`, "jobs/worker"),
		chromedp.SetValue(`[data-testid=logs-since]`, ""),
		chromedp.Click(`[data-testid=logs-apply]`),
		chromedp.WaitVisible(`[data-testid=logs-function]`),
		bpoll(`document.querySelector('[data-live-indicator]').textContent === 'Live'`),
	); err != nil {
		t.Fatalf("filter by function: %v", err)
	}
	if got := eval[string](t, b, `document.querySelector('#log').textContent`); !strings.Contains(got, "WARN: queue is long") || strings.Contains(got, "listening on") {
		t.Errorf("the function's log shows:\n%s", got)
	}
	if err := lf.logs.Append(hello, []fnlog.Entry{{Stream: fnlog.StreamStdout, Text: "not this function"}}); err != nil {
		t.Fatal(err)
	}
	if err := lf.logs.Append(worker, []fnlog.Entry{{Stream: fnlog.StreamStdout, Text: "DEBUG: worker tick"}}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(b, bpoll(`document.querySelector('#log').textContent.includes('DEBUG: worker tick')`)); err != nil {
		t.Fatalf("the function's new line did not appear: %v", err)
	}
	if got := eval[string](t, b, `document.querySelector('#log').textContent`); strings.Contains(got, "not this function") {
		t.Errorf("another function's line came through the filtered stream:\n%s", got)
	}
}
