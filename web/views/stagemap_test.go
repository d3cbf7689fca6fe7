package views

import (
	"strings"
	"testing"
	"time"

	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/stagemap"
	"github.com/seedbed/seedbed/targets"
)

// mapFixture is a stage whose function api/broken crash-loops and whose
// api/gone is declared but not running.
func mapFixture(stage string, broken bool) StageMapView {
	hello := targets.Function{Service: "api", Name: "hello", Runtime: "go", Digest: "sha256:aa", Routes: []stack.Route{{Method: "GET", Path: "/hello"}}}
	bad := targets.Function{Service: "api", Name: "broken", Runtime: "go", Digest: "sha256:bb", Routes: []stack.Route{{Method: "GET", Path: "/broken"}}}
	in := stagemap.Input{App: "shop", Stage: stage, URL: "http://127.0.0.1:8081/shop/" + stage + "/", Release: 3,
		Declared: []targets.Function{hello, bad}, Running: []targets.Function{hello, bad}, RunningKnown: true,
		Traffic: map[string]stagemap.Traffic{"api/hello": {Requests: 300, P95: 12 * time.Millisecond}}, Window: 5 * time.Minute}
	if broken {
		in.Traffic["api/broken"] = stagemap.Traffic{Requests: 10, Errors: 10, Restarts: 6}
		in.Firing = []string{"crash-loop"}
	}
	m := stagemap.Build(in)
	return StageMapView{Stage: stage, SVG: string(stagemap.SVG(m)), URL: "/apps/shop/stages/" + stage + "/map", Release: 3,
		Differences: m.Differences(), Down: m.Down, RunningKnown: true, Metrics: true, Firing: m.Firing, AlertsURL: "/apps/shop/alerts", Window: "5 minutes"}
}

func TestGoldenStageMap(t *testing.T) {
	nav := ObserveNav{App: "shop", Stage: "prod", AppURL: "/apps/shop", MetricsURL: "/apps/shop/stages/prod/metrics",
		RequestsURL: "/apps/shop/stages/prod/requests", MapURL: "/apps/shop/stages/prod/map", IssuesURL: "/apps/shop/issues", Active: "map"}
	page := StageMapPage(StageMapModel{Page: testPage("Map of shop/prod"), Nav: nav, Map: mapFixture("prod", true)})
	checkGolden(t, "stage-map.golden.html", render(t, page))
	d := parse(t, page)
	if got, _ := attr(d.byTestID("map"), "data-down"); got != "1" {
		t.Errorf("data-down = %q, want 1", got)
	}
	if !strings.Contains(text(d.byTestID("map-differences")), "api/broken is crash-looping") {
		t.Errorf("the differences do not name the crash-looping function: %q", text(d.byTestID("map-differences")))
	}
	if got, _ := attr(d.byTestID("map-node-fn:api/broken"), "data-health"); got != "down" {
		t.Errorf("the broken function's node has health %q, want down", got)
	}

	pm := promoteFixture()
	pm.Maps = []StageMapView{mapFixture("staging", false), mapFixture("prod", true)}
	promote := PromotePage(pm)
	checkGolden(t, "promote-maps.golden.html", render(t, promote))
	pd := parse(t, promote)
	if got, _ := attr(pd.byTestID("map-from"), "data-differs"); got != "false" {
		t.Errorf("the source stage runs what it declares, yet data-differs = %q", got)
	}
	if got, _ := attr(pd.byTestID("map-to"), "data-down"); got != "1" {
		t.Errorf("the target stage map: data-down = %q, want 1", got)
	}
}

// The map page says whether the stage drifted: the differences with the
// note that the next deploy repairs them, "none", or why the check failed
// (never "none" then).
func TestStageMapDrift(t *testing.T) {
	nav := ObserveNav{App: "shop", Stage: "prod", AppURL: "/apps/shop", MetricsURL: "/apps/shop/stages/prod/metrics",
		RequestsURL: "/apps/shop/stages/prod/requests", MapURL: "/apps/shop/stages/prod/map", IssuesURL: "/apps/shop/issues", Active: "map"}
	page := func(driftURL string) StageMapModel {
		return StageMapModel{Page: testPage("Map of shop/prod"), Nav: nav, Map: mapFixture("prod", false), DriftURL: driftURL}
	}
	drifted := &DriftView{Target: "kubernetes", CheckedAt: now.Add(-2 * time.Second), Found: []string{
		"deployment shop-prod-api-1a2b of function api/hello: replicas is 5, Seedbed set 1",
		`deployment shop-prod-api-1a2b of function api/hello: image is <evil>, Seedbed set registry.example/seedbed:1`,
	}}
	// The page loads its drift section apart (the check may wait on a
	// slow cluster); the section is its own fragment.
	checkGolden(t, "stage-map-drift.golden.html", render(t, StageMapPage(page("/apps/shop/stages/prod/map/drift"))))
	checkGolden(t, "stage-drift.golden.html", render(t, StageDrift(testPage(""), drifted)))
	loading := parse(t, StageMapPage(page("/apps/shop/stages/prod/map/drift"))).byTestID("drift-loading")
	if v, _ := attr(loading, "hx-get"); v != "/apps/shop/stages/prod/map/drift" {
		t.Errorf("the drift section loads from %q", v)
	}
	if v, _ := attr(loading, "hx-trigger"); v != "load" {
		t.Errorf("the drift section loads on %q, want load", v)
	}

	tests := []struct {
		name    string
		drift   *DriftView
		testID  string
		want    []string
		drifted string
	}{
		{name: "drifted", drift: drifted, testID: "drift-status", drifted: "true",
			want: []string{"Drift: 2 changes made outside Seedbed", "replicas is 5, Seedbed set 1", "image is <evil>", "next deploy"}},
		{name: "none", drift: &DriftView{Target: "kubernetes", CheckedAt: now}, testID: "drift-status", drifted: "false",
			want: []string{"Drift: none.", "kubernetes objects are as Seedbed applied them"}},
		{name: "cluster unreachable", drift: &DriftView{Error: "Could not check stage prod for drift: its kubernetes target could not be reached or read."},
			testID: "drift-error", drifted: "false", want: []string{"Drift: not known.", "could not be reached"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := parse(t, StageDrift(testPage(""), tt.drift))
			got := text(d.byTestID(tt.testID))
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("%s says %q, want it to contain %q", tt.testID, got, w)
				}
			}
			if strings.Contains(got, "Drift: none.") != (tt.name == "none") {
				t.Errorf("%s says %q", tt.testID, got)
			}
			if v, _ := attr(d.byTestID("drift"), "data-drifted"); v != tt.drifted {
				t.Errorf("data-drifted = %q, want %s", v, tt.drifted)
			}
		})
	}
	if d := parse(t, StageMapPage(page(""))); d.hasTestID("drift") || d.hasTestID("drift-loading") {
		t.Error("a server that cannot check drift shows a drift section")
	}
	if got := render(t, StageDrift(testPage(""), nil)); strings.TrimSpace(got) != "" {
		t.Errorf("the section of a target with nothing that can drift: %q, want nothing", got)
	}
}
