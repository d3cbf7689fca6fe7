package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/metrics"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web/apiv1"
	"github.com/seedbed/seedbed/web/views"
)

// MetricsReader is what the metrics pages read of the collector: series
// for the charts and a stage's recent rates for the pipeline board.
// *metrics.Collector implements it.
type MetricsReader interface {
	Series(ctx context.Context, app, stage, function string, rng metrics.Range) (map[string][]metrics.Point, error)
	StageRates(ctx context.Context, app, stage string, since time.Duration) (metrics.Rates, error)
	Summaries(ctx context.Context, app, stage, function string, since time.Duration) ([]metrics.Summary, error)
}

// ObservationStore keeps the request log and the error groups.
// *store.Store implements it.
type ObservationStore interface {
	RequestLogs(ctx context.Context, q store.RequestLogQuery) ([]store.RequestLog, error)
	ErrorGroups(ctx context.Context, q store.ErrorGroupQuery) ([]store.ErrorGroup, error)
	ResolveErrorGroup(ctx context.Context, app string, id uint, resolved bool, who string, at time.Time) (store.ErrorGroup, error)
}

// trafficWindow is the span the pipeline board's request rates cover.
const trafficWindow = 15 * time.Minute

func functionURL(app, stage, key string) string {
	svc, name, _ := strings.Cut(key, "/")
	return stageURLPath(app, stage) + "/functions/" + url.PathEscape(svc) + "/" + url.PathEscape(name)
}

// stageParam finds the :stage of the route's app.
func (s *Server) stageParam(c echo.Context) (store.App, store.Stage, error) {
	app, err := s.appParam(c)
	if err != nil {
		return app, store.Stage{}, err
	}
	st, err := s.cfg.Store.StageByName(c.Request().Context(), app.ID, c.Param("stage"))
	if errors.Is(err, store.ErrNotFound) {
		return app, st, errorf(http.StatusNotFound, "not_found", fmt.Sprintf("App %s has no stage %q.", app.Name, c.Param("stage")))
	}
	return app, st, err
}

func observeNav(app, stage, active string) views.ObserveNav {
	n := views.ObserveNav{App: app, Stage: stage, AppURL: appURL(app), IssuesURL: appURL(app) + "/issues", Active: active}
	if stage != "" {
		n.MetricsURL = stageURLPath(app, stage) + "/metrics"
		n.RequestsURL = stageURLPath(app, stage) + "/requests"
		n.MapURL = stageURLPath(app, stage) + "/map"
	}
	return n
}

// rangeParam reads ?range= (1h, 24h, 7d).
func rangeParam(c echo.Context) (metrics.Range, error) {
	r, err := metrics.ParseRange(c.QueryParam("range"))
	if err != nil {
		return r, errorf(http.StatusUnprocessableEntity, "invalid", "The range "+strconv.Quote(c.QueryParam("range"))+" is not one of 1h, 24h, 7d.")
	}
	return r, nil
}

func rangeLinks(base string, cur metrics.Range) []views.RangeLink {
	var out []views.RangeLink
	for _, r := range metrics.Ranges() {
		out = append(out, views.RangeLink{Name: r.Name, URL: base + "?range=" + r.Name, Active: r.Name == cur.Name})
	}
	return out
}

// charts turns a function's points into its requests, errors, p95 and
// instances charts.
func charts(key string, pts []metrics.Point, rng metrics.Range, w, h int, markers []views.ChartMarker) ([]views.Chart, views.FunctionTotals) {
	var tot views.FunctionTotals
	var req, errs, p95, inst []views.ChartPoint
	var peak int64
	for _, p := range pts {
		req = append(req, views.ChartPoint{At: p.At, Value: float64(p.Requests)})
		errs = append(errs, views.ChartPoint{At: p.At, Value: float64(p.Errors)})
		p95 = append(p95, views.ChartPoint{At: p.At, Value: p.P95.Seconds()})
		inst = append(inst, views.ChartPoint{At: p.At, Value: float64(p.InstancesMax)})
		peak = max(peak, p.InstancesMax)
		tot.Requests += p.Requests
		tot.Errors += p.Errors
		tot.ColdStarts += p.ColdStarts
		tot.Restarts += p.Restarts
		tot.MemoryBytes = max(tot.MemoryBytes, p.MemoryBytes)
	}
	per := "per " + views.FormatStep(rng.Step)
	return []views.Chart{
		{ID: "chart-requests-" + key, Title: "Requests " + per, Kind: "requests", Points: req, Step: rng.Step, Markers: markers, Width: w, Height: h, Total: strconv.FormatInt(tot.Requests, 10)},
		{ID: "chart-errors-" + key, Title: "Errors " + per, Kind: "errors", Points: errs, Step: rng.Step, Markers: markers, Width: w, Height: h, Total: strconv.FormatInt(tot.Errors, 10)},
		{ID: "chart-p95-" + key, Title: "p95 latency", Kind: "latency", Points: p95, Step: rng.Step, Markers: markers, Width: w, Height: h},
		{ID: "chart-instances-" + key, Title: "Instances (most at once)", Kind: "instances", Points: inst, Step: rng.Step, Markers: markers, Width: w, Height: h, Total: "at most " + strconv.FormatInt(peak, 10)},
	}, tot
}

func (s *Server) stageMetricsPage(c echo.Context) error {
	app, st, err := s.stageParam(c)
	if err != nil {
		return err
	}
	rng, err := rangeParam(c)
	if err != nil {
		return err
	}
	m := views.StageMetricsModel{Page: s.page(c, fmt.Sprintf("%s/%s metrics", app.Name, st.Name)), Nav: observeNav(app.Name, st.Name, "metrics"),
		Range: rng.Name, Ranges: rangeLinks(stageURLPath(app.Name, st.Name)+"/metrics", rng), Off: s.cfg.Metrics == nil}
	m.Page.Nav = "apps"
	if s.cfg.Metrics != nil {
		series, err := s.cfg.Metrics.Series(c.Request().Context(), app.Name, st.Name, "", rng)
		if err != nil {
			return err
		}
		for _, key := range metrics.Functions(series) {
			cs, tot := charts(key, series[key], rng, 320, 90, nil)
			fm := views.FunctionMetrics{Key: key, URL: functionURL(app.Name, st.Name, key), Requests: tot.Requests, Errors: tot.Errors, Charts: cs}
			fm.P95 = p95Of(series[key])
			m.Functions = append(m.Functions, fm)
		}
	}
	return render(c, http.StatusOK, views.StageMetricsPage(m))
}

// p95Of is the highest step p95 of a range: a summary that does not hide
// a bad minute behind a good hour.
func p95Of(pts []metrics.Point) time.Duration {
	var worst time.Duration
	for _, p := range pts {
		worst = max(worst, p.P95)
	}
	return worst
}

func (s *Server) functionPage(c echo.Context) error {
	app, st, err := s.stageParam(c)
	if err != nil {
		return err
	}
	rng, err := rangeParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	key := c.Param("service") + "/" + c.Param("function")
	base := functionURL(app.Name, st.Name, key)
	m := views.FunctionPageModel{Page: s.page(c, fmt.Sprintf("%s in %s/%s", key, app.Name, st.Name)), Nav: observeNav(app.Name, st.Name, "function"),
		Function: key, Range: rng.Name, Ranges: rangeLinks(base, rng), Off: s.cfg.Metrics == nil,
		RequestsURL: stageURLPath(app.Name, st.Name) + "/requests?" + url.Values{"function": {key}}.Encode()}
	m.Page.Nav = "apps"
	deploys, err := s.cfg.Store.StageDeploys(ctx, st.ID, 50)
	if err != nil {
		return err
	}
	var markers []views.ChartMarker
	for i, d := range deploys {
		if i < 10 {
			m.Deploys = append(m.Deploys, deployRow(d, st.Name))
		}
		at := d.CreatedAt
		if d.FinishedAt != nil {
			at = *d.FinishedAt // when the release went live (or did not)
		}
		markers = append(markers, views.ChartMarker{At: at, Label: fmt.Sprintf("Deploy #%d %s", d.ID, d.Status), Failed: d.Status == store.DeployFailed})
	}
	if s.cfg.Metrics != nil {
		series, err := s.cfg.Metrics.Series(ctx, app.Name, st.Name, key, rng)
		if err != nil {
			return err
		}
		pts := series[key]
		if pts == nil { // no requests in the range: empty charts, not none
			pts = emptyPoints(s.cfg.Now(), rng)
		}
		m.Charts, m.Totals = charts(key, pts, rng, 900, 180, markers)
		m.Totals.P50, m.Totals.P95, m.Totals.P99 = worst(pts)
	}
	if s.cfg.Observations != nil {
		logs, err := s.cfg.Observations.RequestLogs(ctx, store.RequestLogQuery{App: app.Name, Stage: st.Name, Function: key, Limit: 20})
		if err != nil {
			return err
		}
		m.Requests = requestRows(app.Name, st.Name, logs)
		groups, err := s.cfg.Observations.ErrorGroups(ctx, store.ErrorGroupQuery{App: app.Name, Stage: st.Name, Function: key, Limit: 20})
		if err != nil {
			return err
		}
		m.Issues = s.issueRows(c, app.Name, groups)
	}
	return render(c, http.StatusOK, views.FunctionPage(m))
}

// worst is the highest step p50, p95 and p99 of a range.
func worst(pts []metrics.Point) (p50, p95, p99 time.Duration) {
	for _, p := range pts {
		p50, p95, p99 = max(p50, p.P50), max(p95, p.P95), max(p99, p.P99)
	}
	return p50, p95, p99
}

// emptyPoints are the steps of a range with nothing in them.
func emptyPoints(now time.Time, rng metrics.Range) []metrics.Point {
	end := now.Truncate(rng.Step).Add(rng.Step)
	n := int(rng.Span / rng.Step)
	pts := make([]metrics.Point, n)
	for i := range pts {
		pts[i].At = end.Add(-rng.Span + time.Duration(i)*rng.Step)
	}
	return pts
}

func requestRows(app, stage string, logs []store.RequestLog) []views.RequestRow {
	rows := make([]views.RequestRow, 0, len(logs))
	for _, l := range logs {
		r := views.RequestRow{At: l.At, Method: l.Method, Path: l.Path, Status: l.Status, Duration: time.Duration(l.DurationUS) * time.Microsecond,
			Bytes: l.Bytes, Function: l.Function, Instance: l.Instance, Client: l.Client}
		if l.Function != "" {
			r.FunctionURL = functionURL(app, stage, l.Function)
		}
		rows = append(rows, r)
	}
	return rows
}

var (
	statusExact = regexp.MustCompile(`^[1-5][0-9][0-9]$`)
	statusClass = regexp.MustCompile(`^[1-5](xx|XX)?$`)
)

// parseStatus reads a status search: 503 (exact) or 5xx (a class).
func parseStatus(s string) (int, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return 0, nil
	case statusExact.MatchString(s):
		return strconv.Atoi(s)
	case statusClass.MatchString(s):
		return int(s[0] - '0'), nil
	}
	return 0, fmt.Errorf("status %q is neither a code such as 503 nor a class such as 5xx", s)
}

// requestLogQuery reads the request log's search from the query string.
func requestLogQuery(c echo.Context, app, stage string) (store.RequestLogQuery, error) {
	q := store.RequestLogQuery{App: app, Stage: stage, Function: c.QueryParam("function"), Path: c.QueryParam("path"),
		BeforeID: parseUint(c.QueryParam("before")), Limit: 100}
	if n, err := strconv.Atoi(c.QueryParam("limit")); err == nil && n > 0 {
		q.Limit = min(n, 1000)
	}
	status, err := parseStatus(c.QueryParam("status"))
	q.Status = status
	return q, err
}

func (s *Server) requestLogPage(c echo.Context) error {
	app, st, err := s.stageParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	base := stageURLPath(app.Name, st.Name) + "/requests"
	m := views.RequestLogModel{Page: s.page(c, fmt.Sprintf("%s/%s request log", app.Name, st.Name)), Nav: observeNav(app.Name, st.Name, "requests"),
		FormURL: base, Status: c.QueryParam("status"), Path: c.QueryParam("path"), Function: c.QueryParam("function"), Off: s.cfg.Observations == nil}
	m.Page.Nav = "apps"
	q, err := requestLogQuery(c, app.Name, st.Name)
	if err != nil {
		m.Error = err.Error() + "."
		return render(c, http.StatusUnprocessableEntity, views.RequestLogPage(m))
	}
	if s.cfg.Metrics != nil {
		series, err := s.cfg.Metrics.Series(ctx, app.Name, st.Name, "", metrics.Ranges()[2])
		if err != nil {
			return err
		}
		m.Functions = metrics.Functions(series)
	}
	if s.cfg.Observations != nil {
		logs, err := s.cfg.Observations.RequestLogs(ctx, q)
		if err != nil {
			return err
		}
		m.Rows = requestRows(app.Name, st.Name, logs)
		if len(logs) == q.Limit {
			v := c.QueryParams()
			v.Set("before", strconv.FormatUint(uint64(logs[len(logs)-1].ID), 10))
			m.OlderURL = base + "?" + v.Encode()
		}
	}
	return render(c, http.StatusOK, views.RequestLogPage(m))
}

func (s *Server) issueRows(c echo.Context, app string, groups []store.ErrorGroup) []views.IssueRow {
	deployer := canDo(c, store.RoleDeployer)
	rows := make([]views.IssueRow, 0, len(groups))
	for _, g := range groups {
		r := views.IssueRow{ID: g.ID, Stage: g.Stage, Function: g.Function, FunctionURL: functionURL(app, g.Stage, g.Function), Kind: g.Kind,
			ErrorType: g.ErrorType, Message: g.Message, Sample: g.Sample, Count: g.Count, FirstSeen: g.FirstSeen, LastSeen: g.LastSeen,
			Resolved: g.ResolvedAt != nil, ResolvedBy: g.ResolvedBy, Reopened: g.Reopened}
		if deployer {
			u := appURL(app) + "/issues/" + strconv.FormatUint(uint64(g.ID), 10)
			if r.Resolved {
				r.ReopenURL = u + "/reopen"
			} else {
				r.ResolveURL = u + "/resolve"
			}
		}
		rows = append(rows, r)
	}
	return rows
}

func (s *Server) issuesPage(c echo.Context) error {
	app, err := s.appParam(c)
	if err != nil {
		return err
	}
	all := c.QueryParam("resolved") == "1"
	m := views.IssuesModel{Page: s.page(c, "Issues of "+app.Name), Nav: observeNav(app.Name, "", "issues"), ShowResolved: all, Stage: c.QueryParam("stage")}
	m.Page.Nav = "apps"
	m.ToggleURL = appURL(app.Name) + "/issues"
	if !all {
		m.ToggleURL += "?resolved=1"
	}
	if s.cfg.Observations != nil {
		groups, err := s.cfg.Observations.ErrorGroups(c.Request().Context(), store.ErrorGroupQuery{App: app.Name, Stage: m.Stage, Resolved: all, Limit: 200})
		if err != nil {
			return err
		}
		m.Rows = s.issueRows(c, app.Name, groups)
	}
	return render(c, http.StatusOK, views.IssuesPage(m))
}

// setIssueResolved resolves or reopens one of the route's app's groups.
func (s *Server) setIssueResolved(c echo.Context, resolved bool) (store.ErrorGroup, error) {
	app, err := s.appParam(c)
	if err != nil {
		return store.ErrorGroup{}, err
	}
	id, err := idParam(c)
	if err != nil {
		return store.ErrorGroup{}, err
	}
	if s.cfg.Observations == nil {
		return store.ErrorGroup{}, errorf(http.StatusNotFound, "not_found", "This server keeps no issues.")
	}
	g, err := s.cfg.Observations.ResolveErrorGroup(c.Request().Context(), app.Name, id, resolved, currentUser(c).Email, s.cfg.Now())
	if errors.Is(err, store.ErrNotFound) {
		return g, errorf(http.StatusNotFound, "not_found", fmt.Sprintf("App %s has no issue #%d.", app.Name, id))
	}
	return g, err
}

func (s *Server) resolveIssue(c echo.Context) error { return s.consoleIssue(c, true) }
func (s *Server) reopenIssue(c echo.Context) error  { return s.consoleIssue(c, false) }

func (s *Server) consoleIssue(c echo.Context, resolved bool) error {
	g, err := s.setIssueResolved(c, resolved)
	if err != nil {
		return err
	}
	if resolved {
		s.flash(c, fmt.Sprintf("Issue %s in %s resolved; it reopens if it happens again.", g.ErrorType, g.Function))
	} else {
		s.flash(c, fmt.Sprintf("Issue %s in %s reopened.", g.ErrorType, g.Function))
	}
	return c.Redirect(http.StatusSeeOther, appURL(g.App)+"/issues")
}

// stageTraffic is a stage card's request and error rate, or nil without
// metrics. A failed read leaves the card without it: the board matters
// more than its numbers.
func (s *Server) stageTraffic(ctx context.Context, app, stage string) *views.StageTraffic {
	if s.cfg.Metrics == nil {
		return nil
	}
	r, err := s.cfg.Metrics.StageRates(ctx, app, stage, trafficWindow)
	if err != nil {
		s.log.Warn("read a stage's request rate", "app", app, "stage", stage, "err", err)
		return nil
	}
	return &views.StageTraffic{PerMinute: r.PerMinute, ErrorRate: r.ErrorRate, Requests: r.Requests, Window: "15 minutes",
		URL: stageURLPath(app, stage) + "/metrics"}
}

func storeIssueQuery(app string, c echo.Context) store.ErrorGroupQuery {
	return store.ErrorGroupQuery{App: app, Stage: c.QueryParam("stage"), Function: c.QueryParam("function"),
		Resolved: c.QueryParam("resolved") == "1" || c.QueryParam("resolved") == "true", Limit: 200}
}

func issueJSON(g store.ErrorGroup) apiv1.Issue {
	return apiv1.Issue{ID: g.ID, Stage: g.Stage, Function: g.Function, Kind: g.Kind, ErrorType: g.ErrorType, Message: g.Message,
		Sample: g.Sample, Count: g.Count, FirstSeen: g.FirstSeen, LastSeen: g.LastSeen, ResolvedAt: g.ResolvedAt, ResolvedBy: g.ResolvedBy,
		Reopened: g.Reopened}
}

func sortedKeys(series map[string][]metrics.Point) []string { return metrics.Functions(series) }
