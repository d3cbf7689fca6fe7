package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/seedbed/seedbed/alerts"
	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web/apiv1"
)

// flakyFunction answers 500 (after printing why) on /hello/fail and 200
// elsewhere.
const flakyFunction = `package main

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/fail") {
			fmt.Fprintln(os.Stderr, "boom: order 42 has no customer")
			time.Sleep(100 * time.Millisecond) // read before the answer: the issue's sample (docs/metrics.md)
			http.Error(w, "internal error", 500)
			return
		}
		fmt.Fprintf(w, "ok %s", r.URL.Path)
	})
	if err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`

// Requests sent through the real gateway to a deployed function are
// counted exactly: in the collector's window, the stage's metrics API, the
// request log (searchable by status and path), one issue for the 500s with
// the function's output as its sample, and /metrics on --metrics-addr,
// which Prometheus' own parser reads. The console's address does not serve
// /metrics; a viewer reads issues but may not resolve them.
func TestMetricsThroughTheGateway(t *testing.T) {
	a := startAppWith(t, embedded, func(c *Config) {
		c.RequestLogSample = 1
		c.MetricsAddr = "127.0.0.1:0"
	})
	ctx := context.Background()
	repo := testutil.NewRepo(t)
	repo.Commit("flaky", map[string]string{"seedbed.yml": stackFile(helloFunction), "services/api/go.mod": goMod, "services/api/main.go": flakyFunction})
	if _, err := a.api.CreateApp(ctx, apiv1.CreateAppRequest{Name: "shop", RepoURL: repo.Dir, Branch: "main"}); err != nil {
		t.Fatal(err)
	}
	a.mustDeploy("shop", "dev", "")

	const ok, failed = 40, 7
	for i := range ok + failed {
		path, want := "/shop/dev/hello/x", 200
		if i%6 == 5 && i/6 < failed {
			path, want = "/shop/dev/hello/fail", 500
		}
		if code, body := a.get(path); code != want {
			t.Fatalf("GET %s = %d %q, want %d", path, code, body, want)
		}
	}
	// Counted at once, before any rollup.
	a.waitCounted(t, "shop", "dev", ok+failed)
	req, errs, p95, err := a.metrics.Window(ctx, "shop", "dev", "api/hello", time.Hour)
	if err != nil || req != ok+failed || errs != failed {
		t.Fatalf("Window = %d requests, %d errors (%v); sent %d, %d of them failing", req, errs, err, ok+failed, failed)
	}
	if p95 <= 0 || p95 > 5*time.Second {
		t.Errorf("p95 = %v", p95)
	}
	sm, err := a.api.StageMetrics(ctx, "shop", "dev", "1h")
	if err != nil || len(sm.Functions) != 1 || sm.Functions[0].Requests != ok+failed || sm.Functions[0].Errors != failed {
		t.Fatalf("stage metrics = %+v (%v)", sm, err)
	}

	// The request log and the issue are written within a second or so.
	var logs []apiv1.RequestLogEntry
	deadline := time.Now().Add(10 * time.Second)
	for len(logs) < failed && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		logs, err = a.api.RequestLog(ctx, "shop", "dev", apiv1.RequestLogQuery{Status: "5xx"})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(logs) != failed {
		t.Fatalf("request log has %d 5xx entries, want %d", len(logs), failed)
	}
	for _, l := range logs {
		if l.Status != 500 || l.Path != "/hello/fail" || l.Function != "api/hello" || l.Method != "GET" || l.Client == "" || l.Instance == "" {
			t.Errorf("request log entry %+v", l)
		}
	}
	all, err := a.api.RequestLog(ctx, "shop", "dev", apiv1.RequestLogQuery{Path: "/hello/x", Limit: 1000})
	if err != nil || len(all) != ok {
		t.Errorf("request log by path = %d entries (%v), want %d", len(all), err, ok)
	}
	if _, err := a.api.RequestLog(ctx, "shop", "dev", apiv1.RequestLogQuery{Status: "oops"}); err == nil || !strings.Contains(err.Error(), "5xx") {
		t.Errorf("a bad status search: %v; want a refusal that says what to type", err)
	}
	var issues []apiv1.Issue
	for time.Now().Before(deadline) {
		if issues, err = a.api.Issues(ctx, "shop", false); err == nil && len(issues) > 0 && issues[0].Count == failed {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(issues) != 1 || issues[0].Count != failed || issues[0].ErrorType != "HTTP 500" || !strings.Contains(issues[0].Sample, "boom: order 42") {
		t.Fatalf("issues = %+v (%v); want one HTTP 500 group of %d with the function's output", issues, err, failed)
	}

	// Prometheus reads /metrics on its own address.
	families := scrape(t, a.MetricsURL()+"/metrics")
	counts := map[string]float64{}
	for _, m := range families["seedbed_function_requests_total"].GetMetric() {
		l := labels(m)
		if l["app"] == "shop" && l["stage"] == "dev" && l["function"] == "api/hello" {
			counts[l["code"]] = m.GetCounter().GetValue()
		}
	}
	if counts["2xx"] != ok || counts["5xx"] != failed {
		t.Errorf("/metrics requests by code = %v, want 2xx %d, 5xx %d", counts, ok, failed)
	}
	if code, body := httpGet(t, a.ConsoleURL()+"/metrics", ""); strings.Contains(body, "seedbed_function") {
		t.Errorf("the console's address serves /metrics (%d) to anyone; it must not", code)
	}

	// A viewer reads the issues but may not resolve them; a deployer may.
	viewer := apiv1.NewClient(a.ConsoleURL(), a.userToken("vic@example.com", "shop", "viewer"))
	if got, err := viewer.Issues(ctx, "shop", false); err != nil || len(got) != 1 {
		t.Fatalf("viewer reads issues: %v, %v", got, err)
	}
	if _, err := viewer.ResolveIssue(ctx, "shop", issues[0].ID, false); err == nil || !strings.Contains(err.Error(), "deployer") {
		t.Fatalf("a viewer resolved an issue: %v", err)
	}
	outsider := apiv1.NewClient(a.ConsoleURL(), a.userToken("eve@example.com", "", ""))
	if _, err := outsider.Issues(ctx, "shop", false); err == nil {
		t.Fatal("a user with no role read the app's issues")
	}
	deployer := apiv1.NewClient(a.ConsoleURL(), a.userToken("dee@example.com", "shop", "deployer"))
	if g, err := deployer.ResolveIssue(ctx, "shop", issues[0].ID, false); err != nil || g.ResolvedAt == nil || g.ResolvedBy != "dee@example.com" {
		t.Fatalf("deployer resolves: %+v, %v", g, err)
	}
	if open, _ := a.api.Issues(ctx, "shop", false); len(open) != 0 {
		t.Fatalf("open issues after resolving: %+v", open)
	}
	// It recurs: the group reopens.
	if code, _ := a.get("/shop/dev/hello/fail"); code != 500 {
		t.Fatal(code)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		open, _ := a.api.Issues(ctx, "shop", false)
		if len(open) == 1 && open[0].Reopened == 1 && open[0].Count == failed+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the resolved issue did not reopen when it recurred: %+v", open)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("scrape %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("Prometheus' text parser refused %s: %v", url, err)
	}
	return families
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// The function page in a browser: charts of requests, errors, p95 and instances with
// the deploy marked on the time axis, the recent requests and the open
// issue; the stage's card on the board shows its request and error rate.
func TestFunctionPageInBrowser(t *testing.T) {
	a := startAppWith(t, embedded, func(c *Config) { c.RequestLogSample = 1 })
	ctx := context.Background()
	repo := testutil.NewRepo(t)
	repo.Commit("flaky", map[string]string{"seedbed.yml": stackFile(helloFunction), "services/api/go.mod": goMod, "services/api/main.go": flakyFunction})
	if _, err := a.api.CreateApp(ctx, apiv1.CreateAppRequest{Name: "shop", RepoURL: repo.Dir, Branch: "main"}); err != nil {
		t.Fatal(err)
	}
	a.mustDeploy("shop", "dev", "")
	for i := range 30 {
		path := "/shop/dev/hello/x"
		if i%5 == 4 {
			path = "/shop/dev/hello/fail"
		}
		a.get(path)
	}
	a.waitCounted(t, "shop", "dev", 30)
	a.metrics.Flush(ctx)

	b := testutil.Browser(t, 2*time.Minute)
	testutil.FailOnCSPViolations(t, b)
	base := a.ConsoleURL()
	err := chromedp.Do(b,
		chromedp.Navigate(base+"/apps/shop"),
		chromedp.WaitVisible(`input[name=email]`),
		chromedp.SendKeys(`input[name=email]`, adminEmail),
		chromedp.SendKeys(`input[name=password]`, adminPassword),
		chromedp.Submit(`input[name=password]`),
		chromedp.WaitVisible(`[data-testid=traffic-dev]`),
	)
	if err != nil {
		t.Fatalf("sign in to the board: %v", err)
	}
	rate, err := chromedp.Run(b, chromedp.Text(`[data-testid=error-rate-dev]`))
	if err != nil || !strings.Contains(rate, "20.0 %") {
		t.Errorf("the dev card's error rate reads %q (%v); 6 of 30 failed", rate, err)
	}
	err = chromedp.Do(b,
		chromedp.Click(`[data-testid=traffic-dev]`),
		chromedp.WaitVisible(`[data-testid="fn-api/hello"]`),
	)
	if err != nil {
		t.Fatalf("open the stage's metrics: %v", err)
	}
	if got, err := chromedp.Run(b, chromedp.Text(`[data-testid="fn-requests-api/hello"]`)); err != nil || got != "30" {
		t.Errorf("stage metrics show %q requests (%v), want 30", got, err)
	}
	testutil.Screenshot(t, b, "metrics-01-stage")
	err = chromedp.Do(b,
		chromedp.Click(`[data-testid="fn-link-api/hello"]`),
		chromedp.WaitVisible(`[data-testid=function-charts]`),
	)
	if err != nil {
		t.Fatalf("open the function page: %v", err)
	}
	checks := []struct{ expr, what string }{
		{`document.querySelectorAll('[data-testid=function-charts] svg.chart').length === 4`, "four charts"},
		{`document.querySelector('[data-testid="chart-instances-api/hello"]').dataset.max === "1"`, "the instances chart shows the one instance"},
		{`document.querySelector('[data-testid="chart-requests-api/hello"]').dataset.max === "30"`, "the requests chart's peak is the 30 requests"},
		{`document.querySelector('[data-testid="chart-errors-api/hello"]').dataset.max === "6"`, "the errors chart's peak is the 6 failures"},
		{`document.querySelectorAll('[data-testid="chart-requests-api/hello"] [data-testid=marker]').length >= 1`, "the deploy marked on the time axis"},
		{`document.querySelector('[data-testid=total-errors]').innerText === "6"`, "6 errors in total"},
		{`document.querySelectorAll('[data-testid=request-row]').length === 20`, "the 20 most recent requests"},
		{`document.querySelector('[data-testid=issues]').innerText.includes('HTTP 500')`, "the open issue"},
	}
	for _, c := range checks {
		ok, err := chromedp.Run(b, chromedp.Evaluate[bool](c.expr))
		if err != nil || !ok {
			t.Errorf("the function page lacks %s (%v)", c.what, err)
		}
	}
	testutil.Screenshot(t, b, "metrics-02-function")
	// The request log, searched for the 500s.
	err = chromedp.Do(b,
		chromedp.Navigate(base+"/apps/shop/stages/dev/requests?status=5xx"),
		chromedp.WaitVisible(`[data-testid=requests]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := chromedp.Run(b, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid=request-row]').length`)); err != nil || n != 6 {
		t.Errorf("the request log shows %d rows for 5xx (%v), want 6", n, err)
	}
	testutil.Screenshot(t, b, "metrics-03-request-log")
	// Resolve the issue from the issues page.
	err = chromedp.Do(b,
		chromedp.Navigate(base+"/apps/shop/issues"),
		chromedp.Click(`[data-testid=resolve]`),
		chromedp.WaitVisible(`[data-testid=issues-empty]`),
	)
	if err != nil {
		t.Fatalf("resolve the issue: %v", err)
	}
	testutil.Screenshot(t, b, "metrics-04-issues-resolved")
}

// An error-rate alert rule reads the gateway's metrics: half of the
// requests through the real gateway fail, and the rule notifies.
func TestErrorRateAlertFromGatewayMetrics(t *testing.T) {
	recv := testutil.StartHookReceiver(t, 0)
	a := startAppWith(t, embedded, func(c *Config) {
		c.AllowPrivateRepos = true
		c.AlertInterval = 200 * time.Millisecond
		c.AlertBackoff = 200 * time.Millisecond
	})
	ctx := context.Background()
	repo := testutil.NewRepo(t)
	repo.Commit("flaky", map[string]string{"seedbed.yml": stackFile(helloFunction), "services/api/go.mod": goMod, "services/api/main.go": flakyFunction})
	if _, err := a.api.CreateApp(ctx, apiv1.CreateAppRequest{Name: "shop", RepoURL: repo.Dir, Branch: "main"}); err != nil {
		t.Fatal(err)
	}
	a.mustDeploy("shop", "dev", "")
	made, err := a.api.CreateAlertChannel(ctx, "shop", apiv1.CreateAlertChannelRequest{Name: "hook", Kind: "webhook", URL: recv.URL})
	if err != nil {
		t.Fatal(err)
	}
	recv.SetSecret(made.Secret)
	if _, err := a.api.CreateAlertRule(ctx, "shop", apiv1.CreateAlertRuleRequest{Name: "errors", Kind: "error_rate", Stage: "dev",
		Threshold: 20, Window: "5m", Channel: "hook"}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		path := "/shop/dev/hello/x"
		if i%2 == 0 {
			path = "/shop/dev/hello/fail"
		}
		a.get(path)
	}
	r := recv.Next(t, 20*time.Second)
	var p alerts.Payload
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatal(err)
	}
	if !r.Valid || r.Event != "error_rate" || p.State != "firing" || p.Stage != "dev" || p.Value == nil || *p.Value < 40 {
		t.Fatalf("notification %+v (valid %t); want a signed error_rate firing for dev at 50 %%", p, r.Valid)
	}
}

// waitCounted waits until the gateway has observed n requests to a stage:
// it observes a request once the answer is written, which the client may
// read first.
func (a *testApp) waitCounted(t *testing.T, app, stage string, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		req, _, _, err := a.metrics.Window(context.Background(), app, stage, "", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if req >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway observed %d requests to %s/%s, want %d", req, app, stage, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
