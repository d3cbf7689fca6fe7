package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/seedbed/seedbed/testutil"
)

// A person signs in, connects a repository, clicks Deploy, watches the
// build log to the end, finds the function live and the change set shown,
// promotes dev to staging and rolls dev back, all by clicking.
func TestConsoleDeployInBrowser(t *testing.T) {
	a := startApp(t, embedded)
	repo := a.newAppRepoOnly()
	ctx := testutil.Browser(t, 4*time.Minute)
	testutil.FailOnCSPViolations(t, ctx)
	base := a.ConsoleURL()

	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/apps"),
		chromedp.WaitVisible(`input[name=email]`),
		chromedp.SendKeys(`input[name=email]`, adminEmail),
		chromedp.SendKeys(`input[name=password]`, adminPassword),
		chromedp.Submit(`input[name=password]`),
		chromedp.WaitVisible(`[data-testid=new-app]`),
	)
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	testutil.Screenshot(t, ctx, "console-01-apps-empty")
	err = chromedp.Do(ctx,
		chromedp.Click(`[data-testid=new-app]`),
		chromedp.WaitVisible(`input[name=name]`),
		chromedp.SendKeys(`input[name=name]`, "web-shop"),
		chromedp.SendKeys(`input[name=repo_url]`, repo.Dir),
		chromedp.Submit(`input[name=name]`),
		chromedp.WaitVisible(`[data-testid=deploy-dev]`),
	)
	if err != nil {
		t.Fatalf("connect a repository: %v", err)
	}
	if url, err := chromedp.Run(ctx, chromedp.Location()); err != nil || !strings.HasSuffix(url, "/apps/web-shop") {
		t.Fatalf("after creating the app the browser is at %s (%v)", url, err)
	}
	testutil.Screenshot(t, ctx, "console-02-app-new")

	if err := chromedp.Do(ctx, chromedp.Click(`[data-testid=deploy-dev]`), chromedp.WaitVisible(`[data-testid=build-log]`)); err != nil {
		t.Fatalf("click deploy: %v", err)
	}
	url, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || !strings.Contains(url, "/builds/") {
		t.Fatalf("after Deploy the browser is at %s (%v)", url, err)
	}
	err = chromedp.Do(ctx,
		testutil.Poll(`document.querySelector('[data-testid=build-log]').innerText.includes('Build succeeded')`, 2*time.Minute),
		chromedp.WaitVisible(`[data-testid=build-status][data-status=succeeded]`),
	)
	if err != nil {
		t.Fatalf("watch the build: %v", err)
	}
	logText, err := chromedp.Run(ctx, chromedp.Text(`[data-testid=build-log]`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Checked out", "Packaged api/hello", "Build succeeded"} {
		if !strings.Contains(logText, want) {
			t.Errorf("the build log in the browser lacks %q:\n%s", want, logText)
		}
	}
	testutil.Screenshot(t, ctx, "console-03-build")

	// The deploy follows the build; the app page shows the live release.
	deadline := time.Now().Add(time.Minute)
	for {
		if code, body := a.get("/web-shop/dev/hello"); code == 200 && body == "v1 hi /hello" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the function did not go live after deploying from the console")
		}
		time.Sleep(200 * time.Millisecond)
	}
	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/apps/web-shop"),
		chromedp.WaitVisible(`[data-testid=live-dev]`),
	)
	if err != nil {
		t.Fatalf("app page after the deploy: %v", err)
	}
	testutil.Screenshot(t, ctx, "console-04-app-live")
	err = chromedp.Do(ctx,
		chromedp.Click(`a[href^="/deploys/"]`),
		chromedp.WaitVisible(`[data-testid=deploy-status][data-status=succeeded]`),
	)
	if err != nil {
		t.Fatalf("open the deploy page: %v", err)
	}
	changeSet, err := chromedp.Run(ctx, chromedp.Text(`[data-testid=change-set]`))
	if err != nil || !strings.Contains(changeSet, "api/hello") {
		t.Fatalf("the change set on the deploy page lacks api/hello (%v):\n%s", err, changeSet)
	}
	testutil.Screenshot(t, ctx, "console-05-deploy")

	// Promote dev to staging: the preview shows the change set, confirming
	// deploys the same release.
	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/apps/web-shop"),
		chromedp.Click(`[data-testid=promote-dev]`),
		chromedp.WaitVisible(`[data-testid=confirm-promote]`),
	)
	if err != nil {
		t.Fatalf("open the promotion preview: %v", err)
	}
	summary, err := chromedp.Run(ctx, chromedp.Text(`[data-testid=promote-summary]`))
	if err != nil || !strings.Contains(summary, "1 added") {
		t.Fatalf("promotion summary %q (%v)", summary, err)
	}
	testutil.Screenshot(t, ctx, "console-06-promote")
	// The buttons act in place (htmx): a marker set now survives the click.
	err = chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`window.__marker = 1`),
		chromedp.Click(`[data-testid=confirm-promote]`),
		chromedp.WaitVisible(`[data-testid=deploy-status][data-status=succeeded]`),
	)
	if err != nil {
		t.Fatalf("confirm the promotion: %v", err)
	}
	if kept, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__marker === 1`)); err != nil || !kept {
		t.Errorf("confirming the promotion loaded a whole page (%v)", err)
	}
	if url, err := chromedp.Run(ctx, chromedp.Location()); err != nil || !strings.Contains(url, "/deploys/") {
		t.Errorf("after promoting the browser is at %s (%v)", url, err)
	}
	if code, body := a.get("/web-shop/staging/hello"); code != 200 || body != "v1 hi /hello" {
		t.Fatalf("after promoting in the browser staging answers %d %q", code, body)
	}

	// Deploy a second version to dev, then roll back from the stage card.
	repo.Commit("v2", map[string]string{"services/api/main.go": goFunction("v2")})
	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/apps/web-shop"),
		chromedp.Click(`[data-testid=deploy-dev]`),
		chromedp.WaitVisible(`[data-testid=build-log]`),
		testutil.Poll(`document.querySelector('[data-testid=build-log]').innerText.includes('Build succeeded')`, 2*time.Minute),
	)
	if err != nil {
		t.Fatalf("deploy v2: %v", err)
	}
	for deadline := time.Now().Add(time.Minute); ; {
		if _, body := a.get("/web-shop/dev/hello"); body == "v2 hi /hello" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("v2 did not go live on dev")
		}
		time.Sleep(200 * time.Millisecond)
	}
	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/apps/web-shop"),
		chromedp.WaitVisible(`[data-testid=rollback-dev]`),
		// The button asks for confirmation; this person says yes.
		chromedp.Evaluate[chromedp.Void](`window.confirm = () => true; window.__marker = 1`),
		chromedp.Click(`[data-testid=rollback-dev]`),
		chromedp.WaitVisible(`[data-testid=deploy-status][data-status=succeeded]`),
	)
	if err != nil {
		t.Fatalf("roll back: %v", err)
	}
	if kept, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__marker === 1`)); err != nil || !kept {
		t.Errorf("rolling back loaded a whole page (%v)", err)
	}
	testutil.Screenshot(t, ctx, "console-07-rollback")
	if code, body := a.get("/web-shop/dev/hello"); code != 200 || body != "v1 hi /hello" {
		t.Fatalf("after rolling back in the browser dev answers %d %q", code, body)
	}
}
