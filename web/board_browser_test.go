package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
	"github.com/seedbed/seedbed/testutil"
)

// boardStageNames are the stages of the boards TestPipelineBoardFitsInBrowser
// draws, the first n of them for an app of n stages.
var boardStageNames = []string{"dev", "integration", "staging", "qa-europe", "canary", "preprod", "prod-eu", "production"}

// seedBoard creates the app board<n> with n stages, each serving a release
// of two functions with long routes, the second awaiting the approval of a
// promotion, the third with a failed last deploy, the last protected and
// needing approval: the widest things a stage card shows.
func seedBoard(t *testing.T, f *fixture, n int) {
	t.Helper()
	ctx := context.Background()
	app := store.App{Name: fmt.Sprintf("board%d", n), RepoURL: "https://github.com/example-organisation/a-rather-long-repository-name.git", Branch: "main"}
	var stages []store.Stage
	for i, name := range boardStageNames[:n] {
		st := store.Stage{Name: name}
		if i == 0 {
			st.Branch = "main"
		}
		if i == n-1 {
			st.Approval, st.Protected = true, true
		}
		stages = append(stages, st)
	}
	if err := f.store.CreateApp(ctx, &app, stages); err != nil {
		t.Fatal(err)
	}
	b := store.Build{AppID: app.ID, Ref: "main", CommitSHA: "9f4adc9e0123456789abcdef0123456789abcdef", CommitMessage: "Checkout: charge the card before reserving the stock in every warehouse",
		Status: store.BuildSucceeded, TriggerKind: "push"}
	if err := f.store.CreateBuild(ctx, &b); err != nil {
		t.Fatal(err)
	}
	fns := []targets.Function{
		{Service: "checkout-service", Name: "payment-webhook-handler", Runtime: "go", Digest: "sha256:" + strings.Repeat("ab12", 16),
			Routes: []stack.Route{{Method: "POST", Path: "/api/v1/payments/providers/stripe/webhooks/{event_id}"}, {Method: "GET", Path: "/healthz"}}},
		{Service: "web", Name: "storefront", Runtime: "node", Digest: "sha256:" + strings.Repeat("cd34", 16),
			Routes: []stack.Route{{Method: "GET", Path: "/"}, {Method: "GET", Path: "/products/{category}/{slug}/reviews"}}},
	}
	manifest, err := json.Marshal(pipelines.Manifest{App: app.Name, BuildID: b.ID, Commit: b.CommitSHA, Message: b.CommitMessage,
		Author: "Ada Lovelace-Byron <ada@example.com>", Functions: fns})
	if err != nil {
		t.Fatal(err)
	}
	rel := store.Release{AppID: app.ID, BuildID: b.ID, Manifest: string(manifest)}
	if err := f.store.CreateRelease(ctx, &rel); err != nil {
		t.Fatal(err)
	}
	for i, st := range stages {
		d := store.Deploy{AppID: app.ID, StageID: st.ID, ReleaseID: &rel.ID, Status: store.DeploySucceeded, TriggerKind: "promote"}
		if err := f.store.CreateDeploy(ctx, &d); err != nil {
			t.Fatal(err)
		}
		if err := f.store.SetStageLive(ctx, st.ID, rel.ID, d.ID); err != nil {
			t.Fatal(err)
		}
		var last store.Deploy
		switch i % 3 {
		case 1:
			last = store.Deploy{AppID: app.ID, StageID: st.ID, ReleaseID: &rel.ID, Status: store.DeployAwaiting, TriggerKind: "promote",
				TriggeredBy: "margaret.hamilton@example.com"}
		case 2:
			last = store.Deploy{AppID: app.ID, StageID: st.ID, BuildID: &b.ID, Status: store.DeployFailed, TriggerKind: "console",
				Error: "health check of checkout-service/payment-webhook-handler failed: GET /healthz answered 503 Service Unavailable after 30s"}
		default:
			continue
		}
		if err := f.store.CreateDeploy(ctx, &last); err != nil {
			t.Fatal(err)
		}
	}
}

// overflowJS lists what sticks out of a stage card of the board (an
// element's box or a text's, unless an ancestor inside the card clips it),
// the text inputs narrower than 120 px, and whether the page itself scrolls
// sideways (the board may, within itself; the page may not).
const overflowJS = `(() => {
  const bad = [];
  const clipped = (n, card) => {
    for (let e = n.parentElement; e && e !== card; e = e.parentElement) {
      if (getComputedStyle(e).overflowX !== 'visible') return true;
    }
    return false;
  };
  const out = (r, c) => r.left < c.left - 0.5 || r.right > c.right + 0.5 || r.top < c.top - 0.5 || r.bottom > c.bottom + 0.5;
  const what = (e) => e.tagName.toLowerCase() + (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ').join('.') : '') + (e.dataset && e.dataset.testid ? '[' + e.dataset.testid + ']' : '');
  const cards = document.querySelectorAll('[data-testid=pipeline] > .stage');
  for (const card of cards) {
    const c = card.getBoundingClientRect();
    for (const e of card.querySelectorAll('*')) {
      if (e.classList.contains('sr-only') || e.closest('.sr-only')) continue;
      const r = e.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (!clipped(e, card) && out(r, c)) bad.push(card.dataset.testid + ': ' + what(e) + ' spans x ' + Math.round(r.left) + '..' + Math.round(r.right) + ', y ' + Math.round(r.top) + '..' + Math.round(r.bottom) + ' outside the card x ' + Math.round(c.left) + '..' + Math.round(c.right) + ', y ' + Math.round(c.top) + '..' + Math.round(c.bottom));
    }
    const walk = document.createTreeWalker(card, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      if (!n.textContent.trim() || n.parentElement.closest('.sr-only') || clipped(n, card)) continue;
      const range = document.createRange();
      range.selectNodeContents(n);
      for (const r of range.getClientRects()) {
        if (out(r, c)) { bad.push(card.dataset.testid + ': text "' + n.textContent.trim().slice(0, 40) + '" in ' + what(n.parentElement) + ' sticks out of the card'); break; }
      }
    }
    for (const i of card.querySelectorAll('input[type=text]')) {
      const w = i.getBoundingClientRect().width;
      if (w < 120) bad.push(card.dataset.testid + ': ' + what(i) + ' is ' + Math.round(w) + ' px wide');
    }
  }
  if (cards.length === 0) bad.push('no stage cards');
  if (document.documentElement.scrollWidth > window.innerWidth + 1) bad.push('the page scrolls sideways: ' + document.documentElement.scrollWidth + ' px in a ' + window.innerWidth + ' px window');
  return bad;
})()`

// The pipeline board holds 3, 5 and 8 stages at 1400 px and on a phone
// (390 px): nothing inside a stage card sticks out of it (badges, digests,
// routes, buttons) and the ref inputs keep a usable width. With
// SEEDBED_SCREENSHOTS=dir set it saves a screenshot of each.
func TestPipelineBoardFitsInBrowser(t *testing.T) {
	f := setupFull(t)
	counts := []int{3, 5, 8}
	for _, n := range counts {
		seedBoard(t, f, n)
	}
	b := consoleBrowser(t, f)
	for _, size := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{
		{"1400px", 1400, 900, false},
		{"phone", 390, 844, true},
	} {
		for _, n := range counts {
			t.Run(fmt.Sprintf("%d stages at %s", n, size.name), func(t *testing.T) {
				opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
				if size.mobile {
					opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
				}
				err := chromedp.Do(b,
					chromedp.EmulateViewport(size.width, size.height, opts...),
					chromedp.Navigate(fmt.Sprintf("%s/apps/board%d", f.srv.URL, n)),
					chromedp.WaitVisible(`[data-testid=pipeline]`),
				)
				if err != nil {
					t.Fatal(err)
				}
				if got := eval[int](t, b, `document.querySelectorAll('[data-testid=pipeline] > .stage').length`); got != n {
					t.Fatalf("the board shows %d stages, want %d", got, n)
				}
				testutil.Screenshot(t, b, fmt.Sprintf("board-%d-stages-%s", n, size.name))
				for _, problem := range eval[[]string](t, b, overflowJS) {
					t.Error(problem)
				}
			})
		}
		// The apps list shows, for every stage of these apps, the release it
		// serves, though the newest deploy of some awaits approval or failed.
		t.Run("apps list at "+size.name, func(t *testing.T) {
			if err := chromedp.Do(b, chromedp.Navigate(f.srv.URL+"/apps"), chromedp.WaitVisible(`[data-testid=app-board8]`)); err != nil {
				t.Fatal(err)
			}
			testutil.Screenshot(t, b, "apps-"+size.name)
			lives := eval[[]string](t, b, `[...document.querySelectorAll('[data-testid=app-board8] .stage-badge')].map((e) => e.dataset.stage + ' ' + e.querySelector('[data-testid=live]').textContent.trim().replace(/\s+/g, ' ') + ' ' + [...e.querySelectorAll('[data-status]')].map((s) => s.dataset.status).join(''))`)
			for i, l := range lives {
				want := boardStageNames[i] + " #"
				if !strings.HasPrefix(l, want) || !strings.Contains(l, " 9f4adc9") {
					t.Errorf("stage %d reads %q, want %q… with the live release's commit", i, l, want)
				}
			}
			if len(lives) != 8 || !strings.HasSuffix(lives[1], "awaiting_approval") || !strings.HasSuffix(lives[2], "failed") || !strings.HasSuffix(lives[3], "9f4adc9 ") {
				t.Errorf("the apps list reads %q: want each stage's live release with the awaiting or failed deploy beside it", lives)
			}
		})
	}
}
