package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web/apiv1"
)

// consoleBrowser starts Chromium and signs it in as the admin, ada.
func consoleBrowser(t *testing.T, f *fixture, opts ...chromedp.Action[chromedp.Void]) context.Context {
	t.Helper()
	ctx := testutil.Browser(t, 2*time.Minute)
	testutil.FailOnCSPViolations(t, ctx)
	steps := append(opts,
		chromedp.Navigate(f.srv.URL+"/login"),
		chromedp.WaitVisible(`input[name=email]`),
		chromedp.SendKeys(`input[name=email]`, "ada@example.com"),
		chromedp.SendKeys(`input[name=password]`, "correct-horse"),
		chromedp.Submit(`input[name=password]`),
		chromedp.WaitVisible(`[data-testid=user-email]`),
	)
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	return ctx
}

func bpoll(expr string) chromedp.Action[chromedp.Void] { return testutil.Poll(expr, 15*time.Second) }

// eval runs JavaScript on the page and returns its value.
func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// markPage sets a marker a page load would wipe, and says yes (or no) to
// every confirmation the page asks for.
func markPage(t *testing.T, ctx context.Context, confirm bool) {
	t.Helper()
	eval[chromedp.Void](t, ctx, fmt.Sprintf(`window.__marker = 1; window.confirm = () => %t`, confirm))
}

// stillMarked fails the test if the page was loaded anew since markPage.
func stillMarked(t *testing.T, ctx context.Context, after string) {
	t.Helper()
	if !eval[bool](t, ctx, `window.__marker === 1`) {
		t.Errorf("the page reloaded after %s: the marker is gone", after)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('main').length`); n != 1 {
		t.Errorf("after %s the page has %d <main> elements, want 1", after, n)
	}
}

// queuedDeploy records a build of shop and a deploy to dev waiting for it.
func queuedDeploy(t *testing.T, f *fixture) (store.Build, store.Deploy) {
	t.Helper()
	ctx := context.Background()
	app, err := f.store.AppByName(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	dev, err := f.store.StageByName(ctx, app.ID, "dev")
	if err != nil {
		t.Fatal(err)
	}
	b := store.Build{AppID: app.ID, Ref: "main", Status: store.BuildQueued, TriggerKind: "api"}
	if err := f.store.CreateBuild(ctx, &b); err != nil {
		t.Fatal(err)
	}
	d := store.Deploy{AppID: app.ID, StageID: dev.ID, BuildID: &b.ID, Status: store.DeployQueued, TriggerKind: "api"}
	if err := f.store.CreateDeploy(ctx, &d); err != nil {
		t.Fatal(err)
	}
	return b, d
}

// Console buttons act in place: revoking a token or an invite, adding and
// removing a stage variable, cancelling a deploy and deploying change the
// page without loading it again (a marker set before the click is still
// there), keep the scroll position, and show refusals next to the form.
func TestConsoleActsInPlaceInBrowser(t *testing.T) {
	f := setupFull(t)
	ctx := context.Background()
	ada, err := f.store.UserByEmail(ctx, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	api := apiv1.NewClient(f.srv.URL, f.token)
	var tokens []uint
	for _, name := range []string{"laptop", "ci"} {
		_, tok, err := f.accounts.NewToken(ctx, ada, name)
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, tok.ID)
	}
	b := consoleBrowser(t, f)

	t.Run("revoke a token", func(t *testing.T) {
		id := tokens[0]
		err := chromedp.Do(b, chromedp.Navigate(f.srv.URL+"/account"), chromedp.WaitVisible(fmt.Sprintf(`[data-testid=revoke-token-%d]`, id)))
		if err != nil {
			t.Fatal(err)
		}
		markPage(t, b, true)
		err = chromedp.Do(b,
			chromedp.Click(fmt.Sprintf(`[data-testid=revoke-token-%d]`, id)),
			chromedp.WaitVisible(fmt.Sprintf(`[data-testid=revoked-%d]`, id)),
			chromedp.WaitVisible(`[data-testid=flash]`),
		)
		if err != nil {
			t.Fatalf("click revoke: %v", err)
		}
		stillMarked(t, b, "revoking a token")
		if flash := eval[string](t, b, `document.querySelector('[data-testid=flash]').textContent`); !strings.Contains(flash, "Token revoked") {
			t.Errorf("flash = %q", flash)
		}
		if loc := eval[string](t, b, `location.pathname`); loc != "/account" {
			t.Errorf("the browser is at %s, want /account", loc)
		}
	})

	t.Run("a refusal shows next to the button", func(t *testing.T) {
		id := tokens[1]
		// Revoked elsewhere while the page is open: the server answers 404.
		if err := f.store.RevokeAPIToken(ctx, ada.ID, id); err != nil {
			t.Fatal(err)
		}
		markPage(t, b, true)
		sel := fmt.Sprintf(`[data-testid=revoke-token-%d]`, id)
		if err := chromedp.Do(b, chromedp.Click(sel), chromedp.WaitVisible(`[data-testid=action-error]`)); err != nil {
			t.Fatalf("click revoke: %v", err)
		}
		stillMarked(t, b, "a refused revoke")
		testutil.Screenshot(t, b, "console-refusal-in-place")
		msg := eval[string](t, b, `document.querySelector('[data-testid=action-error]').textContent`)
		if !strings.Contains(msg, "Not found") || !strings.Contains(msg, fmt.Sprintf("no token #%d", id)) {
			t.Errorf("refusal shown = %q", msg)
		}
		// The page was kept: the row and its button are still there, usable.
		if !eval[bool](t, b, fmt.Sprintf(`!!document.querySelector('%s') && !document.querySelector('%s').disabled`, sel, sel)) {
			t.Error("the refused form's button is gone or stays disabled")
		}
		// The refusal sits right after the form that asked.
		if !eval[bool](t, b, fmt.Sprintf(`document.querySelector('%s').form.nextElementSibling.dataset.testid === 'action-error'`, sel)) {
			t.Error("the refusal is not next to its form")
		}
	})

	t.Run("revoke an invite, or decline to", func(t *testing.T) {
		inv, err := api.CreateInvite(ctx, apiv1.CreateInviteRequest{Email: "grace@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		sel := fmt.Sprintf(`[data-testid=revoke-invite-%d]`, inv.ID)
		if err := chromedp.Do(b, chromedp.Navigate(f.srv.URL+"/account"), chromedp.WaitVisible(sel)); err != nil {
			t.Fatal(err)
		}
		testutil.Screenshot(t, b, "console-pending-invites")
		markPage(t, b, false)
		if err := chromedp.Do(b, chromedp.Click(sel), chromedp.Sleep(500*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if list, _ := api.Invites(ctx); len(list) != 1 {
			t.Fatalf("declining the confirmation still revoked the invite: %+v", list)
		}
		markPage(t, b, true)
		if err := chromedp.Do(b, chromedp.Click(sel), chromedp.WaitVisible(`[data-testid=invites-empty]`)); err != nil {
			t.Fatalf("click revoke: %v", err)
		}
		stillMarked(t, b, "revoking an invite")
		if list, _ := api.Invites(ctx); len(list) != 0 {
			t.Errorf("pending invites after the click: %+v", list)
		}
		// A 409: the invite was revoked by someone else meanwhile.
		other, err := api.CreateInvite(ctx, apiv1.CreateInviteRequest{Email: "linus@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		sel = fmt.Sprintf(`[data-testid=revoke-invite-%d]`, other.ID)
		if err := chromedp.Do(b, chromedp.Navigate(f.srv.URL+"/account"), chromedp.WaitVisible(sel)); err != nil {
			t.Fatal(err)
		}
		if err := api.RevokeInvite(ctx, other.ID); err != nil {
			t.Fatal(err)
		}
		markPage(t, b, true)
		if err := chromedp.Do(b, chromedp.Click(sel), chromedp.WaitVisible(`[data-testid=action-error]`)); err != nil {
			t.Fatalf("click revoke: %v", err)
		}
		stillMarked(t, b, "a conflicting revoke")
		if msg := eval[string](t, b, `document.querySelector('[data-testid=action-error]').textContent`); !strings.Contains(msg, "revoked already") {
			t.Errorf("refusal shown = %q", msg)
		}
	})

	t.Run("stage variables, keeping the scroll position", func(t *testing.T) {
		err := chromedp.Do(b,
			chromedp.EmulateViewport(1000, 480),
			chromedp.Navigate(f.srv.URL+"/apps/shop/stages/dev/settings"),
			chromedp.WaitVisible(`[data-testid=var-form]`),
		)
		if err != nil {
			t.Fatal(err)
		}
		markPage(t, b, true)
		err = chromedp.Do(b,
			chromedp.SendKeys(`#key`, "GREETING"),
			chromedp.SendKeys(`#value`, "bonjour"),
			chromedp.ScrollIntoView(`[data-testid=set-var]`),
		)
		if err != nil {
			t.Fatal(err)
		}
		before := eval[float64](t, b, `window.scrollY`)
		if before <= 0 {
			t.Fatalf("the page does not scroll (scrollY %v); the test needs it to", before)
		}
		if err := chromedp.Do(b, chromedp.Click(`[data-testid=set-var]`), chromedp.WaitVisible(`[data-testid=var-GREETING]`)); err != nil {
			t.Fatalf("save a variable: %v", err)
		}
		stillMarked(t, b, "adding a variable")
		if after := eval[float64](t, b, `window.scrollY`); after < before-2 || after > before+2 {
			t.Errorf("scrollY went from %v to %v: the swap moved the page", before, after)
		}
		if v := eval[string](t, b, `document.querySelector('[data-testid=value-GREETING]').textContent`); v != "bonjour" {
			t.Errorf("value shown = %q", v)
		}

		// A key the server refuses (422): the form comes back with the
		// message by its field, in place.
		err = chromedp.Do(b,
			chromedp.SendKeys(`#key`, "1BAD"),
			chromedp.Click(`[data-testid=set-var]`),
			chromedp.WaitVisible(`[data-testid=error-key]`),
		)
		if err != nil {
			t.Fatalf("save a bad key: %v", err)
		}
		stillMarked(t, b, "a refused variable")
		if msg := eval[string](t, b, `document.querySelector('[data-testid=error-key]').textContent`); !strings.Contains(msg, "1BAD") && !strings.Contains(strings.ToLower(msg), "letter") {
			t.Errorf("field error = %q", msg)
		}

		err = chromedp.Do(b,
			chromedp.Click(`[data-testid=remove-var-GREETING]`),
			bpoll(`!document.querySelector('[data-testid=var-GREETING]')`),
			chromedp.WaitVisible(`[data-testid=flash]`),
		)
		if err != nil {
			t.Fatalf("remove a variable: %v", err)
		}
		stillMarked(t, b, "removing a variable")
		if flash := eval[string](t, b, `document.querySelector('[data-testid=flash]').textContent`); !strings.Contains(flash, "GREETING removed") {
			t.Errorf("flash = %q", flash)
		}
		if err := chromedp.Do(b, chromedp.EmulateViewport(1280, 900)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("cancel a deploy", func(t *testing.T) {
		_, d := queuedDeploy(t, f)
		err := chromedp.Do(b, chromedp.Navigate(fmt.Sprintf("%s/deploys/%d", f.srv.URL, d.ID)), chromedp.WaitVisible(`[data-testid=cancel]`))
		if err != nil {
			t.Fatal(err)
		}
		markPage(t, b, true)
		err = chromedp.Do(b, chromedp.Click(`[data-testid=cancel]`), chromedp.WaitVisible(`[data-testid=deploy-status][data-status=cancelled]`))
		if err != nil {
			t.Fatalf("cancel: %v", err)
		}
		stillMarked(t, b, "cancelling a deploy")
		if got, _ := f.store.DeployByID(ctx, d.ID); got.Status != store.DeployCancelled {
			t.Errorf("deploy status %s, want cancelled", got.Status)
		}
	})

	t.Run("deploy opens the build in place", func(t *testing.T) {
		err := chromedp.Do(b, chromedp.Navigate(f.srv.URL+"/apps/shop"), chromedp.WaitVisible(`[data-testid=deploy-dev]`))
		if err != nil {
			t.Fatal(err)
		}
		markPage(t, b, true)
		if err := chromedp.Do(b, chromedp.Click(`[data-testid=deploy-dev]`), chromedp.WaitVisible(`[data-testid=build-log]`)); err != nil {
			t.Fatalf("deploy: %v", err)
		}
		stillMarked(t, b, "deploying")
		if loc := eval[string](t, b, `location.pathname`); !strings.HasPrefix(loc, "/builds/") {
			t.Errorf("after Deploy the browser shows %s, want the build", loc)
		}
		if title := eval[string](t, b, `document.title`); !strings.HasPrefix(title, "Build #") {
			t.Errorf("title after Deploy = %q", title)
		}
		if len(f.fake.deploys) != 1 {
			t.Errorf("deploys asked: %d, want 1", len(f.fake.deploys))
		}
		// The build page that came in place follows its log.
		var id uint
		fmt.Sscanf(eval[string](t, b, `location.pathname`), "/builds/%d", &id)
		if err := f.store.AppendLog(ctx, []store.LogLine{{OwnerKind: store.LogBuild, OwnerID: id, Stream: "stdout", Text: "hello from the stream", CreatedAt: time.Now()}}); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(b, bpoll(`document.querySelector('#log').textContent.includes('hello from the stream')`)); err != nil {
			t.Errorf("the build page swapped in does not stream its log: %v", err)
		}
	})

	t.Run("signing this browser out leaves the console", func(t *testing.T) {
		err := chromedp.Do(b, chromedp.Navigate(f.srv.URL+"/account"), chromedp.WaitVisible(`[data-testid=current-session]`))
		if err != nil {
			t.Fatal(err)
		}
		markPage(t, b, true)
		err = chromedp.Do(b,
			chromedp.Click(`tr:has([data-testid=current-session]) button`),
			chromedp.WaitVisible(`[data-testid=login-form]`),
		)
		if err != nil {
			t.Fatalf("sign this browser out: %v", err)
		}
		if eval[bool](t, b, `!!document.querySelector('[data-testid=user-email]')`) {
			t.Error("the sign-in page still shows the top bar of the signed-in user")
		}
	})
}

// Statuses on the apps overview, the pipeline board and a finished build's
// page follow the database while the page is open, without a reload; what
// the user was typing is kept.
func TestLiveStatusesInBrowser(t *testing.T) {
	f := setupFull(t)
	ctx := context.Background()
	build, d := queuedDeploy(t, f)
	set := func(status string) {
		t.Helper()
		d.Status = status
		if err := f.store.SaveDeploy(ctx, &d); err != nil {
			t.Fatal(err)
		}
	}
	b := consoleBrowser(t, f)

	t.Run("pipeline board", func(t *testing.T) {
		err := chromedp.Do(b,
			chromedp.Navigate(f.srv.URL+"/apps/shop"),
			chromedp.WaitVisible(`[data-testid=stage-status-dev] [data-status=queued]`),
			chromedp.SendKeys(`#ref-dev`, "feature-x"),
		)
		if err != nil {
			t.Fatal(err)
		}
		markPage(t, b, true)
		set(store.DeployRunning)
		if err := chromedp.Do(b, bpoll(`!!document.querySelector('[data-testid=stage-status-dev] [data-status=running]')`)); err != nil {
			t.Fatalf("the board did not show the deploy running: %v", err)
		}
		set(store.DeploySucceeded)
		if err := chromedp.Do(b, bpoll(`!!document.querySelector('[data-testid=stage-status-dev] [data-status=succeeded]')`)); err != nil {
			t.Fatalf("the board did not show the deploy succeeded: %v", err)
		}
		stillMarked(t, b, "a live update")
		if v := eval[string](t, b, `document.querySelector('#ref-dev').value`); v != "feature-x" {
			t.Errorf("the ref being typed is now %q", v)
		}
		if id := eval[string](t, b, `document.activeElement && document.activeElement.id`); id != "ref-dev" {
			t.Errorf("focus moved to %q", id)
		}
		if !eval[bool](t, b, `!!document.querySelector('#recent-deploys [data-status=succeeded]')`) {
			t.Error("the recent deploys table did not follow")
		}
		// The stage cards that came in still post in place.
		if err := chromedp.Do(b, chromedp.Click(`[data-testid=deploy-dev]`), chromedp.WaitVisible(`[data-testid=build-log]`)); err != nil {
			t.Fatalf("deploy from a refreshed card: %v", err)
		}
		stillMarked(t, b, "deploying from a refreshed card")
		if n := len(f.fake.deploys); n != 1 || f.fake.deploys[0].Ref != "feature-x" {
			t.Errorf("deploys asked: %+v, want one of feature-x", f.fake.deploys)
		}
	})

	t.Run("apps overview", func(t *testing.T) {
		// The newest deploy of dev is the one the board's button asked for.
		newest, err := f.store.Deploys(ctx, d.AppID, 1)
		if err != nil || len(newest) != 1 || newest[0].ID == d.ID {
			t.Fatalf("newest deploy: %+v, %v", newest, err)
		}
		err = chromedp.Do(b,
			chromedp.Navigate(f.srv.URL+"/apps"),
			chromedp.WaitVisible(`[data-testid=app-shop] [data-status=queued]`),
		)
		if err != nil {
			t.Fatal(err)
		}
		markPage(t, b, true)
		newest[0].Status = store.DeployFailed
		if err := f.store.SaveDeploy(ctx, &newest[0]); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(b, bpoll(`!!document.querySelector('[data-testid=app-shop] [data-status=failed]')`)); err != nil {
			t.Fatalf("the overview did not follow: %v", err)
		}
		stillMarked(t, b, "a live update")
	})

	t.Run("a finished build's deploys", func(t *testing.T) {
		build.Status = store.BuildSucceeded
		if err := f.store.SaveBuild(ctx, &build); err != nil {
			t.Fatal(err)
		}
		set(store.DeployQueued)
		err := chromedp.Do(b,
			chromedp.Navigate(fmt.Sprintf("%s/builds/%d", f.srv.URL, build.ID)),
			chromedp.WaitVisible(`[data-testid=build-deploys] [data-status=queued]`),
		)
		if err != nil {
			t.Fatal(err)
		}
		markPage(t, b, true)
		set(store.DeploySucceeded)
		if err := chromedp.Do(b, bpoll(`!!document.querySelector('[data-testid=build-deploys] [data-status=succeeded]')`)); err != nil {
			t.Fatalf("the build page did not follow its deploy: %v", err)
		}
		stillMarked(t, b, "a live update")
	})
}

// The same forms work with JavaScript off: a plain POST with the CSRF
// field, answered by a redirect, in Chromium with scripts disabled and from
// a plain HTTP client.
func TestConsoleFormsWithoutJavaScript(t *testing.T) {
	f := setupFull(t)

	t.Run("browser", func(t *testing.T) {
		b := consoleBrowser(t, f, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		}))
		err := chromedp.Do(b,
			chromedp.Navigate(f.srv.URL+"/apps/shop/stages/dev/settings"),
			chromedp.WaitVisible(`[data-testid=var-form]`),
			chromedp.SendKeys(`#key`, "PLAIN"),
			chromedp.SendKeys(`#value`, "html"),
			chromedp.Click(`[data-testid=set-var]`),
			chromedp.WaitVisible(`[data-testid=var-PLAIN]`),
			chromedp.WaitVisible(`[data-testid=flash]`),
		)
		if err != nil {
			t.Fatalf("save a variable without JavaScript: %v", err)
		}
		if eval[bool](t, b, `typeof htmx !== 'undefined'`) {
			t.Fatal("scripts ran; the test means to turn them off")
		}
	})

	t.Run("HTTP client", func(t *testing.T) {
		c, tok := f.signIn(t)
		resp, err := c.PostForm(f.srv.URL+"/apps/shop/stages/dev/vars", url.Values{"_csrf": {tok}, "key": {"FORM"}, "value": {"posted"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/apps/shop/stages/dev/settings" {
			t.Fatalf("plain POST: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp.Header.Get("HX-Push-Url") != "" || resp.Header.Get("HX-Redirect") != "" {
			t.Error("a plain POST got htmx headers")
		}
		body := getPage(t, c, f.srv.URL+"/apps/shop/stages/dev/settings")
		if !strings.Contains(body, `data-testid="var-FORM"`) || !strings.Contains(body, "FORM saved") {
			t.Error("the settings page lacks the variable or the flash after a plain POST")
		}
		// Every form that changes something posts to a real URL with the
		// CSRF field, so it works without htmx.
		for _, page := range []string{"/apps/shop", "/apps/shop/stages/dev/settings", "/account", "/apps/shop/members"} {
			body := getPage(t, c, f.srv.URL+page)
			for _, form := range strings.Split(body, "<form")[1:] {
				form = form[:strings.Index(form, "</form>")]
				if !strings.Contains(form, `method="post"`) {
					continue
				}
				if !strings.Contains(form, `action="/`) || !strings.Contains(form, `name="_csrf"`) {
					t.Errorf("%s has a form that cannot post without JavaScript: <form%.200s", page, form)
				}
			}
		}
	})

	t.Run("htmx asks", func(t *testing.T) {
		c, tok := f.signIn(t)
		post := func(path string, form url.Values) *http.Response {
			form.Set("_csrf", tok)
			req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("HX-Request", "true")
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp
		}
		// A page rendered in answer to a POST stays at the page's URL.
		if resp := post("/apps/shop/stages/dev/vars", url.Values{"key": {"1BAD"}}); resp.StatusCode != http.StatusUnprocessableEntity || resp.Header.Get("HX-Push-Url") != "false" {
			t.Errorf("bad key through htmx: %d, HX-Push-Url %q", resp.StatusCode, resp.Header.Get("HX-Push-Url"))
		}
		// Signing this browser out leaves the console as a whole page.
		ss, err := apiv1.NewClient(f.srv.URL, f.token).Sessions(context.Background())
		if err != nil || len(ss) == 0 {
			t.Fatal(ss, err)
		}
		if resp := post(fmt.Sprintf("/account/sessions/%d/revoke", ss[0].ID), url.Values{}); resp.StatusCode != http.StatusNoContent || resp.Header.Get("HX-Redirect") != "/login" {
			t.Errorf("signing out through htmx: %d, HX-Redirect %q", resp.StatusCode, resp.Header.Get("HX-Redirect"))
		}
	})
}
