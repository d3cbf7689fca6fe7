package web_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web/apiv1"
)

// serveRelease records a succeeded build of shop with a release and makes
// the stage serve it, as a finished deploy does.
func (f *fixture) serveRelease(t *testing.T, stage string) store.Release {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	b := store.Build{AppID: 1, Ref: "main", Status: store.BuildSucceeded, FinishedAt: &now}
	if err := f.store.CreateBuild(ctx, &b); err != nil {
		t.Fatal(err)
	}
	rel := store.Release{AppID: 1, BuildID: b.ID, Manifest: `{"commit":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b","message":"first"}`}
	if err := f.store.CreateRelease(ctx, &rel); err != nil {
		t.Fatal(err)
	}
	st, err := f.store.StageByName(ctx, 1, stage)
	if err != nil {
		t.Fatal(err)
	}
	d := store.Deploy{AppID: 1, StageID: st.ID, BuildID: &b.ID, ReleaseID: &rel.ID, Status: store.DeploySucceeded, FinishedAt: &now}
	if err := f.store.CreateDeploy(ctx, &d); err != nil {
		t.Fatal(err)
	}
	if err := f.store.SetStageLive(ctx, st.ID, rel.ID, d.ID); err != nil {
		t.Fatal(err)
	}
	return rel
}

// stagingNeedsApproval makes promotions into staging wait, so that the
// fixture, which has no queue, records them without queueing.
func (f *fixture) stagingNeedsApproval(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	st, err := f.store.StageByName(ctx, 1, "staging")
	if err != nil {
		t.Fatal(err)
	}
	st.Approval = true
	if err := f.store.SaveStageSettings(ctx, st); err != nil {
		t.Fatal(err)
	}
}

// The console's promote form sends the release its preview showed. If dev
// moved on meanwhile, nothing is deployed: the answer is 409 with the new
// preview and what changed; confirming that one deploys exactly it.
func TestConsolePromoteRefusesAMovedSource(t *testing.T) {
	f := setup(t)
	f.stagingNeedsApproval(t)
	a := f.serveRelease(t, "dev")
	c, tok := f.signIn(t)

	resp, err := c.Get(f.srv.URL + "/apps/shop/promote?from=dev&to=staging")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := fmt.Sprintf(`name="release_id" value="%d"`, a.ID); !strings.Contains(string(page), want) {
		t.Fatalf("the preview's form does not name release %d (%s)", a.ID, want)
	}
	b := f.serveRelease(t, "dev") // a push lands while the user reads the preview

	post := func(release uint) (*http.Response, string) {
		t.Helper()
		resp, err := c.PostForm(f.srv.URL+"/apps/shop/promote", url.Values{"_csrf": {tok}, "from": {"dev"}, "to": {"staging"}, "release_id": {fmt.Sprint(release)}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	// A form that names no release (opened before an upgrade) promotes
	// nothing and shows the preview to confirm.
	resp, body := post(0)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "did not say which release") || !strings.Contains(body, fmt.Sprintf(`name="release_id" value="%d"`, b.ID)) {
		t.Fatalf("a form without a release: %d, want 422 with the preview of release %d", resp.StatusCode, b.ID)
	}

	resp, body = post(a.ID)
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("confirming release %d after dev moved to %d: %d, want 409", a.ID, b.ID, resp.StatusCode)
	}
	for _, want := range []string{
		`data-testid="promote-moved"`,
		fmt.Sprintf("release #%d (build #%d) was previewed", a.ID, a.BuildID),
		fmt.Sprintf("release #%d (build #%d) is live now", b.ID, b.BuildID),
		fmt.Sprintf(`name="release_id" value="%d"`, b.ID), // the new preview, to review and confirm again
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the refusal lacks %q", want)
		}
	}
	if ds, _ := f.store.Deploys(context.Background(), 1, 100); len(ds) != 2 {
		t.Fatalf("a refused promotion recorded a deploy: %d deploys, want the 2 to dev", len(ds))
	}

	resp, _ = post(b.ID)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/deploys/") {
		t.Fatalf("confirming the live release: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var id uint
	fmt.Sscanf(resp.Header.Get("Location"), "/deploys/%d", &id)
	d, err := f.store.DeployByID(context.Background(), id)
	if err != nil || d.ReleaseID == nil || *d.ReleaseID != b.ID || d.Status != store.DeployAwaiting {
		t.Fatalf("the promotion: %+v, %v; want release %d awaiting approval", d, err, b.ID)
	}
}

// The API does the same, and a request must say which release it means:
// the one its preview showed, or "live": true.
func TestAPIPromoteNamesItsRelease(t *testing.T) {
	f := setup(t)
	f.stagingNeedsApproval(t)
	api := apiv1.NewClient(f.srv.URL, f.token)
	ctx := context.Background()
	f.serveRelease(t, "dev")
	plan, err := api.PlanPromotion(ctx, "shop", apiv1.PromoteRequest{From: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	b := f.serveRelease(t, "dev")

	tests := []struct {
		name   string
		req    apiv1.PromoteRequest
		status int
		want   string
	}{
		{name: "previewed release, source moved", req: apiv1.PromoteRequest{From: "dev", ReleaseID: plan.Release.ID}, status: 409,
			want: fmt.Sprintf("release #%d (build #%d) was previewed, release #%d (build #%d) is live now", plan.Release.ID, plan.Release.BuildID, b.ID, b.BuildID)},
		{name: "no release", req: apiv1.PromoteRequest{From: "dev"}, status: 422, want: `"live": true`},
		{name: "unknown release", req: apiv1.PromoteRequest{From: "dev", ReleaseID: 999}, status: 409, want: "release #999 was previewed"},
		{name: "the live release", req: apiv1.PromoteRequest{From: "dev", ReleaseID: b.ID}},
		{name: "live, asked for", req: apiv1.PromoteRequest{From: "dev", Live: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := api.Promote(ctx, "shop", tt.req)
			if tt.status != 0 {
				var ae *apiv1.APIError
				if !errors.As(err, &ae) || ae.Status != tt.status || !strings.Contains(ae.Error(), tt.want) {
					t.Fatalf("Promote: %v, want %d saying %q", err, tt.status, tt.want)
				}
				return
			}
			if err != nil || d.ReleaseID != b.ID || d.Stage != "staging" {
				t.Fatalf("Promote: %+v, %v; want release %d to staging", d, err, b.ID)
			}
		})
	}
}

// In the browser (htmx), a refused confirmation replaces the preview in
// place with the new one and what changed; confirming that one goes to the
// deploy of the release now shown.
func TestConsolePromoteMovedInBrowser(t *testing.T) {
	f := setupFull(t) // with the real scripts
	f.stagingNeedsApproval(t)
	a := f.serveRelease(t, "dev")
	ctx := consoleBrowser(t, f)
	if err := chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/apps/shop/promote?from=dev&to=staging"),
		chromedp.WaitVisible(`[data-testid=confirm-promote]`)); err != nil {
		t.Fatalf("open the preview: %v", err)
	}
	if got := eval[string](t, ctx, `document.querySelector('[data-testid=promote-release-id]').textContent`); got != fmt.Sprintf("#%d", a.ID) {
		t.Fatalf("the preview names release %q, want #%d", got, a.ID)
	}
	b := f.serveRelease(t, "dev")
	markPage(t, ctx, true)
	if err := chromedp.Do(ctx, chromedp.Click(`[data-testid=confirm-promote]`), chromedp.WaitVisible(`[data-testid=promote-moved]`)); err != nil {
		t.Fatalf("confirm the stale preview: %v", err)
	}
	stillMarked(t, ctx, "the refused confirmation")
	moved := eval[string](t, ctx, `document.querySelector('[data-testid=promote-moved]').textContent`)
	if want := fmt.Sprintf("release #%d (build #%d) was previewed, release #%d (build #%d) is live now", a.ID, a.BuildID, b.ID, b.BuildID); !strings.Contains(moved, want) {
		t.Errorf("notice %q lacks %q", moved, want)
	}
	if got := eval[string](t, ctx, `document.querySelector('[data-testid=promote-release-id]').textContent`); got != fmt.Sprintf("#%d", b.ID) {
		t.Errorf("after the refusal the preview names release %q, want #%d", got, b.ID)
	}
	if err := chromedp.Do(ctx, chromedp.Click(`[data-testid=confirm-promote]`), bpoll(`location.pathname.startsWith('/deploys/')`)); err != nil {
		t.Fatalf("confirm the new preview: %v", err)
	}
	ds, err := f.store.Deploys(context.Background(), 1, 100)
	if err != nil || len(ds) != 3 || ds[0].ReleaseID == nil || *ds[0].ReleaseID != b.ID {
		t.Fatalf("deploys after confirming: %d, %v; want the promotion of release %d newest", len(ds), err, b.ID)
	}
}
