package alerts_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/seedbed/seedbed/alerts"
	"github.com/seedbed/seedbed/netguard"
	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/pipelines/queue"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
	"github.com/seedbed/seedbed/testutil"
)

const publicURL = "https://seedbed.example"

// bundle is what a test works with: a Service on a migrated SQLite store,
// delivering through a real asynq server on the embedded queue.
type bundle struct {
	ctx    context.Context
	svc    *alerts.Service
	st     *store.Store
	app    store.App
	stages map[string]store.Stage
}

type setupOptions struct {
	smtp    alerts.SMTP
	metrics alerts.MetricsSource
	crashes *alerts.CrashCounter
	network netguard.Policy
	now     func() time.Time
}

func setup(t testing.TB, opt setupOptions) *bundle {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "seedbed.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	app := store.App{Name: "shop", RepoURL: "/src/shop", Branch: "main"}
	if err := st.CreateApp(ctx, &app, []store.Stage{{Name: "dev", Branch: "main"}, {Name: "prod", Approval: true}}); err != nil {
		t.Fatal(err)
	}
	stages := map[string]store.Stage{}
	list, err := st.Stages(ctx, app.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		stages[s.Name] = s
	}
	sealer, err := pipelines.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	emb, err := queue.StartEmbedded(ctx, queue.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(emb.ConnOpt())
	svc := alerts.New(alerts.Config{Store: st, Queue: client, Sealer: sealer, PublicURL: publicURL, Network: opt.network,
		SMTP: opt.smtp, Metrics: opt.metrics, Crashes: opt.crashes, Attempts: 3, Backoff: 200 * time.Millisecond, MaxBackoff: time.Second,
		SendTimeout: 5 * time.Second, NodeID: "test", Now: opt.now})
	srv := asynq.NewServer(emb.ConnOpt(), queue.ServerConfig(asynq.Config{Queues: map[string]int{alerts.Queue: 1},
		RetryDelayFunc: svc.RetryDelay(queue.RetryDelay), LogLevel: asynq.FatalLevel}))
	mux := asynq.NewServeMux()
	svc.Register(mux)
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Shutdown()
		client.Close()
		emb.Close()
	})
	return &bundle{ctx: ctx, svc: svc, st: st, app: app, stages: stages}
}

// waitDelivery waits until a delivery has finished and returns it.
func (b *bundle) waitDelivery(t *testing.T, id uint) store.AlertDelivery {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		d, err := b.st.AlertDeliveryByID(b.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if d.Finished() {
			return d
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("notification %d did not finish in time", id)
	return store.AlertDelivery{}
}

func (b *bundle) deliveries(t *testing.T) []store.AlertDelivery {
	t.Helper()
	ds, err := b.svc.Deliveries(b.ctx, b.app, 100)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func (b *bundle) failedBuild(t *testing.T, stage string) store.Build {
	t.Helper()
	build := store.Build{AppID: b.app.ID, Ref: "main", CommitSHA: "0123456789abcdef", Status: store.BuildFailed, Error: "go build: exit status 1\nmore"}
	if err := b.st.CreateBuild(b.ctx, &build); err != nil {
		t.Fatal(err)
	}
	if stage != "" {
		d := store.Deploy{AppID: b.app.ID, StageID: b.stages[stage].ID, BuildID: &build.ID, Status: store.DeployFailed}
		if err := b.st.CreateDeploy(b.ctx, &d); err != nil {
			t.Fatal(err)
		}
	}
	return build
}

func (b *bundle) deploy(t testing.TB, stage, status string) store.Deploy {
	t.Helper()
	d := store.Deploy{AppID: b.app.ID, StageID: b.stages[stage].ID, Status: status, TriggeredBy: "ann@example.com", Error: "function api/hello did not answer on $PORT"}
	if err := b.st.CreateDeploy(b.ctx, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func (b *bundle) rule(t testing.TB, in alerts.NewRule) store.AlertRule {
	t.Helper()
	r, err := b.svc.CreateRule(b.ctx, b.app, in)
	if err != nil {
		t.Fatalf("create rule %s: %v", in.Name, err)
	}
	return r
}

// webhook makes a webhook channel to a receiver that checks signatures.
func (b *bundle) webhook(t testing.TB, name string, failFirst int) *testutil.HookReceiver {
	t.Helper()
	recv := testutil.StartHookReceiver(t, failFirst)
	_, secret, err := b.svc.CreateChannel(b.ctx, b.app, alerts.NewChannel{Name: name, Kind: store.ChannelWebhook, URL: recv.URL + "/hooks/seedbed?token=abc"})
	if err != nil {
		t.Fatalf("create channel %s: %v", name, err)
	}
	if len(secret) < 16 {
		t.Fatalf("webhook channel secret %q: want one made by Seedbed", secret)
	}
	recv.SetSecret(secret)
	return recv
}

var allowPrivate = netguard.Policy{AllowPrivate: true}

func TestWebhookIsSignedAndRetried(t *testing.T) {
	b := setup(t, setupOptions{network: allowPrivate})
	recv := b.webhook(t, "ops-hook", 1)
	b.rule(t, alerts.NewRule{Name: "builds", Kind: store.RuleBuildFailed, Channel: "ops-hook"})
	build := b.failedBuild(t, "dev")

	if err := b.svc.BuildFailed(b.ctx, build); err != nil {
		t.Fatal(err)
	}
	// Reporting the same build again (a retried job) notifies no one twice.
	if err := b.svc.BuildFailed(b.ctx, build); err != nil {
		t.Fatal(err)
	}
	first := recv.Next(t, 10*time.Second)
	second := recv.Next(t, 10*time.Second)
	if first.Answered != 500 || second.Answered != 200 {
		t.Fatalf("receiver answered %d then %d; want 500 (made to fail) then 200", first.Answered, second.Answered)
	}
	for i, r := range []testutil.HookRequest{first, second} {
		if !r.Valid {
			t.Errorf("attempt %d: signature %q does not verify with the channel's secret", i+1, r.Signature)
		}
		if r.Event != store.RuleBuildFailed {
			t.Errorf("attempt %d: X-Seedbed-Event = %q, want build_failed", i+1, r.Event)
		}
	}
	if first.Delivery == "" || first.Delivery != second.Delivery {
		t.Errorf("X-Seedbed-Delivery %q then %q: want one id for both attempts", first.Delivery, second.Delivery)
	}
	var p alerts.Payload
	if err := json.Unmarshal(second.Body, &p); err != nil {
		t.Fatal(err)
	}
	wantURL := publicURL + "/builds/" + itoa(build.ID)
	if p.URL != wantURL || p.App != "shop" || p.Stage != "" || p.BuildID != build.ID || p.Rule != "builds" || p.Delivery != first.Delivery {
		t.Errorf("payload = %+v; want the build's page %s, app shop, rule builds", p, wantURL)
	}
	if !strings.Contains(p.Text, "go build: exit status 1") || strings.Contains(p.Text, "more") {
		t.Errorf("payload text %q: want the error's first line", p.Text)
	}

	ds := b.deliveries(t)
	if len(ds) != 1 {
		t.Fatalf("%d deliveries recorded, want 1 (the second report is the same event)", len(ds))
	}
	d := b.waitDelivery(t, ds[0].ID)
	if d.Status != store.AlertDelivered || d.Attempts != 2 || d.ResponseCode != 200 || d.Error != "" || d.DeliveryID != first.Delivery {
		t.Errorf("delivery = %+v; want delivered on attempt 2 with 200", d)
	}
	select {
	case extra := <-recv.Got:
		t.Errorf("an extra request reached the receiver: %+v", extra)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestWebhookGivesUp(t *testing.T) {
	tests := []struct {
		name      string
		failFirst int
		secret    string // the receiver's; "" keeps the channel's
		attempts  int
		code      int
	}{
		{"every attempt answers 500", 99, "", 3, 500},
		{"a wrong signature is refused once for all", 0, "not-the-secret-at-all", 1, 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := setup(t, setupOptions{network: allowPrivate})
			recv := b.webhook(t, "hook", tc.failFirst)
			if tc.secret != "" {
				recv.SetSecret(tc.secret)
			}
			b.rule(t, alerts.NewRule{Name: "deploys", Kind: store.RuleDeployFailed, Stage: "prod", Channel: "hook"})
			if err := b.svc.DeployFailed(b.ctx, b.deploy(t, "prod", store.DeployFailed)); err != nil {
				t.Fatal(err)
			}
			ds := b.deliveries(t)
			if len(ds) != 1 {
				t.Fatalf("%d deliveries, want 1", len(ds))
			}
			d := b.waitDelivery(t, ds[0].ID)
			if d.Status != store.AlertFailed || d.Attempts != tc.attempts || d.ResponseCode != tc.code || !strings.Contains(d.Error, itoa(uint(tc.code))) {
				t.Errorf("delivery = status %s, %d attempts, code %d, error %q; want failed after %d with %d", d.Status, d.Attempts, d.ResponseCode, d.Error, tc.attempts, tc.code)
			}
		})
	}
}

func TestSlackChannel(t *testing.T) {
	b := setup(t, setupOptions{network: allowPrivate})
	recv := testutil.StartHookReceiver(t, 0)
	ch, secret, err := b.svc.CreateChannel(b.ctx, b.app, alerts.NewChannel{Name: "slack", Kind: store.ChannelSlack, URL: recv.URL + "/services/T0/B0/abcdefsecret"})
	if err != nil {
		t.Fatal(err)
	}
	if secret != "" || strings.Contains(ch.Hint, "abcdefsecret") || !strings.HasSuffix(ch.Hint, "cret") || strings.Contains(ch.Target, "abcdef") {
		t.Errorf("channel hint %q, target %q, secret %q: want the URL sealed and shown only by host and last characters", ch.Hint, ch.Target, secret)
	}
	b.rule(t, alerts.NewRule{Name: "approvals", Kind: store.RuleApprovalAwaiting, Stage: "prod", Channel: "slack"})
	b.rule(t, alerts.NewRule{Name: "dev-only", Kind: store.RuleApprovalAwaiting, Stage: "dev", Channel: "slack"})
	d := b.deploy(t, "prod", store.DeployAwaiting)
	if err := b.svc.ApprovalAwaiting(b.ctx, d); err != nil {
		t.Fatal(err)
	}
	got := recv.Next(t, 10*time.Second)
	var msg map[string]string
	if err := json.Unmarshal(got.Body, &msg); err != nil {
		t.Fatal(err)
	}
	link := "<" + publicURL + "/deploys/" + itoa(d.ID) + "|Open in Seedbed>"
	if !strings.Contains(msg["text"], "awaits approval") || !strings.Contains(msg["text"], link) || !strings.Contains(msg["text"], "ann@example.com") {
		t.Errorf("slack text = %q; want the approval, who asked and %s", msg["text"], link)
	}
	if got.Signature != "" {
		t.Errorf("a Slack message carries a signature header %q", got.Signature)
	}
	if n := len(b.deliveries(t)); n != 1 {
		t.Errorf("%d deliveries, want 1: the dev rule does not match prod", n)
	}
}

func TestEmailChannel(t *testing.T) {
	tests := []struct {
		name string
		opt  testutil.SMTPOptions
		url  func(addr string) string
		tls  bool
	}{
		{"STARTTLS with a password", testutil.SMTPOptions{User: "seedbed", Password: "s3cret", StartTLS: true},
			func(addr string) string { return "smtp://seedbed:s3cret@" + addr }, true},
		{"no TLS to a relay on loopback", testutil.SMTPOptions{User: "seedbed", Password: "s3cret"},
			func(addr string) string { return "smtp+insecure://seedbed:s3cret@" + addr }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mailer := testutil.StartSMTP(t, tc.opt)
			cfg, err := alerts.ParseSMTP(tc.url(mailer.Addr), "Seedbed <alerts@seedbed.example>")
			if err != nil {
				t.Fatal(err)
			}
			cfg.TLS = &tls.Config{RootCAs: mailer.RootCAs}
			b := setup(t, setupOptions{smtp: cfg})
			if _, _, err := b.svc.CreateChannel(b.ctx, b.app, alerts.NewChannel{Name: "oncall", Kind: store.ChannelEmail, Addresses: "ann@example.com, Bob <bob@example.com>"}); err != nil {
				t.Fatal(err)
			}
			b.rule(t, alerts.NewRule{Name: "deploys", Kind: store.RuleDeployFailed, Channel: "oncall"})
			d := b.deploy(t, "prod", store.DeployFailed)
			if err := b.svc.DeployFailed(b.ctx, d); err != nil {
				t.Fatal(err)
			}
			ds := b.deliveries(t)
			if len(ds) != 1 {
				t.Fatalf("%d deliveries, want 1", len(ds))
			}
			if got := b.waitDelivery(t, ds[0].ID); got.Status != store.AlertDelivered || got.ResponseCode != 250 {
				t.Fatalf("delivery = %+v; want delivered", got)
			}
			m := mailer.Next(t, 10*time.Second)
			if m.From != "alerts@seedbed.example" || strings.Join(m.To, ",") != "ann@example.com,bob@example.com" || m.User != "seedbed" || m.TLS != tc.tls {
				t.Errorf("mail from %q to %q as %q over TLS %t; want from alerts@seedbed.example to ann and bob, as seedbed, TLS %t", m.From, m.To, m.User, m.TLS, tc.tls)
			}
			for _, want := range []string{"Subject: [Seedbed] Deploy #" + itoa(d.ID) + " of shop to prod failed", publicURL + "/deploys/" + itoa(d.ID), "did not answer on $PORT", "X-Seedbed-Event: deploy_failed"} {
				if !strings.Contains(m.Data, want) {
					t.Errorf("mail lacks %q:\n%s", want, m.Data)
				}
			}
		})
	}
}

func TestEmailRefusedByServer(t *testing.T) {
	mailer := testutil.StartSMTP(t, testutil.SMTPOptions{User: "seedbed", Password: "right"})
	cfg, err := alerts.ParseSMTP("smtp+insecure://seedbed:wrong@"+mailer.Addr, "alerts@seedbed.example")
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t, setupOptions{smtp: cfg})
	if _, _, err := b.svc.CreateChannel(b.ctx, b.app, alerts.NewChannel{Name: "oncall", Kind: store.ChannelEmail, Addresses: "ann@example.com"}); err != nil {
		t.Fatal(err)
	}
	d, err := b.svc.SendTest(b.ctx, b.app, "oncall", "ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	got := b.waitDelivery(t, d.ID)
	if got.Status != store.AlertFailed || got.Attempts != 1 || !strings.Contains(got.Error, "refused the user") || strings.Contains(got.Error, "wrong") {
		t.Errorf("delivery = %+v; want failed at once, saying the user was refused, without the password", got)
	}
}

func TestChannelAndRuleInput(t *testing.T) {
	b := setup(t, setupOptions{}) // private addresses refused, no SMTP
	if _, _, err := b.svc.CreateChannel(b.ctx, b.app, alerts.NewChannel{Name: "ok", Kind: store.ChannelWebhook, URL: "https://203.0.113.10/hook"}); err != nil {
		t.Fatal(err)
	}
	channels := []struct {
		name string
		in   alerts.NewChannel
		want string
	}{
		{"loopback URL", alerts.NewChannel{Name: "a", Kind: store.ChannelWebhook, URL: "http://127.0.0.1:8080/x"}, "--allow-private-repos"},
		{"metadata service", alerts.NewChannel{Name: "a", Kind: store.ChannelSlack, URL: "http://169.254.169.254/latest"}, "link-local"},
		{"not http", alerts.NewChannel{Name: "a", Kind: store.ChannelWebhook, URL: "file:///etc/passwd"}, "http:// or https://"},
		{"password in URL", alerts.NewChannel{Name: "a", Kind: store.ChannelWebhook, URL: "https://u:p@203.0.113.10/"}, "user or password"},
		{"short secret", alerts.NewChannel{Name: "a", Kind: store.ChannelWebhook, URL: "https://203.0.113.10/", Secret: "short"}, "16 characters"},
		{"bad name", alerts.NewChannel{Name: "Ops Slack", Kind: store.ChannelSlack, URL: "https://203.0.113.10/"}, "lower-case"},
		{"unknown kind", alerts.NewChannel{Name: "a", Kind: "pager", URL: "https://203.0.113.10/"}, "want slack"},
		{"email without SMTP", alerts.NewChannel{Name: "a", Kind: store.ChannelEmail, Addresses: "ann@example.com"}, "--smtp-url"},
		{"taken name", alerts.NewChannel{Name: "ok", Kind: store.ChannelWebhook, URL: "https://203.0.113.10/"}, "already"},
	}
	for _, tc := range channels {
		t.Run("channel "+tc.name, func(t *testing.T) {
			_, _, err := b.svc.CreateChannel(b.ctx, b.app, tc.in)
			if err == nil || !strings.Contains(pipelines.ErrorMessage(err), tc.want) {
				t.Errorf("CreateChannel = %v; want a message with %q", err, tc.want)
			}
		})
	}
	rules := []struct {
		name string
		in   alerts.NewRule
		want string
	}{
		{"unknown kind", alerts.NewRule{Name: "r", Kind: "cpu", Channel: "ok"}, "want one of"},
		{"unknown stage", alerts.NewRule{Name: "r", Kind: store.RuleDeployFailed, Stage: "qa", Channel: "ok"}, "no stage qa"},
		{"unknown channel", alerts.NewRule{Name: "r", Kind: store.RuleDeployFailed, Channel: "nope"}, "no alert channel named nope"},
		{"rate over 100", alerts.NewRule{Name: "r", Kind: store.RuleErrorRate, Threshold: 120, Window: "5m", Channel: "ok"}, "at most 100"},
		{"no window", alerts.NewRule{Name: "r", Kind: store.RuleLatencyP95, Threshold: 300, Channel: "ok"}, "window between 1m and 24h"},
		{"threshold on an event", alerts.NewRule{Name: "r", Kind: store.RuleBuildFailed, Threshold: 3, Channel: "ok"}, "no threshold"},
	}
	for _, tc := range rules {
		t.Run("rule "+tc.name, func(t *testing.T) {
			_, err := b.svc.CreateRule(b.ctx, b.app, tc.in)
			if err == nil || !strings.Contains(pipelines.ErrorMessage(err), tc.want) {
				t.Errorf("CreateRule = %v; want a message with %q", err, tc.want)
			}
		})
	}
	if _, err := b.svc.SendTest(b.ctx, b.app, "ok", "ann@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.SendTest(b.ctx, b.app, "ok", "ann@example.com"); pipelines.ErrorCode(err) != pipelines.EConflict || !strings.Contains(err.Error(), "wait") {
		t.Errorf("a second test notification at once: %v; want a conflict asking to wait", err)
	}
	b.rule(t, alerts.NewRule{Name: "uses-ok", Kind: store.RuleBuildFailed, Channel: "ok"})
	if err := b.svc.DeleteChannel(b.ctx, b.app, "ok"); pipelines.ErrorCode(err) != pipelines.EConflict || !strings.Contains(err.Error(), "uses-ok") {
		t.Errorf("deleting a channel a rule uses = %v; want a conflict naming the rule", err)
	}
}

// TestDialerRefusesPrivateAddresses: a channel saved while private
// addresses were allowed is refused once they are not, when it connects.
func TestDialerRefusesPrivateAddresses(t *testing.T) {
	b := setup(t, setupOptions{network: allowPrivate})
	recv := b.webhook(t, "hook", 0)
	// The same database, a service that refuses private addresses.
	sealer, _ := pipelines.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	emb, err := queue.StartEmbedded(b.ctx, queue.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(emb.ConnOpt())
	t.Cleanup(func() { client.Close(); emb.Close() })
	svc := alerts.New(alerts.Config{Store: b.st, Queue: client, Sealer: sealer, PublicURL: publicURL})
	d, err := svc.SendTest(b.ctx, b.app, "hook", "ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	err = svc.Deliver(b.ctx, d.ID, false)
	if !errors.Is(err, asynq.SkipRetry) || !netguard.IsBlocked(err) {
		t.Errorf("Deliver = %v; want refused by the network policy, not retried", err)
	}
	got, _ := b.st.AlertDeliveryByID(b.ctx, d.ID)
	if got.Status != store.AlertFailed || !strings.Contains(got.Error, "loopback") {
		t.Errorf("delivery = %+v; want failed, saying the address is loopback", got)
	}
	select {
	case r := <-recv.Got:
		t.Errorf("the receiver was reached: %+v", r)
	default:
	}
}

// fakeMetrics answers what a test sets.
type fakeMetrics struct {
	mu       sync.Mutex
	requests int64
	errors   int64
	p95      time.Duration
	asked    []string
}

func (f *fakeMetrics) set(req, errs int64, p95 time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests, f.errors, f.p95 = req, errs, p95
}

func (f *fakeMetrics) Window(_ context.Context, app, stage, function string, since time.Duration) (int64, int64, time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, app+"/"+stage+"/"+function+"/"+since.String())
	if stage != "prod" {
		return 0, 0, 0, nil
	}
	return f.requests, f.errors, f.p95, nil
}

func TestMeasuredRulesFireAndResolveOnce(t *testing.T) {
	metrics := &fakeMetrics{}
	b := setup(t, setupOptions{network: allowPrivate, metrics: metrics})
	recv := b.webhook(t, "hook", 0)
	b.rule(t, alerts.NewRule{Name: "errors", Kind: store.RuleErrorRate, Threshold: 5, Window: "5m", Channel: "hook"})
	b.rule(t, alerts.NewRule{Name: "slow", Kind: store.RuleLatencyP95, Stage: "prod", Function: "api/hello", Threshold: 300, Window: "10m", Channel: "hook"})

	steps := []struct {
		name      string
		req, errs int64
		p95       time.Duration
		firing    map[string]bool
		notified  []string // "rule state", in any order
	}{
		{"quiet", 200, 2, 100 * time.Millisecond, map[string]bool{"errors": false, "slow": false}, nil},
		{"too few requests to count", 5, 5, 100 * time.Millisecond, map[string]bool{"errors": false, "slow": false}, nil},
		{"errors and slow", 200, 20, 450 * time.Millisecond, map[string]bool{"errors": true, "slow": true}, []string{"errors firing", "slow firing"}},
		{"still bad: no second notice", 300, 30, 500 * time.Millisecond, map[string]bool{"errors": true, "slow": true}, nil},
		{"errors pass", 300, 3, 500 * time.Millisecond, map[string]bool{"errors": false, "slow": true}, []string{"errors resolved"}},
		{"all well", 300, 0, 50 * time.Millisecond, map[string]bool{"errors": false, "slow": false}, []string{"slow resolved"}},
	}
	for _, step := range steps {
		metrics.set(step.req, step.errs, step.p95)
		if err := b.svc.Evaluate(b.ctx); err != nil {
			t.Fatalf("%s: evaluate: %v", step.name, err)
		}
		firing, err := b.st.FiringRules(b.ctx, b.app.ID)
		if err != nil {
			t.Fatal(err)
		}
		for rule, want := range step.firing {
			got := false
			for _, names := range firing {
				got = got || contains(names, rule)
			}
			if got != want {
				t.Errorf("%s: rule %s firing = %t, want %t", step.name, rule, got, want)
			}
		}
		if step.firing["errors"] && !contains(firing["prod"], "errors") {
			t.Errorf("%s: firing by stage = %v; want errors on prod, the stage that breaks it", step.name, firing)
		}
		var got []string
		for range step.notified {
			r := recv.Next(t, 10*time.Second)
			var p alerts.Payload
			if err := json.Unmarshal(r.Body, &p); err != nil {
				t.Fatal(err)
			}
			if !r.Valid || p.URL != publicURL+"/apps/shop/alerts#rule-"+url.PathEscape(p.Rule) || p.Stage != "prod" {
				t.Errorf("%s: notification %+v (valid %t); want signed, for prod, linking the rule on the alerts page", step.name, p, r.Valid)
			}
			got = append(got, p.Rule+" "+p.State)
		}
		for _, want := range step.notified {
			if !contains(got, want) {
				t.Errorf("%s: notified %v; want %q", step.name, got, want)
			}
		}
		select {
		case r := <-recv.Got:
			t.Errorf("%s: an extra notification: %s", step.name, r.Body)
		case <-time.After(300 * time.Millisecond):
		}
	}
	if !contains(metrics.asked, "shop/prod/api/hello/10m0s") || !contains(metrics.asked, "shop/dev//5m0s") {
		t.Errorf("metrics asked %v; want the slow rule's function and window, and every stage for the errors rule", metrics.asked)
	}
}

func TestCrashLoopRule(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	crashes := alerts.NewCrashCounter(clock)
	b := setup(t, setupOptions{network: allowPrivate, crashes: crashes, now: clock})
	recv := b.webhook(t, "hook", 0)
	b.rule(t, alerts.NewRule{Name: "loop", Kind: store.RuleCrashLoop, Stage: "prod", Threshold: 3, Window: "5m", Channel: "hook"})

	prod := targets.StageRef{App: "shop", Stage: "prod"}
	crashes.FunctionCrashed(prod, "api/hello")
	crashes.FunctionCrashed(targets.StageRef{App: "shop", Stage: "dev"}, "api/hello")
	crashes.FunctionCrashed(targets.StageRef{App: "other", Stage: "prod"}, "api/hello")
	crashes.FunctionCrashed(prod, "api/hello")
	if err := b.svc.Evaluate(b.ctx); err != nil {
		t.Fatal(err)
	}
	crashes.FunctionCrashed(prod, "api/hello")
	if err := b.svc.Evaluate(b.ctx); err != nil {
		t.Fatal(err)
	}
	var p alerts.Payload
	r := recv.Next(t, 10*time.Second)
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatal(err)
	}
	if p.State != "firing" || p.Value == nil || *p.Value != 3 || !strings.Contains(p.Title, "crash-looping") {
		t.Errorf("notification %+v; want firing with 3 crashes (other stages and apps not counted)", p)
	}
	advance(6 * time.Minute)
	if err := b.svc.Evaluate(b.ctx); err != nil {
		t.Fatal(err)
	}
	r = recv.Next(t, 10*time.Second)
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatal(err)
	}
	if p.State != "resolved" {
		t.Errorf("after the window passed: %+v; want resolved", p)
	}
}

func TestEventRulesResolve(t *testing.T) {
	b := setup(t, setupOptions{network: allowPrivate})
	b.webhook(t, "hook", 0)
	b.rule(t, alerts.NewRule{Name: "deploys", Kind: store.RuleDeployFailed, Channel: "hook"})
	b.rule(t, alerts.NewRule{Name: "approvals", Kind: store.RuleApprovalAwaiting, Stage: "prod", Channel: "hook"})
	if err := b.svc.DeployFailed(b.ctx, b.deploy(t, "prod", store.DeployFailed)); err != nil {
		t.Fatal(err)
	}
	awaiting := b.deploy(t, "prod", store.DeployAwaiting)
	if err := b.svc.ApprovalAwaiting(b.ctx, awaiting); err != nil {
		t.Fatal(err)
	}
	firing, _ := b.st.FiringRules(b.ctx, b.app.ID)
	if strings.Join(firing["prod"], ",") != "approvals,deploys" {
		t.Fatalf("firing = %v; want approvals and deploys on prod", firing)
	}
	if err := b.svc.Evaluate(b.ctx); err != nil {
		t.Fatal(err)
	}
	if firing, _ = b.st.FiringRules(b.ctx, b.app.ID); len(firing["prod"]) != 2 {
		t.Fatalf("after evaluating with nothing changed: firing = %v; want both still", firing)
	}
	b.deploy(t, "prod", store.DeploySucceeded)
	awaiting.Status = store.DeployRejected
	if err := b.st.SaveDeploy(b.ctx, &awaiting); err != nil {
		t.Fatal(err)
	}
	if err := b.svc.Evaluate(b.ctx); err != nil {
		t.Fatal(err)
	}
	if firing, _ = b.st.FiringRules(b.ctx, b.app.ID); len(firing) != 0 {
		t.Errorf("after a good deploy and the promotion rejected: firing = %v; want none", firing)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func itoa(n uint) string { return strconv.FormatUint(uint64(n), 10) }

// TestRotatedKeyStillDelivers: seedbed secrets rotate-key seals channel
// URLs and secrets again under the new key, and they open under it.
func TestRotatedKeyStillDelivers(t *testing.T) {
	b := setup(t, setupOptions{network: allowPrivate})
	recv := b.webhook(t, "hook", 0)
	from, _ := pipelines.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	to, _ := pipelines.NewSealer([]byte("fedcba9876543210fedcba9876543210"))
	rot, err := pipelines.RotateSecrets(b.ctx, b.st, from, to, nil)
	if err != nil {
		t.Fatal(err)
	}
	opened, failed, err := pipelines.OpenSecrets(b.ctx, b.st, to)
	if err != nil || len(failed) != 0 {
		t.Fatalf("open after rotation: %v, %v", failed, err)
	}
	if opened["alert channel URL hook of app shop"] != recv.URL+"/hooks/seedbed?token=abc" || len(opened["alert channel secret hook of app shop"]) < 16 || rot.Resealed < 2 {
		t.Fatalf("after rotation %+v, opened %v; want the channel's URL and secret under the new key", rot, opened)
	}
	emb, err := queue.StartEmbedded(b.ctx, queue.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(emb.ConnOpt())
	t.Cleanup(func() { client.Close(); emb.Close() })
	svc := alerts.New(alerts.Config{Store: b.st, Queue: client, Sealer: to, PublicURL: publicURL, Network: allowPrivate})
	d, err := svc.SendTest(b.ctx, b.app, "hook", "ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Deliver(b.ctx, d.ID, true); err != nil {
		t.Fatalf("deliver under the new key: %v", err)
	}
	if r := recv.Next(t, 5*time.Second); !r.Valid {
		t.Errorf("signature under the rotated secret does not verify")
	}
}
