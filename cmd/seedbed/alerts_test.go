package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/seedbed/seedbed/alerts"
	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web/apiv1"
)

// A build fails: a signed webhook (retried after the receiver's first 500)
// and an email over a real SMTP server arrive, each linking to the build's
// page; the rule fires on the stage the build was for, which the pipeline
// board shows. Channels and rules are made with the CLI. On SQLite with
// the in-process queue, and on PostgreSQL with Redis.
func TestBuildFailureNotifies(t *testing.T) {
	t.Parallel()
	for _, be := range []backend{embedded, servers} {
		t.Run(be.name, func(t *testing.T) { testBuildFailureNotifies(t, be) })
	}
}

func testBuildFailureNotifies(t *testing.T, be backend) {
	mailer := testutil.StartSMTP(t, testutil.SMTPOptions{User: "seedbed", Password: "mail-pass"})
	recv := testutil.StartHookReceiver(t, 1)
	a := startAppWith(t, be, func(c *Config) {
		c.SMTPURL = "smtp+insecure://seedbed:mail-pass@" + mailer.Addr
		c.SMTPFrom = "Seedbed <alerts@seedbed.example>"
		c.AllowPrivateRepos = true // the receiver listens on loopback
		c.AlertBackoff = 200 * time.Millisecond
	})
	repo := a.newAppRepo("shop")
	c := a.loggedIn(t)
	cli := func(args ...string) string {
		t.Helper()
		return c.must(append([]string{"alerts"}, args...)...)
	}
	var made apiv1.CreateAlertChannelResponse
	if err := json.Unmarshal([]byte(cli("channel", "add", "shop", "ops-hook", "--kind", "webhook", "--url", recv.URL+"/seedbed", "--output", "json")), &made); err != nil {
		t.Fatal(err)
	}
	if made.Secret == "" || strings.Contains(made.Channel.Hint, recv.URL+"/seedbed") || !strings.HasSuffix(made.Channel.Hint, "dbed") {
		t.Fatalf("webhook channel = %+v; want its secret once and the URL only as a hint", made)
	}
	recv.SetSecret(made.Secret)
	cli("channel", "add", "shop", "oncall", "--kind", "email", "--to", "ann@example.com")
	cli("rule", "add", "shop", "builds-hook", "--kind", "build_failed", "--channel", "ops-hook")
	cli("rule", "add", "shop", "builds-mail", "--kind", "build_failed", "--channel", "oncall", "--stage", "dev")

	repo.Commit("break the stack file", map[string]string{"seedbed.yml": stackFile(helloFunction) + "    runtime: rust\n"})
	_, b := a.deploy("shop", "dev", "")
	if b.Status != "failed" {
		t.Fatalf("build %d is %s; want failed", b.ID, b.Status)
	}
	buildURL := fmt.Sprintf("%s/builds/%d", a.ConsoleURL(), b.ID)

	first := recv.Next(t, 30*time.Second)
	second := recv.Next(t, 30*time.Second)
	if first.Answered != 500 || second.Answered != 200 || !first.Valid || !second.Valid || first.Delivery != second.Delivery || second.Event != "build_failed" {
		t.Fatalf("webhook attempts: %+v then %+v; want a signed build_failed, answered 500 then 200, one delivery id", first, second)
	}
	var p alerts.Payload
	if err := json.Unmarshal(second.Body, &p); err != nil {
		t.Fatal(err)
	}
	if p.URL != buildURL || p.BuildID != b.ID || p.Stage != "" || p.App != "shop" {
		t.Errorf("webhook payload %+v; want a link to %s", p, buildURL)
	}

	m := mailer.Next(t, 30*time.Second)
	if m.User != "seedbed" || strings.Join(m.To, ",") != "ann@example.com" || !strings.Contains(m.Data, buildURL) ||
		!strings.Contains(m.Data, fmt.Sprintf("Subject: [Seedbed] Build #%d of shop failed", b.ID)) {
		t.Errorf("mail as %q to %v:\n%s\nwant the build's failure and a link to %s", m.User, m.To, m.Data, buildURL)
	}

	// The link is the build's page.
	if page := consolePage(t, a, strings.TrimPrefix(buildURL, a.ConsoleURL())); !strings.Contains(page, fmt.Sprintf("Build #%d", b.ID)) {
		t.Errorf("the notification's link does not show build #%d", b.ID)
	}
	// The board marks dev, the stage the build was for.
	board := consolePage(t, a, "/apps/shop")
	if !strings.Contains(board, `data-testid="stage-firing-dev"`) || strings.Contains(board, `data-testid="stage-firing-prod"`) {
		t.Errorf("the board does not mark dev (and only dev) as firing")
	}

	var list apiv1.Alerts
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := json.Unmarshal([]byte(cli("list", "shop", "--output", "json")), &list); err != nil {
			t.Fatal(err)
		}
		done := len(list.Deliveries) == 2
		for _, d := range list.Deliveries {
			done = done && d.Status == "delivered"
		}
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	attempts := map[string]int{}
	for _, d := range list.Deliveries {
		attempts[d.Channel] = d.Attempts
		if d.Status != "delivered" || d.URL != buildURL {
			t.Errorf("delivery %+v; want delivered, linking %s", d, buildURL)
		}
	}
	if attempts["ops-hook"] != 2 || attempts["oncall"] != 1 {
		t.Errorf("attempts by channel = %v; want 2 for the webhook (first answered 500), 1 for email", attempts)
	}
	for _, r := range list.Rules {
		if !r.Firing || r.FiringFor != "dev" {
			t.Errorf("rule %+v; want firing on dev", r)
		}
	}
	if text := cli("list", "shop"); !strings.Contains(text, "FIRING on dev") || !strings.Contains(text, "delivered") {
		t.Errorf("seedbed alerts list:\n%s", text)
	}
}

// An owner adds a signed webhook channel on the Alerts page, copies its
// secret (shown once), sends a test notification and sees it delivered,
// then adds a rule; the channel's URL is never shown again.
func TestAlertsPageInBrowser(t *testing.T) {
	recv := testutil.StartHookReceiver(t, 0)
	a := startAppWith(t, embedded, func(c *Config) {
		c.AllowPrivateRepos = true
		c.AlertBackoff = 200 * time.Millisecond
	})
	a.newAppRepo("shop")
	ctx := testutil.Browser(t, 2*time.Minute)
	testutil.FailOnCSPViolations(t, ctx)
	base := a.ConsoleURL()
	hookURL := recv.URL + "/hooks/token-abcdef"

	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/apps/shop"),
		chromedp.WaitVisible(`input[name=email]`),
		chromedp.SendKeys(`input[name=email]`, adminEmail),
		chromedp.SendKeys(`input[name=password]`, adminPassword),
		chromedp.Submit(`input[name=password]`),
		chromedp.WaitVisible(`[data-testid=app-alerts]`),
		chromedp.Click(`[data-testid=app-alerts]`),
		chromedp.WaitVisible(`[data-testid=channel-form]`),
		chromedp.SendKeys(`#channel-name`, "ops-hook"),
		chromedp.SetValue(`#channel-kind`, "webhook"),
		chromedp.SendKeys(`#channel-url`, hookURL),
		chromedp.Click(`[data-testid=add-channel]`),
		chromedp.WaitVisible(`[data-testid=new-secret-value]`),
	)
	if err != nil {
		t.Fatalf("add a webhook channel: %v", err)
	}
	secret, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid=new-secret-value]').value`))
	if err != nil || len(secret) < 16 {
		t.Fatalf("the new channel's secret on the page: %q, %v", secret, err)
	}
	recv.SetSecret(secret)
	testutil.Screenshot(t, ctx, "alerts-01-channel-secret")

	err = chromedp.Do(ctx,
		chromedp.Click(`[data-testid=test-channel-ops-hook]`),
		chromedp.WaitVisible(`[data-testid=alert-deliveries] table`),
	)
	if err != nil {
		t.Fatalf("send a test notification: %v", err)
	}
	if r := recv.Next(t, 20*time.Second); !r.Valid || r.Event != "test" {
		t.Fatalf("test notification %+v; want signed with the secret the page showed", r)
	}
	// The page is not live: load it again until the delivery shows.
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.querySelector('[data-testid=alert-delivery-delivered]')`))
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the test notification is not shown as delivered")
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/apps/shop/alerts"), chromedp.WaitVisible(`[data-testid=alert-deliveries]`)); err != nil {
			t.Fatal(err)
		}
	}
	err = chromedp.Do(ctx,
		chromedp.Click(`[data-testid=rule-form-card] summary`),
		chromedp.SendKeys(`#rule-name`, "prod-deploys"),
		chromedp.SetValue(`#rule-kind`, "deploy_failed"),
		chromedp.SetValue(`#rule-stage`, "prod"),
		chromedp.Click(`[data-testid=add-rule]`),
		chromedp.WaitVisible(`[data-testid=rule-prod-deploys]`),
	)
	if err != nil {
		t.Fatalf("add a rule: %v", err)
	}
	page, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(page, "token-abcdef") || strings.Contains(page, secret) {
		t.Errorf("the Alerts page shows the channel's URL or secret again")
	}
	if !strings.Contains(page, "a deploy failed") || !strings.Contains(page, `data-testid="rule-ok-prod-deploys"`) {
		t.Errorf("the new rule is not listed as a deploy rule that is ok")
	}
	testutil.Screenshot(t, ctx, "alerts-02-rules")
}

// A function that keeps crashing is restarted by the local target, which
// tells the crash counter; the evaluator fires the crash-loop rule once
// and the stage's card shows it.
func TestCrashLoopNotifies(t *testing.T) {
	t.Parallel()
	recv := testutil.StartHookReceiver(t, 0)
	a := startAppWith(t, embedded, func(c *Config) {
		c.AllowPrivateRepos = true
		c.AlertInterval = 200 * time.Millisecond
		c.AlertBackoff = 200 * time.Millisecond
	})
	repo := a.newAppRepo("shop")
	repo.Commit("crash on request", map[string]string{"services/api/main.go": `package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/hello/crash", func(w http.ResponseWriter, r *http.Request) { os.Exit(3) })
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "up") })
	if err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil); err != nil {
		os.Exit(1)
	}
}
`})
	a.mustDeploy("shop", "dev", "")
	ctx := context.Background()
	made, err := a.api.CreateAlertChannel(ctx, "shop", apiv1.CreateAlertChannelRequest{Name: "hook", Kind: "webhook", URL: recv.URL})
	if err != nil {
		t.Fatal(err)
	}
	recv.SetSecret(made.Secret)
	if _, err := a.api.CreateAlertRule(ctx, "shop", apiv1.CreateAlertRuleRequest{Name: "loop", Kind: "crash_loop", Stage: "dev",
		Function: "api/hello", Threshold: 2, Window: "1m", Channel: "hook"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		a.get("/shop/dev/hello/crash")
		deadline := time.Now().Add(20 * time.Second)
		for {
			if code, body := a.get("/shop/dev/hello"); code == 200 && body == "up" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the function did not come back after crash %d", i+1)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	r := recv.Next(t, 20*time.Second)
	var p alerts.Payload
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatal(err)
	}
	if !r.Valid || r.Event != "crash_loop" || p.State != "firing" || p.Stage != "dev" || p.Function != "api/hello" || p.Value == nil || *p.Value < 2 {
		t.Fatalf("notification %+v (valid %t); want a signed crash_loop firing for api/hello on dev with 2 crashes", p, r.Valid)
	}
	if want := a.ConsoleURL() + "/apps/shop/alerts#rule-loop"; p.URL != want {
		t.Errorf("link %s, want %s", p.URL, want)
	}
	if board := consolePage(t, a, "/apps/shop"); !strings.Contains(board, `data-testid="stage-firing-dev"`) {
		t.Errorf("the board does not mark dev as firing")
	}
	select {
	case extra := <-recv.Got:
		t.Errorf("a second notification while the rule still fires: %s", extra.Body)
	case <-time.After(time.Second):
	}
}
