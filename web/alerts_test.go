package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/seedbed/seedbed/alerts"
	"github.com/seedbed/seedbed/assets"
	"github.com/seedbed/seedbed/netguard"
	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/pipelines/queue"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web"
	"github.com/seedbed/seedbed/web/apiv1"
)

// Viewers read an app's alerts (rules, channels by hint, notifications)
// and change nothing; owners make and remove them; a channel's URL and
// secret never come back from the API or the page.
func TestAlertsByRole(t *testing.T) {
	rf := setupRoles(t)
	ctx := context.Background()
	sealer, err := pipelines.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	emb, err := queue.StartEmbedded(ctx, queue.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(emb.ConnOpt())
	t.Cleanup(func() { client.Close(); emb.Close() })
	svc := alerts.New(alerts.Config{Store: rf.store, Queue: client, Sealer: sealer, PublicURL: "https://seedbed.example",
		Network: netguard.Policy{}})
	handler, err := web.New(web.Config{Store: rf.store, Deliveries: rf.store, Pipelines: rf.fake, Accounts: rf.accounts,
		Assets: assets.FS(), GatewayURL: "http://gw.example", PublicURL: "https://seedbed.example", Alerts: svc})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	rf.srv = srv // the users' tokens and sessions live in the shared store

	owner := apiv1.NewClient(srv.URL, rf.users[store.RoleOwner].token)
	viewer := apiv1.NewClient(srv.URL, rf.users[store.RoleViewer].token)
	deployer := apiv1.NewClient(srv.URL, rf.users[store.RoleDeployer].token)
	const hookURL = "https://203.0.113.7/hooks/very-secret-token"
	made, err := owner.CreateAlertChannel(ctx, "shop", apiv1.CreateAlertChannelRequest{Name: "ops", Kind: "webhook", URL: hookURL})
	if err != nil {
		t.Fatalf("owner adds a channel: %v", err)
	}
	if made.Secret == "" || strings.Contains(made.Channel.Hint, "very-secret") {
		t.Fatalf("new channel %+v: want the secret once and only a hint of the URL", made)
	}
	if _, err := owner.CreateAlertRule(ctx, "shop", apiv1.CreateAlertRuleRequest{Name: "deploys", Kind: "deploy_failed", Channel: "ops", Stage: "dev"}); err != nil {
		t.Fatalf("owner adds a rule: %v", err)
	}
	for name, c := range map[string]*apiv1.Client{"viewer": viewer, "deployer": deployer} {
		if _, err := c.CreateAlertChannel(ctx, "shop", apiv1.CreateAlertChannelRequest{Name: "mine", Kind: "webhook", URL: "https://203.0.113.8/"}); status(err) != http.StatusForbidden {
			t.Errorf("%s adds a channel: %v, want 403", name, err)
		}
		if err := c.DeleteAlertRule(ctx, "shop", "deploys"); status(err) != http.StatusForbidden {
			t.Errorf("%s deletes a rule: %v, want 403", name, err)
		}
		if _, err := c.TestAlertChannel(ctx, "shop", "ops"); status(err) != http.StatusForbidden {
			t.Errorf("%s sends a test notification: %v, want 403", name, err)
		}
	}
	list, err := viewer.Alerts(ctx, "shop")
	if err != nil {
		t.Fatalf("viewer reads alerts: %v", err)
	}
	if len(list.Rules) != 1 || len(list.Channels) != 1 || list.Channels[0].Hint != made.Channel.Hint {
		t.Errorf("viewer's list = %+v; want the rule and the channel by its hint", list)
	}
	_, page := rf.do(t, rf.users[store.RoleViewer], http.MethodGet, "/apps/shop/alerts")
	if !strings.Contains(page, `data-testid="rule-deploys"`) || strings.Contains(page, `data-testid="channel-form"`) || strings.Contains(page, "test-channel-ops") {
		t.Errorf("viewer's Alerts page: want the rule listed and no forms")
	}
	_, page = rf.do(t, rf.users[store.RoleOwner], http.MethodGet, "/apps/shop/alerts")
	if !strings.Contains(page, `data-testid="channel-form"`) || !strings.Contains(page, "test-channel-ops") {
		t.Errorf("owner's Alerts page offers no forms")
	}
	for _, p := range []string{page, mustJSON(t, list)} {
		if strings.Contains(p, "very-secret-token") || strings.Contains(p, made.Secret) {
			t.Errorf("the channel's URL or secret came back")
		}
	}
	// A stranger learns nothing, not even that the app exists.
	if _, err := apiv1.NewClient(srv.URL, rf.users["stranger"].token).Alerts(ctx, "shop"); status(err) != http.StatusNotFound {
		t.Errorf("stranger reads alerts: %v, want 404", err)
	}
	if err := owner.DeleteAlertChannel(ctx, "shop", "ops"); status(err) != http.StatusConflict || !strings.Contains(err.Error(), "deploys") {
		t.Errorf("deleting a channel a rule uses: %v, want 409 naming the rule", err)
	}

	// The board follows the rule: its live stream says "changed" once the
	// rule fires, and the page then marks the stage.
	_, board := rf.do(t, rf.users[store.RoleViewer], http.MethodGet, "/apps/shop")
	m := regexp.MustCompile(`data-live-version="([^"]+)"`).FindStringSubmatch(board)
	if m == nil || strings.Contains(board, `data-testid="stage-firing-dev"`) {
		t.Fatal("the board has no live version, or marks dev before any rule fires")
	}
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(sctx, http.MethodGet, srv.URL+"/apps/shop/events?v="+m[1], nil)
	resp, err := rf.users[store.RoleViewer].browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	app, _ := rf.store.AppByName(ctx, "shop")
	rule, _ := rf.store.AlertRuleByName(ctx, app.ID, "deploys")
	if _, err := rf.store.SetAlertRuleFiring(ctx, rule.ID, true, "dev", 1, time.Now()); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(resp.Body)
	changed := false
	for !changed && lines.Scan() {
		changed = lines.Text() == "event: changed"
	}
	if !changed {
		t.Fatalf("the board's stream did not say changed when the rule fired (%v)", lines.Err())
	}
	if _, board = rf.do(t, rf.users[store.RoleViewer], http.MethodGet, "/apps/shop"); !strings.Contains(board, `data-testid="stage-firing-dev"`) {
		t.Error("the board does not mark dev while its rule fires")
	}
}

// status is the HTTP status of an API error; 0 for none.
func status(err error) int {
	var e *apiv1.APIError
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
