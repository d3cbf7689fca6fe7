package views

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/a-h/templ"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/seedbed/seedbed/assets"
	"github.com/seedbed/seedbed/testutil"
)

// browser starts Chromium for a test that fails on any CSP violation.
func browser(t *testing.T) context.Context {
	ctx := testutil.Browser(t, time.Minute)
	testutil.FailOnCSPViolations(t, ctx)
	return ctx
}

// consoleServer serves the embedded assets and the given pages under the
// console's Content-Security-Policy.
func consoleServer(t *testing.T, pages map[string]http.HandlerFunc) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/assets/", http.StripPrefix("/assets/", http.FileServerFS(assets.FS())))
	for path, h := range pages {
		mux.HandleFunc(path, h)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", ContentSecurityPolicy)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func page(c func() templ.Component) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = c().Render(r.Context(), w)
	}
}

// The build page follows its log: streamed lines appear escaped, the status
// badge and error box follow the "status" event, and after "end" the page
// refreshes once (in place, see refresh in assets/app.js) to show the
// finished build.
func TestBuildPageStreamsInBrowser(t *testing.T) {
	var renders atomic.Int32
	release := make(chan struct{})
	var releaseOnce sync.Once
	srv := consoleServer(t, map[string]http.HandlerFunc{
		"/builds/7": page(func() templ.Component {
			m := buildFixture()
			if renders.Add(1) > 1 { // the refresh after the end
				m.Build.Status, m.Error, m.StreamURL = "failed", "exit status 2", ""
				m.Log = append(m.Log, LogLine{ID: 4, Stream: "stdout", Text: "<b>not bold</b>"}, LogLine{ID: 5, Stream: "seedbed", Text: "Build failed"})
			}
			return BuildPage(m)
		}),
		"/builds/7/events": func(w http.ResponseWriter, r *http.Request) {
			if got := r.URL.Query().Get("after"); got != "3" {
				t.Errorf("stream opened with after=%q, want 3", got)
			}
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "event: status\ndata: {\"status\":\"running\",\"error\":\"\"}\n\n")
			// A reconnect could resend a line the page already shows.
			fmt.Fprint(w, "id: 3\nevent: line\ndata: {\"id\":3,\"stream\":\"stderr\",\"text\":\"warning: a < b && c > d\"}\n\n")
			fmt.Fprint(w, "id: 4\nevent: line\ndata: {\"id\":4,\"stream\":\"stdout\",\"text\":\"<b>not bold</b>\"}\n\n")
			w.(http.Flusher).Flush()
			select { // let the test look at the running page first
			case <-release:
			case <-r.Context().Done():
				return
			}
			fmt.Fprint(w, "id: 5\nevent: line\ndata: {\"id\":5,\"stream\":\"seedbed\",\"text\":\"Build failed\"}\n\n")
			fmt.Fprint(w, "event: status\ndata: {\"status\":\"failed\",\"error\":\"exit status 2\"}\n\n")
			fmt.Fprint(w, "event: end\ndata: {}\n\n")
			w.(http.Flusher).Flush()
		},
	})
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	ctx := browser(t)

	err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/builds/7"),
		poll(`document.querySelectorAll('#log span[data-id="4"]').length === 1`),
	)
	if err != nil {
		t.Fatalf("open the running build: %v", err)
	}
	lines, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#log span')).map(s => s.dataset.id + ' ' + s.className + ' ' + s.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	bolds, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#log b').length`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"1 line stream-seedbed Checking out main at 9f86d08",
		`2 line stream-stdout echo "<script>alert('x')</script> & done"`,
		"3 line stream-stderr warning: a < b && c > d",
		"4 line stream-stdout <b>not bold</b>",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("log while running:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if bolds != 0 {
		t.Error("a streamed line's HTML was interpreted")
	}
	shoot(t, ctx, "build-running")

	releaseOnce.Do(func() { close(release) })
	err = chromedp.Do(ctx,
		chromedp.WaitVisible(`[data-testid=build-status][data-status=failed]`),
		chromedp.WaitVisible(`[data-testid=build-error]`),
	)
	if err != nil {
		t.Fatalf("watch the build end: %v", err)
	}
	if errText, err := chromedp.Run(ctx, chromedp.Text(`[data-testid=build-error]`)); err != nil || !strings.Contains(errText, "exit status 2") {
		t.Errorf("error box = %q, %v", errText, err)
	}
	// After the end the page refreshes and no longer streams.
	if err := chromedp.Do(ctx, poll(`document.querySelector('#log span[data-id="5"]') !== null && !document.querySelector('#log').hasAttribute('data-stream-url')`)); err != nil {
		t.Fatalf("wait for the reload: %v", err)
	}
	if st, err := chromedp.Run(ctx, chromedp.AttributeValue(`[data-testid=build-status]`, "data-status")); err != nil || st.Value != "failed" {
		t.Errorf("status after the reload = %q, %v", st.Value, err)
	}
	if n := renders.Load(); n != 2 {
		t.Errorf("the page was rendered %d times, want 2 (one refresh after the end)", n)
	}
	// The refreshed page has no stream and must not refresh again.
	time.Sleep(2 * time.Second)
	if n := renders.Load(); n != 2 {
		t.Errorf("the finished page kept refreshing: %d renders", n)
	}
	shoot(t, ctx, "build-failed")
}

// A promotion awaiting approval follows its stream too: the badge reads
// "awaiting approval", and when another status arrives (here: someone
// cancelled it) the badge changes and the approve / reject / cancel actions
// hide at once, before the refresh after the end brings the finished page.
func TestDeployApprovalStreamsInBrowser(t *testing.T) {
	var renders atomic.Int32
	step := make(chan struct{})
	opened := make(chan struct{}, 1)
	srv := consoleServer(t, map[string]http.HandlerFunc{
		"/deploys/12": page(func() templ.Component {
			m := awaitingDeployFixture()
			if renders.Add(1) > 1 {
				m.Deploy.Status, m.StreamURL = "cancelled", ""
				m.ApproveURL, m.RejectURL, m.CancelURL = "", "", ""
			}
			return DeployPage(m)
		}),
		"/deploys/12/events": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "event: status\ndata: {\"status\":\"awaiting_approval\",\"error\":\"\"}\n\n")
			w.(http.Flusher).Flush()
			select {
			case opened <- struct{}{}:
			default:
			}
			for _, ev := range []string{
				"event: status\ndata: {\"status\":\"cancelled\",\"error\":\"\"}\n\n",
				"event: end\ndata: {}\n\n",
			} {
				select {
				case <-step:
				case <-r.Context().Done():
					return
				}
				fmt.Fprint(w, ev)
				w.(http.Flusher).Flush()
			}
			<-r.Context().Done()
		},
	})
	ctx := browser(t)
	next := func() {
		select {
		case step <- struct{}{}:
		case <-time.After(10 * time.Second):
			t.Fatal("the page never opened the stream")
		}
	}

	err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/deploys/12"),
		chromedp.WaitVisible(`[data-testid=approve]`),
		chromedp.WaitVisible(`[data-testid=cancel]`),
	)
	if err != nil {
		t.Fatalf("open the waiting promotion: %v", err)
	}
	select { // the streamed status must keep the label, not only the server's
	case <-opened:
		time.Sleep(300 * time.Millisecond)
	case <-time.After(10 * time.Second):
		t.Fatal("the page never opened the stream")
	}
	if label, err := chromedp.Run(ctx, chromedp.Text(`[data-testid=deploy-status]`)); err != nil || label != "awaiting approval" {
		t.Errorf("badge = %q, %v; want \"awaiting approval\"", label, err)
	}
	shoot(t, ctx, "deploy-awaiting")

	next()
	if err := chromedp.Do(ctx, poll(`document.querySelector('[data-testid=deploy-status]').dataset.status === 'cancelled'`)); err != nil {
		t.Fatalf("wait for the cancelled status: %v", err)
	}
	state, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[
		document.querySelector('[data-testid=deploy-status]').className,
		document.querySelector('[data-testid=deploy-status]').textContent,
		String(document.querySelector('[data-testid=approval]').hidden),
		String(document.querySelector('[data-testid=cancel]').closest('form').hidden),
	]`))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"badge badge-cancelled", "cancelled", "true", "true"}; strings.Join(state, "|") != strings.Join(want, "|") {
		t.Errorf("after the cancelled status: class, label, approval hidden, cancel hidden = %q, want %q", state, want)
	}
	if n := renders.Load(); n != 1 {
		t.Errorf("the page refreshed before the end (%d renders)", n)
	}

	next()
	if err := chromedp.Do(ctx, poll(`document.querySelector('[data-testid=approval]') === null && !document.querySelector('#log').hasAttribute('data-stream-url')`)); err != nil {
		t.Fatalf("wait for the refresh after the end: %v", err)
	}
	if n := renders.Load(); n != 2 {
		t.Errorf("the page was rendered %d times, want 2", n)
	}
}

// Forms with data-confirm ask first, and htmx requests carry the CSRF token
// from the page's meta tag.
func TestScriptConfirmAndCSRFInBrowser(t *testing.T) {
	var posts atomic.Int32
	gotToken := make(chan string, 1)
	srv := consoleServer(t, map[string]http.HandlerFunc{
		"/apps": page(func() templ.Component { return AppsPage(AppsModel{Page: testPage("Apps"), CanCreate: true}) }),
		"/post": func(w http.ResponseWriter, r *http.Request) {
			posts.Add(1)
			http.Redirect(w, r, "/apps", http.StatusSeeOther)
		},
		"/hx": func(w http.ResponseWriter, r *http.Request) {
			gotToken <- r.Header.Get("X-CSRF-Token")
			fmt.Fprint(w, "ok")
		},
	})
	ctx := browser(t)
	err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/apps"),
		poll(`typeof htmx !== 'undefined'`),
		chromedp.Evaluate[chromedp.Void](`
			window.confirm = () => false;
			const f = document.createElement('form');
			f.method = 'post'; f.action = '/post'; f.dataset.confirm = 'Deploy to prod?';
			f.innerHTML = '<button type="submit" id="go">Go</button>';
			document.body.appendChild(f);
			f.requestSubmit();
			htmx.ajax('POST', '/hx', {target: '#go', swap: 'none'});
		`),
	)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case tok := <-gotToken:
		if tok != "tok-123" {
			t.Errorf("htmx sent X-CSRF-Token %q, want tok-123", tok)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the htmx request never arrived")
	}
	time.Sleep(300 * time.Millisecond)
	if n := posts.Load(); n != 0 {
		t.Errorf("a declined confirmation still posted the form (%d posts)", n)
	}
}

// The pages lay out on a desktop and on a phone, light and dark: stage
// cards sit side by side on a desktop and stack on a phone, and no page
// scrolls sideways. Screenshots land in $SEEDBED_SCREENSHOTS when it is set.
func TestAppPageLayoutInBrowser(t *testing.T) {
	srv := consoleServer(t, map[string]http.HandlerFunc{
		"/apps/shop": page(func() templ.Component { return AppPage(appFixture()) }),
		"/deploys/4": page(func() templ.Component { return DeployPage(deployFixture()) }),
		"/apps/new": page(func() templ.Component {
			return NewAppPage(AppForm{Page: testPage("Connect a repository"), Name: "Bad Name", Branch: "main",
				Errors: map[string]string{"name": "Use 1 to 63 lower-case letters, digits and single dashes."}})
		}),
		"/apps": page(func() templ.Component {
			return AppsPage(AppsModel{Page: testPage("Apps"), CanCreate: true, Apps: []AppRow{{Name: "shop", RepoURL: "https://git.example.com/acme/shop.git", Branch: "main",
				Stages: []StageBadge{{Name: "dev", Status: "succeeded"}, {Name: "staging", Status: "running"}, {Name: "prod"}}}}})
		}),
		"/login":         page(func() templ.Component { return LoginPage(LoginModel{Page: Page{Title: "Sign in"}}) }),
		"/apps/pipeline": page(func() templ.Component { return AppPage(pipelineFixture()) }),
		"/deploys/12":    page(func() templ.Component { m := awaitingDeployFixture(); m.StreamURL = ""; return DeployPage(m) }),
		"/builds/7":      page(func() templ.Component { m := cancellableBuildFixture(); m.StreamURL = ""; return BuildPage(m) }),
		"/promote":       page(func() templ.Component { return PromotePage(promoteFixture()) }),
		"/promote-none":  page(func() templ.Component { return PromotePage(promoteNothingFixture()) }),
		"/stage":         page(func() templ.Component { return StageSettingsPage(stageSettingsFixture()) }),
		"/error": page(func() templ.Component {
			return ErrorPage(ErrorModel{Page: testPage("Error"), Status: 404, Message: `No app named "x". seedbed apps list shows the apps.`})
		}),
	})
	tests := []struct {
		name          string
		width, height int64
		mobile, dark  bool
		sideBySide    bool
	}{
		{name: "desktop", width: 1280, height: 900, sideBySide: true},
		{name: "phone", width: 390, height: 844, mobile: true, sideBySide: false},
		{name: "dark", width: 1280, height: 900, dark: true, sideBySide: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := browser(t)
			mobile := func(p *emulation.SetDeviceMetricsOverrideParams, _ *emulation.SetTouchEmulationEnabledParams) {
				p.Mobile = tt.mobile
			}
			scheme := "light"
			if tt.dark {
				scheme = "dark"
			}
			err := chromedp.Do(ctx,
				chromedp.EmulateViewport(tt.width, tt.height, mobile),
				chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
					_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
						Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
					return err
				}),
				chromedp.Navigate(srv.URL+"/apps/shop"),
				chromedp.WaitVisible(`[data-testid=deploy-staging]`),
			)
			if err != nil {
				t.Fatal(err)
			}
			tops, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`Array.from(document.querySelectorAll('.stage')).map(e => e.getBoundingClientRect().top)`))
			if err != nil {
				t.Fatal(err)
			}
			overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`))
			if err != nil {
				t.Fatal(err)
			}
			if len(tops) != 2 || (tops[0] == tops[1]) != tt.sideBySide {
				t.Errorf("stage card tops = %v, want side by side = %v", tops, tt.sideBySide)
			}
			if overflow {
				t.Error("/apps/shop scrolls sideways")
			}
			bg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`))
			if err != nil {
				t.Fatal(err)
			}
			if isDark := bg == "rgb(13, 17, 23)"; isDark != tt.dark {
				t.Errorf("page background %s, want dark = %v", bg, tt.dark)
			}
			shoot(t, ctx, tt.name+"-app")

			// Three stages, one protected: still side by side (or stacked),
			// with the actions of every card at its bottom.
			if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/apps/pipeline"), chromedp.WaitVisible(`[data-testid=promote-staging]`)); err != nil {
				t.Fatal(err)
			}
			tops, err = chromedp.Run(ctx, chromedp.Evaluate[[]float64](`Array.from(document.querySelectorAll('.stage')).map(e => e.getBoundingClientRect().top)`))
			if err != nil {
				t.Fatal(err)
			}
			if len(tops) != 3 || (tops[0] == tops[1] && tops[1] == tops[2]) != tt.sideBySide {
				t.Errorf("pipeline stage card tops = %v, want side by side = %v", tops, tt.sideBySide)
			}
			if tt.sideBySide {
				// The actions line up across the cards.
				bottoms, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`Array.from(document.querySelectorAll('.stage-actions')).map(e => e.getBoundingClientRect().bottom)`))
				if err != nil {
					t.Fatal(err)
				}
				if len(bottoms) != 3 || bottoms[0] != bottoms[1] || bottoms[1] != bottoms[2] {
					t.Errorf("stage action rows end at %v, want one line", bottoms)
				}
			}
			shoot(t, ctx, tt.name+"-pipeline")

			for _, p := range []string{"/deploys/4", "/deploys/12", "/builds/7", "/promote", "/promote-none", "/stage", "/apps/new", "/apps", "/login", "/error"} {
				if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+p), chromedp.WaitReady(`body`)); err != nil {
					t.Fatal(err)
				}
				if overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`)); err != nil || overflow {
					t.Errorf("%s scrolls sideways (%v)", p, err)
				}
				shoot(t, ctx, tt.name+strings.ReplaceAll(p, "/", "-"))
			}
		})
	}
}

func poll(expr string) chromedp.Action[chromedp.Void] { return testutil.Poll(expr, 10*time.Second) }

func shoot(t *testing.T, ctx context.Context, name string) {
	testutil.Screenshot(t, ctx, "views-"+name)
}
