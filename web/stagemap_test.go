package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/seedbed/seedbed/metrics"
	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
	"github.com/seedbed/seedbed/web"
)

// A stage's map shows nothing of an app to a user with no role on it,
// neither the page nor the API's JSON or SVG: they answer as if the app
// did not exist. A viewer sees all three.
func TestStageMapRoles(t *testing.T) {
	rf := setupRoles(t)
	paths := []string{"/apps/shop/stages/dev/map", "/api/v1/apps/shop/stages/dev/map", "/api/v1/apps/shop/stages/dev/map?format=svg"}
	for _, path := range paths {
		status, body := rf.do(t, rf.users["stranger"], http.MethodGet, path)
		if status != http.StatusNotFound || !strings.Contains(body, "No app named") || strings.Contains(body, "<svg") {
			t.Errorf("GET %s as a non-member: %d, want 404 as if the app did not exist\n%.300s", path, status, body)
		}
		status, body = rf.do(t, rf.users[store.RoleViewer], http.MethodGet, path)
		if status != http.StatusOK {
			t.Errorf("GET %s as a viewer: %d\n%.300s", path, status, body)
		}
	}
	status, body := rf.do(t, rf.users[store.RoleViewer], http.MethodGet, "/apps/shop")
	if status != http.StatusOK || !strings.Contains(body, `href="/apps/shop/stages/dev/map"`) {
		t.Errorf("the stage card links no map for a viewer: %d", status)
	}
}

// fakeRunning is a target that runs what it was given, per stage.
type fakeRunning map[string][]targets.Function

func (f fakeRunning) Running(ref targets.StageRef) []targets.Function { return f[ref.String()] }

// fakeMetrics answers a fixed series for every stage.
type fakeMetrics map[string][]metrics.Point

func (f fakeMetrics) Series(context.Context, string, string, string, metrics.Range) (map[string][]metrics.Point, error) {
	return f, nil
}

func (f fakeMetrics) StageRates(context.Context, string, string, time.Duration) (metrics.Rates, error) {
	return metrics.Rates{}, nil
}

// Summaries is not what the map reads; the fake has none.
func (f fakeMetrics) Summaries(context.Context, string, string, string, time.Duration) ([]metrics.Summary, error) {
	return nil, nil
}

// The map compares the live release with what the target runs and what
// the metrics say: a function the target does not run is missing, one
// that restarts is crash-looping, one the release does not declare is
// marked, and the hostile name of a route arrives escaped.
func TestStageMapDrift(t *testing.T) {
	hello := targets.Function{Service: "api", Name: "hello", Runtime: "go", Digest: "sha256:aa",
		Routes: []stack.Route{{Method: "GET", Path: "/hello/<script>alert(1)</script>"}}}
	flaky := targets.Function{Service: "api", Name: "flaky", Runtime: "go", Digest: "sha256:bb", Routes: []stack.Route{{Method: "GET", Path: "/flaky"}}}
	gone := targets.Function{Service: "api", Name: "gone", Runtime: "go", Digest: "sha256:cc"}
	stray := targets.Function{Service: "api", Name: "stray", Runtime: "go", Digest: "sha256:dd"}
	// An hour of minutes, as Series answers for the 1h range: hello
	// crash-looped an hour ago and is fine now; flaky restarts now.
	hour := func(recent map[int]metrics.Point) []metrics.Point {
		now := time.Now().Truncate(time.Minute)
		pts := make([]metrics.Point, 60)
		for i := range pts {
			pts[i] = recent[i]
			pts[i].At = now.Add(time.Duration(i-59) * time.Minute)
		}
		return pts
	}
	series := fakeMetrics{
		"api/hello": hour(map[int]metrics.Point{0: {Restarts: 50, Errors: 9, Requests: 9}, 58: {Requests: 30}, 59: {Requests: 30}}),
		"api/flaky": hour(map[int]metrics.Point{58: {Restarts: 3, Requests: 4, Errors: 4}, 59: {Restarts: 2}}),
	}
	f := setupWith(t, func(c *web.Config) {
		c.Running = fakeRunning{"shop/dev": {hello, flaky, stray}}
		c.Metrics = series
	})
	ctx := context.Background()
	app, err := f.store.AppByName(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	dev, err := f.store.StageByName(ctx, app.ID, "dev")
	if err != nil {
		t.Fatal(err)
	}
	b := store.Build{AppID: app.ID, Ref: "main", Status: store.BuildSucceeded, TriggerKind: "api"}
	if err := f.store.CreateBuild(ctx, &b); err != nil {
		t.Fatal(err)
	}
	manifest, _ := json.Marshal(pipelines.Manifest{App: "shop", BuildID: b.ID, Functions: []targets.Function{hello, flaky, gone}})
	rel := store.Release{AppID: app.ID, BuildID: b.ID, Manifest: string(manifest)}
	if err := f.store.CreateRelease(ctx, &rel); err != nil {
		t.Fatal(err)
	}
	d := store.Deploy{AppID: app.ID, StageID: dev.ID, ReleaseID: &rel.ID, Status: store.DeploySucceeded, TriggerKind: "api"}
	if err := f.store.CreateDeploy(ctx, &d); err != nil {
		t.Fatal(err)
	}
	if err := f.store.SetStageLive(ctx, dev.ID, rel.ID, d.ID); err != nil {
		t.Fatal(err)
	}

	get := func(path string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+f.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := get("/api/v1/apps/shop/stages/dev/map")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET the map: %d %s", resp.StatusCode, body)
	}
	var m struct {
		Release     uint     `json:"release"`
		Down        int      `json:"down"`
		Differences []string `json:"differences"`
		Nodes       []struct {
			ID, Health, Drift string
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, n := range m.Nodes {
		got[n.ID] = n.Health + "/" + n.Drift
	}
	want := map[string]string{
		"fn:api/hello": "ok/", "fn:api/flaky": "down/crash_looping", "fn:api/gone": "down/missing", "fn:api/stray": "idle/not_in_release",
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: %q, want %q", id, got[id], w)
		}
	}
	if m.Release != rel.ID || m.Down != 2 || len(m.Differences) != 3 {
		t.Errorf("release %d, down %d, differences %q", m.Release, m.Down, m.Differences)
	}

	resp, body = get("/api/v1/apps/shop/stages/dev/map?format=svg")
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "image/svg+xml") || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("the SVG answers %s with CSP %q", ct, resp.Header.Get("Content-Security-Policy"))
	}
	if strings.Contains(body, "<script>") || !strings.Contains(body, "&lt;script&gt;") {
		t.Errorf("the route's hostile path is not escaped in the SVG")
	}
	if resp, _ := get("/api/v1/apps/shop/stages/dev/map?format=png"); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("an unknown format: %d, want 422", resp.StatusCode)
	}
}
