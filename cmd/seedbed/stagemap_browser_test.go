package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web/apiv1"
)

// fragileFunction serves every path; GET /fragile/break leaves a mark in
// the instance's HOME and exits, and a process that finds the mark exits
// at once: from then on the instance crash-loops, as a function whose
// start fails does. Other instances (other HOMEs) are untouched.
const fragileFunction = `package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
)

func main() {
	mark := filepath.Join(os.Getenv("HOME"), "broken")
	if _, err := os.Stat(mark); err == nil {
		fmt.Fprintln(os.Stderr, "broken on purpose: exiting")
		os.Exit(3)
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fragile/break" {
			os.WriteFile(mark, []byte("x"), 0o600)
			os.Exit(3)
		}
		fmt.Fprintf(w, "up %s", r.URL.Path)
	})
	if err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`

// A stage with two functions, one of which goes down: its map, opened
// from the stage card in a real browser, marks the function down and
// crash-looping, the other healthy with its request rate; the promotion
// page shows both stages' maps. Saves docs/screenshots' stage-map.png
// when SEEDBED_SCREENSHOTS points there.
func TestStageMapInBrowser(t *testing.T) {
	a := startApp(t, embedded)
	repo := testutil.NewRepo(t)
	repo.Commit("two functions", map[string]string{
		"seedbed.yml": stackFile(`      hello:
        handler: bootstrap
        routes: ["GET /hello"]
      fragile:
        handler: bootstrap
        routes: ["GET /fragile", "GET /fragile/{proxy+}"]
`),
		"services/api/go.mod":  goMod,
		"services/api/main.go": fragileFunction,
	})
	ctx := context.Background()
	if _, err := a.api.CreateApp(ctx, apiv1.CreateAppRequest{Name: "shop", RepoURL: repo.Dir, Branch: "main"}); err != nil {
		t.Fatalf("create app: %v", err)
	}
	a.mustDeploy("shop", "dev", "main")
	for range 20 {
		if code, body := a.get("/shop/dev/hello"); code != http.StatusOK {
			t.Fatalf("GET /shop/dev/hello: %d %s", code, body)
		}
	}
	if code, body := a.get("/shop/dev/fragile"); code != http.StatusOK {
		t.Fatalf("GET /shop/dev/fragile before breaking it: %d %s", code, body)
	}
	if code, _ := a.get("/shop/dev/fragile/break"); code < 500 {
		t.Fatalf("breaking the function answered %d, want a 5xx: the process exited mid-request", code)
	}

	// The API's map says it first: the restarts reach the metrics as the
	// supervisor starts the process again and again.
	type mapJSON struct {
		Down        int      `json:"down"`
		Differences []string `json:"differences"`
		Nodes       []struct{ ID, Health, Drift string }
	}
	var m mapJSON
	deadline := time.Now().Add(time.Minute)
	for {
		m = mapJSON{}
		req, _ := http.NewRequest(http.MethodGet, a.ConsoleURL()+"/api/v1/apps/shop/stages/dev/map", nil)
		req.Header.Set("Authorization", "Bearer "+a.api.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET the map: %d %s", resp.StatusCode, body)
		}
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		if m.Down == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the map never marked api/fragile down: %s", body)
		}
		time.Sleep(250 * time.Millisecond)
	}
	health := map[string]string{}
	for _, n := range m.Nodes {
		health[n.ID] = n.Health + "/" + n.Drift
	}
	if health["fn:api/fragile"] != "down/crash_looping" || health["fn:api/hello"] != "ok/" {
		t.Errorf("nodes: %v, want api/fragile down/crash_looping and api/hello ok", health)
	}

	// The CLI says the same in words.
	c := cli{t: t, env: map[string]string{"SEEDBED_CLI_CONFIG": filepath.Join(t.TempDir(), "cli.json")}}
	c.must("login", "--server", a.ConsoleURL(), "--email", adminEmail, "--password", adminPassword)
	out := c.must("map", "shop", "--stage", "dev")
	for _, want := range []string{"What runs differs from release #", "api/fragile is crash-looping", "api/fragile  down    crash-looping", "api/hello    ok      -"} {
		if !strings.Contains(out, want) {
			t.Errorf("seedbed map lacks %q:\n%s", want, out)
		}
	}
	t.Logf("seedbed map shop --stage dev:\n%s", out)
	var sm apiv1.StageMap
	if err := json.Unmarshal([]byte(c.must("map", "shop", "--stage", "dev", "-o", "json")), &sm); err != nil || sm.Down != 1 || sm.CrashLooping != 1 {
		t.Errorf("seedbed map -o json: %v, down %d, crash-looping %d; want 1 and 1", err, sm.Down, sm.CrashLooping)
	}

	bctx := testutil.Browser(t, 3*time.Minute)
	testutil.FailOnCSPViolations(t, bctx)
	base := a.ConsoleURL()
	err := chromedp.Do(bctx,
		chromedp.Navigate(base+"/apps/shop"),
		chromedp.WaitVisible(`input[name=email]`),
		chromedp.SendKeys(`input[name=email]`, adminEmail),
		chromedp.SendKeys(`input[name=password]`, adminPassword),
		chromedp.Submit(`input[name=password]`),
		chromedp.WaitVisible(`[data-testid=map-dev]`),
		chromedp.Click(`[data-testid=map-dev]`),
		chromedp.WaitVisible(`[data-testid=map]`),
		testutil.Poll(`document.querySelector('[data-testid="map-node-fn:api/fragile"]').dataset.health === 'down'`, 30*time.Second),
	)
	if err != nil {
		t.Fatalf("open the stage map from the stage card: %v", err)
	}
	probe := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	for expr, want := range map[string]string{
		`document.querySelector('[data-testid="map-node-fn:api/fragile"]').dataset.drift`:                                      "crash_looping",
		`document.querySelector('[data-testid="map-node-fn:api/hello"]').dataset.health`:                                       "ok",
		`document.querySelector('[data-testid="map"]').dataset.down`:                                                           "1",
		`String(document.querySelector('[data-testid="map-differences"]').innerText.includes('api/fragile is crash-looping'))`: "true",
		// The drawing is there to be seen, not only in the DOM.
		`String(document.querySelector('[data-testid=stage-map-svg]').getBoundingClientRect().width > 700)`: "true",
	} {
		if got := probe(expr); got != want {
			t.Errorf("%s = %q, want %q", expr, got, want)
		}
	}
	rate := probe(`Array.from(document.querySelectorAll('.map-rate')).map(e => e.textContent).join(',')`)
	if !strings.Contains(rate, "req/min") {
		t.Errorf("no request rate on the map's edges: %q", rate)
	}
	testutil.Screenshot(t, bctx, "stage-map")

	err = chromedp.Do(bctx,
		chromedp.Navigate(base+"/apps/shop/promote?from=dev&to=staging"),
		chromedp.WaitVisible(`[data-testid=promote-maps]`),
	)
	if err != nil {
		t.Fatalf("open the promotion page: %v", err)
	}
	for expr, want := range map[string]string{
		`document.querySelector('[data-testid="map-from"]').dataset.down`:                                                                         "1",
		`document.querySelector('[data-testid="map-to"]').dataset.stage`:                                                                          "staging",
		`String(document.querySelector('[data-testid="map-to-status"]').innerText.includes('Nothing is deployed'))`:                               "true",
		`String(document.querySelectorAll('[data-testid=promote-maps] [data-testid=stage-map-svg]').length)`:                                      "2",
		`String(new Set(Array.from(document.querySelectorAll('svg [id]')).map(e => e.id)).size === document.querySelectorAll('svg [id]').length)`: "true",
	} {
		if got := probe(expr); got != want {
			t.Errorf("%s = %q, want %q", expr, got, want)
		}
	}
	testutil.Screenshot(t, bctx, "stage-map-promote")
}
