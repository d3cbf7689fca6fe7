package web_test

import (
	"context"
	"io"
	"regexp"
	"testing"

	"github.com/seedbed/seedbed/store"
)

// The apps overview shows each stage's newest deploy as it is now, though
// the store keeps the overview's rows between views.
func TestAppsPageFollowsDeploys(t *testing.T) {
	f := setup(t)
	c, _ := f.signIn(t)
	ctx := context.Background()
	badge := regexp.MustCompile(`(?s)<tr data-testid="app-shop">.*?<span class="stage-name">dev</span><span class="[^"]*" data-status="([^"]*)"`)
	devStatus := func(t *testing.T) string {
		t.Helper()
		resp, err := c.Get(f.srv.URL + "/apps")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		m := badge.FindSubmatch(b)
		if resp.StatusCode != 200 || m == nil {
			t.Fatalf("GET /apps: %d, no dev badge for shop in\n%s", resp.StatusCode, b)
		}
		return string(m[1])
	}
	if got := devStatus(t); got != "" {
		t.Fatalf("dev before any deploy: %q, want not deployed", got)
	}
	app, err := f.store.AppByName(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	dev, err := f.store.StageByName(ctx, app.ID, "dev")
	if err != nil {
		t.Fatal(err)
	}
	d := store.Deploy{AppID: app.ID, StageID: dev.ID, Status: store.DeployRunning, TriggerKind: "api"}
	if err := f.store.CreateDeploy(ctx, &d); err != nil {
		t.Fatal(err)
	}
	if got := devStatus(t); got != store.DeployRunning {
		t.Fatalf("dev with a running deploy: %q", got)
	}
	d.Status = store.DeploySucceeded
	if err := f.store.SaveDeploy(ctx, &d); err != nil {
		t.Fatal(err)
	}
	if got := devStatus(t); got != store.DeploySucceeded {
		t.Fatalf("dev after the deploy succeeded: %q", got)
	}
}
