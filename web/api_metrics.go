package web

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web/apiv1"
)

// apiStageMetrics answers a stage's functions over ?range= (1h, 24h,
// 7d), step by step.
func (s *Server) apiStageMetrics(c echo.Context) error {
	app, st, err := s.stageParam(c)
	if err != nil {
		return err
	}
	rng, err := rangeParam(c)
	if err != nil {
		return err
	}
	if s.cfg.Metrics == nil {
		return errorf(http.StatusNotFound, "not_found", "This server collects no metrics: the gateway does not run in this process.")
	}
	series, err := s.cfg.Metrics.Series(c.Request().Context(), app.Name, st.Name, c.QueryParam("function"), rng)
	if err != nil {
		return err
	}
	out := apiv1.StageMetrics{App: app.Name, Stage: st.Name, Range: rng.Name, Step: rng.Step.String(), Functions: []apiv1.FunctionMetrics{}}
	for _, key := range sortedKeys(series) {
		fm := apiv1.FunctionMetrics{Function: key}
		for _, p := range series[key] {
			fm.Requests += p.Requests
			fm.Errors += p.Errors
			fm.Points = append(fm.Points, apiv1.MetricPoint{At: p.At, Requests: p.Requests, Errors: p.Errors, ColdStarts: p.ColdStarts,
				Restarts: p.Restarts, P50MS: ms(p.P50), P95MS: ms(p.P95), P99MS: ms(p.P99), InFlightMax: p.InFlightMax, MemoryBytes: p.MemoryBytes, InstancesMax: p.InstancesMax})
		}
		out.Functions = append(out.Functions, fm)
	}
	return c.JSON(http.StatusOK, out)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (s *Server) apiRequestLog(c echo.Context) error {
	app, st, err := s.stageParam(c)
	if err != nil {
		return err
	}
	q, err := requestLogQuery(c, app.Name, st.Name)
	if err != nil {
		return errorf(http.StatusUnprocessableEntity, "invalid", err.Error()+".")
	}
	if s.cfg.Observations == nil {
		return errorf(http.StatusNotFound, "not_found", "This server keeps no request log.")
	}
	logs, err := s.cfg.Observations.RequestLogs(c.Request().Context(), q)
	if err != nil {
		return err
	}
	out := make([]apiv1.RequestLogEntry, 0, len(logs))
	for _, l := range logs {
		out = append(out, apiv1.RequestLogEntry{ID: l.ID, At: l.At, Function: l.Function, Instance: l.Instance, Method: l.Method, Path: l.Path,
			Status: l.Status, DurationMS: float64(l.DurationUS) / 1000, Bytes: l.Bytes, Client: l.Client})
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) apiIssues(c echo.Context) error {
	app, err := s.appParam(c)
	if err != nil {
		return err
	}
	out := []apiv1.Issue{}
	if s.cfg.Observations != nil {
		groups, err := s.cfg.Observations.ErrorGroups(c.Request().Context(), storeIssueQuery(app.Name, c))
		if err != nil {
			return err
		}
		for _, g := range groups {
			out = append(out, issueJSON(g))
		}
	}
	// A stage with no groups that does not exist is most likely a typo:
	// say so. (A deleted stage's groups are still listed until they age
	// out.)
	if stage := c.QueryParam("stage"); stage != "" && len(out) == 0 {
		if _, err := s.cfg.Store.StageByName(c.Request().Context(), app.ID, stage); errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusNotFound, "not_found", fmt.Sprintf("App %s has no stage %q.", app.Name, stage))
		} else if err != nil {
			return err
		}
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) apiResolveIssue(c echo.Context) error { return s.apiSetIssue(c, true) }
func (s *Server) apiReopenIssue(c echo.Context) error  { return s.apiSetIssue(c, false) }

func (s *Server) apiSetIssue(c echo.Context, resolved bool) error {
	g, err := s.setIssueResolved(c, resolved)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, issueJSON(g))
}
