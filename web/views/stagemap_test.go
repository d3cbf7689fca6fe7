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
