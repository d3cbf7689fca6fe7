package web

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/metrics"
	"github.com/seedbed/seedbed/stagemap"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
	"github.com/seedbed/seedbed/web/apiv1"
	"github.com/seedbed/seedbed/web/views"
)

// RunningReader tells what a stage's target runs now (targets.Target's
// Running), for the stage map's desired-beside-deployed comparison.
type RunningReader interface {
	Running(ref targets.StageRef) []targets.Function
}

// InstanceCounter counts the running instances of a stage's functions by
// function key (the local target's pools); a stage it runs nothing of
// gets nil, and the map then marks no function short of instances.
type InstanceCounter interface {
	InstanceCounts(ref targets.StageRef) map[string]int
}

// mapWindow is the span of the map's health, rates and restarts: short,
// because the map answers "what is wrong now".
const mapWindow = 5 * time.Minute

// stageMap gathers what the map of st is drawn from: the live release,
// the stage's domains, what its target runs, the last minutes' metrics
// and the firing alert rules. Parts this server does not have (no
// target, no metrics, no domains) are drawn as unknown, not as failing.
func (s *Server) stageMap(ctx context.Context, app store.App, st store.Stage) (stagemap.Map, error) {
	in := stagemap.Input{App: app.Name, Stage: st.Name, URL: s.stageURL(app.Name, st.Name), Window: mapWindow,
		FunctionURL: func(key string) string { return functionURL(app.Name, st.Name, key) }}
	live, err := s.stageWithLive(ctx, app, st)
	if err != nil {
		return stagemap.Map{}, err
	}
	if live.Live != nil {
		in.Release = live.Live.ID
		in.Declared, in.Queues = live.Manifest.Functions, live.Manifest.Queues
		for _, off := range live.Manifest.SchedulesOff {
			in.SchedulesOff = in.SchedulesOff || off == st.Name
		}
	}
	if s.cfg.Running != nil {
		in.Running, in.RunningKnown = s.cfg.Running.Running(targets.StageRef{App: app.Name, Stage: st.Name}), true
	}
	if s.cfg.Instances != nil {
		in.Instances = s.cfg.Instances.InstanceCounts(targets.StageRef{App: app.Name, Stage: st.Name})
	}
	if s.cfg.Domains != nil {
		regs, err := s.cfg.Domains.List(ctx, app, []store.Stage{st})
		if err != nil {
			return stagemap.Map{}, fmt.Errorf("list the domains of %s/%s: %w", app.Name, st.Name, err)
		}
		for _, r := range regs {
			if r.Stage == st.Name {
				in.Domains = append(in.Domains, stagemap.Domain{Name: r.Name, Status: r.Status})
			}
		}
	}
	if s.cfg.Metrics != nil {
		series, err := s.cfg.Metrics.Series(ctx, app.Name, st.Name, "", metrics.Ranges()[0])
		if err != nil {
			return stagemap.Map{}, fmt.Errorf("read the metrics of %s/%s: %w", app.Name, st.Name, err)
		}
		in.Traffic = recentTraffic(series, int(mapWindow/time.Minute))
	}
	firing, err := s.firingRules(ctx, app)
	if err != nil {
		return stagemap.Map{}, err
	}
	in.Firing = firing[st.Name]
	return stagemap.Build(in), nil
}

// recentTraffic sums each function's last n per-minute steps (the
// newest holds what is not rolled up yet); p95 is the worst step's.
func recentTraffic(series map[string][]metrics.Point, n int) map[string]stagemap.Traffic {
	out := make(map[string]stagemap.Traffic, len(series))
	for fn, pts := range series {
		var t stagemap.Traffic
		for _, p := range pts[max(0, len(pts)-n):] {
			t.Requests += p.Requests
			t.Errors += p.Errors
			t.Restarts += p.Restarts
			t.P95 = max(t.P95, p.P95)
		}
		out[fn] = t
	}
	return out
}

// mapView is m for a page.
func mapView(app string, m stagemap.Map) views.StageMapView {
	return views.StageMapView{Stage: m.Stage, SVG: string(stagemap.SVG(m)), URL: stageURLPath(app, m.Stage) + "/map", Release: m.Release,
		Differences: m.Differences(), Down: m.Down, RunningKnown: m.RunningKnown, Metrics: m.Metrics, Firing: m.Firing,
		AlertsURL: appURL(app) + "/alerts", Window: fmt.Sprintf("%d minutes", int(m.Window/time.Minute))}
}

func (s *Server) stageMapPage(c echo.Context) error {
	app, st, err := s.stageParam(c)
	if err != nil {
		return err
	}
	m, err := s.stageMap(c.Request().Context(), app, st)
	if err != nil {
		return err
	}
	page := views.StageMapModel{Page: s.page(c, fmt.Sprintf("Map of %s/%s", app.Name, st.Name)), Nav: observeNav(app.Name, st.Name, "map"),
		Map: mapView(app.Name, m)}
	page.Page.Nav = "apps"
	if s.cfg.Drift != nil && m.Release != 0 {
		// The check asks the cluster, which may be slow: the page loads
		// it apart, where the target has anything that can drift.
		_, can, err := s.cfg.Drift.Drifts(c.Request().Context(), targets.StageRef{App: app.Name, Stage: st.Name})
		if err != nil || can {
			page.DriftURL = stageURLPath(app.Name, st.Name) + "/map/drift"
		}
	}
	return render(c, http.StatusOK, views.StageMapPage(page))
}

// apiStageMap answers the map as JSON (nodes, edges, what differs), or
// as the SVG the console draws with ?format=svg.
func (s *Server) apiStageMap(c echo.Context) error {
	app, st, err := s.stageParam(c)
	if err != nil {
		return err
	}
	m, err := s.stageMap(c.Request().Context(), app, st)
	if err != nil {
		return err
	}
	switch c.QueryParam("format") {
	case "svg":
		// Nothing in it runs, but a browser opening it alone gets no
		// chance to: no scripts, no styles, no fetches.
		c.Response().Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
		return c.Blob(http.StatusOK, "image/svg+xml; charset=utf-8", stagemap.SVG(m))
	case "", "json":
		return c.JSON(http.StatusOK, stageMapJSON(m))
	}
	return errorf(http.StatusUnprocessableEntity, "invalid", fmt.Sprintf("The format %q is not json or svg.", c.QueryParam("format")))
}

// stageMapJSON is m as the API answers it.
func stageMapJSON(m stagemap.Map) apiv1.StageMap {
	out := apiv1.StageMap{App: m.App, Stage: m.Stage, Release: m.Release, RunningKnown: m.RunningKnown, Metrics: m.Metrics,
		Firing: m.Firing, Nodes: []apiv1.StageMapNode{}, Edges: []apiv1.StageMapEdge{}, Missing: m.Missing, CrashLooping: m.CrashLooping,
		NotInRelease: m.NotInRelease, OtherBuild: m.OtherBuild, Short: m.Short, Down: m.Down, WindowSeconds: int(m.Window / time.Second),
		Differences: m.Differences()}
	if out.Firing == nil {
		out.Firing = []string{}
	}
	if out.Differences == nil {
		out.Differences = []string{}
	}
	for _, n := range m.Nodes {
		out.Nodes = append(out.Nodes, apiv1.StageMapNode{ID: n.ID, Kind: n.Kind, Label: n.Label, Detail: n.Detail, Health: n.Health, Drift: n.Drift, URL: n.URL,
			PerMinute: n.PerMinute})
	}
	for _, e := range m.Edges {
		out.Edges = append(out.Edges, apiv1.StageMapEdge{From: e.From, To: e.To, Health: e.Health, PerMinute: e.PerMinute, Label: e.Label, Event: e.Event})
	}
	return out
}

// promoteMaps are the promotion's two stages drawn, source then target;
// none when either cannot be read (the page matters more than its maps).
func (s *Server) promoteMaps(c echo.Context, from, to store.Stage) []views.StageMapView {
	app, err := s.appParam(c)
	if err != nil {
		return nil
	}
	var out []views.StageMapView
	for _, st := range []store.Stage{from, to} {
		m, err := s.stageMap(c.Request().Context(), app, st)
		if err != nil {
			s.log.Warn("draw a stage map for a promotion", "app", app.Name, "stage", st.Name, "err", err)
			return nil
		}
		out = append(out, mapView(app.Name, m))
	}
	return out
}
