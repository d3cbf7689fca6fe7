// Command logpage measures issue 6's "stays responsive for a 100,000-line
// log" in a real headless Chromium: it starts the real binary, runs a build
// whose command prints N coloured lines, and then, for the finished build
// and for one watched while it runs, opens the build page and measures
// how long until the page shows, until every line is in it, the main
// thread's long tasks (over 50 ms) meanwhile, how long a filter takes to
// apply, and how long the page takes to answer a click-like task (a
// setTimeout(0) round trip) while lines still arrive.
//
//	go run ./bench/logpage            # 100,000 lines
//	go run ./bench/logpage -lines 20000
package main

import (
	"context"
	"flag"
	"fmt"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/seedbed/seedbed/bench/harness"
	"github.com/seedbed/seedbed/web/apiv1"
)

func main() {
	lines := flag.Int("lines", 100_000, "lines the build prints")
	flag.Parse()
	ctx := context.Background()

	srv, tmp, shutdown := harness.Boot(ctx, "logpage")
	defer shutdown()

	repo, err := harness.NewRepo(filepath.Join(tmp, "repo"))
	if err != nil {
		harness.Fatal(err)
	}
	// printf in a shell loop is slow; awk prints the lines at once, with
	// ANSI colours on every tenth line as real build tools do.
	build := fmt.Sprintf(`awk 'BEGIN { for (i = 1; i <= %d; i++) { if (i %% 10 == 0) printf "\033[32mok\033[0m step %%d of the build, compiling package number %%d\n", i, i; else printf "step %%d of the build, compiling package number %%d\n", i, i } }' && mkdir -p public && echo hi > public/index.html`, *lines)
	stack := "services:\n  site:\n    path: site\n    runtime: static\n    build: " + quoteYAML(build) + "\n    output: public\n    functions:\n      pages:\n        routes: [\"GET /{file+}\"]\n"
	if err := repo.Commit("a chatty build", map[string]string{"seedbed.yml": stack, "site/.keep": ""}); err != nil {
		harness.Fatal(err)
	}
	if _, err := srv.API.CreateApp(ctx, apiv1.CreateAppRequest{Name: "chatty", RepoURL: repo.Dir, Branch: "main"}); err != nil {
		harness.Fatal(err)
	}

	browser, stop, err := startBrowser(tmp)
	if err != nil {
		harness.Fatal(err)
	}
	defer stop()
	if err := chromedp.Do(browser,
		chromedp.Navigate(srv.Console+"/login"),
		chromedp.SendKeys(`input[name=email]`, harness.AdminEmail),
		chromedp.SendKeys(`input[name=password]`, harness.AdminPassword),
		chromedp.Submit(`input[name=password]`),
		chromedp.WaitVisible(`[data-testid=new-app]`),
	); err != nil {
		harness.Fatal(fmt.Errorf("sign in: %w", err))
	}

	fmt.Printf("Build page with a %d-line log, headless Chromium %s\n\n", *lines, chromiumVersion())

	// 1. Watched live: open the page right after the deploy is requested.
	resp, err := srv.API.Deploy(ctx, "chatty", apiv1.DeployRequest{Stage: "dev"})
	if err != nil {
		harness.Fatal(err)
	}
	live, err := measure(browser, srv.Console, resp.Build.ID, *lines, true)
	if err != nil {
		harness.Fatal(fmt.Errorf("live: %w", err))
	}
	if d, err := harness.WaitDeploy(ctx, srv.API, resp.Deploy.ID, 5*time.Minute); err != nil || d.Status != "succeeded" {
		harness.Fatal(fmt.Errorf("deploy: %+v, %v", d, err))
	}
	// 2. The same build, finished: the page renders the head and streams
	// the rest.
	done, err := measure(browser, srv.Console, resp.Build.ID, *lines, false)
	if err != nil {
		harness.Fatal(fmt.Errorf("finished: %w", err))
	}
	fmt.Printf("%-10s %10s %12s %10s %12s %10s %12s\n", "page", "shown", "all lines", "long tasks", "longest", "filter", "input delay")
	for _, r := range []result{live, done} {
		fmt.Printf("%-10s %10s %12s %10d %12s %10s %12s\n", r.name, ms(r.shown), ms(r.all), r.longTasks, ms(r.longest), ms(r.filter), ms(r.inputDelay))
	}
}

type result struct {
	name       string
	shown      time.Duration // navigation start → the log element is visible
	all        time.Duration // navigation start → every line is in the page
	longTasks  int           // main-thread tasks over 50 ms until then
	longest    time.Duration
	filter     time.Duration // typing a filter → its count shown
	inputDelay time.Duration // worst setTimeout(0) round trip while lines arrive
}

func measure(ctx context.Context, console string, build uint, lines int, live bool) (result, error) {
	r := result{name: "finished"}
	if live {
		r.name = "live"
	}
	// Observe long tasks and the event loop's delay from the first
	// script on: a probe every 100 ms records how late it ran.
	const probe = `window.__long = []; new PerformanceObserver(l => l.getEntries().forEach(e => window.__long.push(e.duration))).observe({type: 'longtask', buffered: true});
window.__lag = 0; (function tick(){ const t = performance.now(); setTimeout(() => { window.__lag = Math.max(window.__lag, performance.now() - t); setTimeout(tick, 100); }, 0); })();`
	var script page.ScriptIdentifier
	start := time.Now()
	if err := chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			added, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: probe})
			if err == nil {
				script = added.Identifier
			}
			return err
		}),
		chromedp.Navigate(fmt.Sprintf("%s/builds/%d", console, build)),
		// Only Evaluate on this page: a selector query makes chromedp mirror
		// the DOM, and then every added line costs the benchmark an event.
		pollTrue(`(() => { const l = document.querySelector('#log'); return !!l && l.offsetParent !== null; })()`, time.Minute),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, page.RemoveScriptToEvaluateOnNewDocument, page.RemoveScriptToEvaluateOnNewDocumentParams{Identifier: script})
			return err
		}),
	); err != nil {
		return r, err
	}
	r.shown = time.Since(start)
	// Every line of the build's command is in the log, plus Seedbed's own.
	for {
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#log span[data-id]').length`))
		if err != nil {
			return r, err
		}
		if n >= lines {
			break
		}
		if time.Since(start) > 10*time.Minute {
			return r, fmt.Errorf("%d of %d lines in the page after 10 minutes", n, lines)
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.all = time.Since(start)
	longs, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`window.__long`))
	if err != nil {
		return r, err
	}
	for _, l := range longs {
		r.longTasks++
		r.longest = max(r.longest, time.Duration(l*float64(time.Millisecond)))
	}
	lag, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`window.__lag`))
	if err != nil {
		return r, err
	}
	r.inputDelay = time.Duration(lag * float64(time.Millisecond))
	// A filter matching one line in ten (the coloured ones).
	fstart := time.Now()
	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`(() => { const b = document.querySelector('input[data-log-filter]'); b.value = 'ok step'; b.dispatchEvent(new Event('input', {bubbles: true})); })()`),
		pollTrue(`(() => { const c = document.querySelector('[data-log-filter-count]'); return c && /\d/.test(c.textContent); })()`, 2*time.Minute),
	); err != nil {
		return r, fmt.Errorf("filter: %w", err)
	}
	r.filter = time.Since(fstart)
	return r, nil
}

func pollTrue(expr string, timeout time.Duration) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(20*time.Millisecond))(ctx, t)
		return err
	})
}

func startBrowser(tmp string) (context.Context, func(), error) {
	path, err := exec.LookPath("chromium")
	if err != nil {
		return nil, nil, fmt.Errorf("chromium not found (apt-get install chromium): %w", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun,
		chromedp.UserDataDir(filepath.Join(tmp, "chromium")), chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		return nil, nil, err
	}
	return ctx, func() { cancel(); cancelAlloc() }, nil
}

func chromiumVersion() string {
	out, err := exec.Command("chromium", "--version").Output()
	if err != nil {
		return "(version unknown)"
	}
	return string(out[:len(out)-1])
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

// quoteYAML makes s one double-quoted YAML scalar.
func quoteYAML(s string) string {
	out := []byte{'"'}
	for _, c := range []byte(s) {
		switch c {
		case '"', '\\':
			out = append(out, '\\', c)
		case '\n':
			out = append(out, '\\', 'n')
		case 0x1b:
			out = append(out, []byte(`\e`)...)
		default:
			out = append(out, c)
		}
	}
	return string(append(out, '"'))
}
