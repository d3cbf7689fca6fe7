package web

import (
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/web/apiv1"
)

// maxSummaryWindow is the longest window a metrics summary reads: the
// default retention of per-minute rollups.
const maxSummaryWindow = 14 * 24 * time.Hour

// apiMetricsSummary answers each function of a stage over ?since= (a
// duration such as 15m, 1h or 7d; default 1h) as one row: requests,
// errors and p50/p95/p99 from the window's merged histogram. It is what
// `seedbed metrics` prints; the charts read apiStageMetrics.
func (s *Server) apiMetricsSummary(c echo.Context) error {
	app, st, err := s.stageParam(c)
	if err != nil {
		return err
	}
	since := c.QueryParam("since")
	if since == "" {
		since = "1h"
	}
	now := s.cfg.Now()
	from, err := parseLogTime("since", since, now)
	if err != nil {
		return err
	}
	window := now.Sub(from)
	if window < time.Minute || window > maxSummaryWindow {
		return errorf(http.StatusUnprocessableEntity, "invalid", fmt.Sprintf("since must reach from 1m to 14d back, not %q.", since))
	}
	if s.cfg.Metrics == nil {
		return errorf(http.StatusNotFound, "not_found", "This server collects no metrics: the gateway does not run in this process.")
	}
	sums, err := s.cfg.Metrics.Summaries(c.Request().Context(), app.Name, st.Name, c.QueryParam("function"), window)
	if err != nil {
		return err
	}
	out := apiv1.MetricsSummary{App: app.Name, Stage: st.Name, Since: since, From: from.UTC().Truncate(time.Minute), Functions: []apiv1.FunctionSummary{}}
	for _, m := range sums {
		fs := apiv1.FunctionSummary{Function: m.Function, Requests: m.Requests, Errors: m.Errors, ColdStarts: m.ColdStarts, Restarts: m.Restarts,
			P50MS: ms(m.P50), P95MS: ms(m.P95), P99MS: ms(m.P99)}
		if m.Requests > 0 {
			fs.ErrorRate = float64(m.Errors) / float64(m.Requests)
		}
		out.Functions = append(out.Functions, fs)
	}
	return c.JSON(http.StatusOK, out)
}
