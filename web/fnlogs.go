package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/fnlog"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web/apiv1"
	"github.com/seedbed/seedbed/web/views"
)

// FunctionLogs is what the function log pages, API and streams read:
// the lines function instances wrote (fnlog.Store).
type FunctionLogs interface {
	Query(ctx context.Context, q fnlog.Query) (fnlog.Result, error)
	Follow(ctx context.Context, q fnlog.Query, from string, emit func([]fnlog.Line) error) error
}

// errNoFunctionLogs answers when this process keeps no function logs.
var errNoFunctionLogs = errorf(http.StatusServiceUnavailable, "unavailable",
	"This Seedbed process keeps no function logs: they are kept by the seedbed serve that runs the functions. Ask that one.")

// logStage reads the app and stage of a function log route; the stage
// must exist.
func (s *Server) logStage(c echo.Context) (store.App, store.Stage, error) {
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

// logQuery reads a function log query from the request's parameters:
// function, since, until, grep and limit.
func (s *Server) logQuery(c echo.Context, app store.App, st store.Stage) (fnlog.Query, error) {
	q := fnlog.Query{App: app.Name, Stage: st.Name, Function: c.QueryParam("function"), Grep: c.QueryParam("grep")}
	now := s.cfg.Now()
	var err error
	if q.Since, err = parseLogTime("since", c.QueryParam("since"), now); err != nil {
		return q, err
	}
	if q.Until, err = parseLogTime("until", c.QueryParam("until"), now); err != nil {
		return q, err
	}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > fnlog.MaxLimit {
			return q, errorf(http.StatusUnprocessableEntity, "invalid", fmt.Sprintf("limit must be a whole number from 1 to %d, not %q.", fnlog.MaxLimit, v))
		}
		q.Limit = n
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && q.Until.Before(q.Since) {
		return q, errorf(http.StatusUnprocessableEntity, "invalid", "until is before since: give a range that runs forward in time.")
	}
	return q, nil
}

// parseLogTime reads "15m", "2h", "7d" (that long before now) or an RFC
// 3339 time; "" is no bound.
func parseLogTime(name, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if days, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.Time{}, errorf(http.StatusUnprocessableEntity, "invalid",
		fmt.Sprintf("%s must be a duration back from now (15m, 2h, 7d) or a time such as 2026-12-06T10:00:00Z, not %q.", name, v))
}

// queryError maps what fnlog refuses to a 422 with its message.
func queryError(err error) error {
	if errors.Is(err, fnlog.ErrBadQuery) {
		return errorf(http.StatusUnprocessableEntity, "invalid", strings.TrimPrefix(err.Error(), fnlog.ErrBadQuery.Error()+": "))
	}
	return err
}

func apiLogLine(l fnlog.Line) apiv1.FunctionLogLine {
	return apiv1.FunctionLogLine{Time: l.Time, Function: l.Function, Instance: l.Instance, Release: l.Release,
		Stream: l.Stream, Level: l.Level, Text: l.Text, Cursor: l.Cursor}
}

// apiFunctionLogs answers the newest lines of a stage's function log.
func (s *Server) apiFunctionLogs(c echo.Context) error {
	if s.cfg.FunctionLogs == nil {
		return errNoFunctionLogs
	}
	app, st, err := s.logStage(c)
	if err != nil {
		return err
	}
	q, err := s.logQuery(c, app, st)
	if err != nil {
		return err
	}
	res, err := s.cfg.FunctionLogs.Query(c.Request().Context(), q)
	if err != nil {
		return queryError(err)
	}
	out := apiv1.FunctionLogPage{Lines: make([]apiv1.FunctionLogLine, 0, len(res.Lines)), Cursor: res.Cursor, More: res.More}
	for _, l := range res.Lines {
		out.Lines = append(out.Lines, apiLogLine(l))
	}
	return c.JSON(http.StatusOK, out)
}

// functionLogEvents streams a stage's function log as server-sent events:
// a "line" event per line matching ?function= and ?grep= written after
// the cursor (Last-Event-ID after a reconnect, else ?cursor=, else the
// end of the log now). Each event's id is the line's cursor. It serves
// the console (with html rendered like the page's lines) and the API.
func (s *Server) functionLogEvents(c echo.Context) error {
	if s.cfg.FunctionLogs == nil {
		return errNoFunctionLogs
	}
	app, st, err := s.logStage(c)
	if err != nil {
		return err
	}
	q := fnlog.Query{App: app.Name, Stage: st.Name, Function: c.QueryParam("function"), Grep: c.QueryParam("grep")}
	ctx, cancel := context.WithCancel(c.Request().Context())
	defer cancel()
	from := c.Request().Header.Get("Last-Event-ID")
	if from == "" {
		from = c.QueryParam("cursor")
	}
	if err := fnlog.CheckCursor(from); err != nil {
		return queryError(err)
	}
	if from == "" {
		res, err := s.cfg.FunctionLogs.Query(ctx, fnlog.Query{App: app.Name, Stage: st.Name, Limit: 1})
		if err != nil {
			return queryError(err)
		}
		from = res.Cursor
	}
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set(echo.HeaderCacheControl, "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	w.Flush()

	access := s.streamAccess(c)
	var mu sync.Mutex // the follower writes lines, this goroutine heartbeats
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.cfg.FunctionLogs.Follow(ctx, q, from, func(lines []fnlog.Line) error {
			mu.Lock()
			defer mu.Unlock()
			for _, l := range lines {
				data, _ := json.Marshal(struct {
					apiv1.FunctionLogLine
					ID   string `json:"id"`
					HTML string `json:"html"`
				}{apiLogLine(l), l.Cursor, views.FunctionLogLineHTML(l)})
				if _, err := fmt.Fprintf(w, "id: %s\nevent: line\ndata: %s\n\n", l.Cursor, data); err != nil {
					return err
				}
			}
			w.Flush()
			return nil
		})
		cancel()
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	heartbeat := time.Now()
	for {
		select {
		case <-done:
			return nil
		case <-s.ending:
			cancel()
			<-done
			return nil
		case <-tick.C:
		}
		if !access.allowed(ctx) {
			cancel() // signed out, revoked or no longer a member
			<-done
			return nil
		}
		if time.Since(heartbeat) > streamHeartbeat {
			mu.Lock()
			fmt.Fprint(w, ": keep-alive\n\n")
			w.Flush()
			mu.Unlock()
			heartbeat = time.Now()
		}
	}
}

// sinceChoices are the time ranges the console offers.
var sinceChoices = []views.Choice{
	{Value: "15m", Label: "last 15 minutes"}, {Value: "1h", Label: "last hour"}, {Value: "6h", Label: "last 6 hours"},
	{Value: "24h", Label: "last 24 hours"}, {Value: "7d", Label: "last 7 days"}, {Value: "", Label: "all kept"},
}

// functionLogsPage shows a stage's function log (or one function's, with
// ?function=), filtered by the form, following new lines live.
func (s *Server) functionLogsPage(c echo.Context) error {
	app, st, err := s.logStage(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	base := stageURLPath(app.Name, st.Name) + "/logs"
	m := views.FunctionLogsModel{Page: s.page(c, "Logs of "+st.Name+" · "+app.Name), App: app.Name, AppURL: appURL(app.Name), Stage: st.Name,
		Function: c.QueryParam("function"), Since: c.QueryParam("since"), Grep: c.QueryParam("grep"), FormURL: base, SinceChoices: sinceChoices}
	m.Page.Nav = "apps"
	if _, ok := c.QueryParams()["since"]; !ok {
		m.Since = "1h" // a first visit shows the last hour
	}
	ss, err := s.stageWithLive(ctx, app, st)
	if err != nil {
		return err
	}
	if ss.Manifest != nil {
		for _, f := range ss.Manifest.Functions {
			m.Functions = append(m.Functions, f.Key())
		}
	}
	if s.cfg.FunctionLogs == nil {
		m.Error = errNoFunctionLogs.Error()
		return render(c, http.StatusOK, views.FunctionLogsPage(m))
	}
	q, err := s.logQuery(c, app, st)
	if err == nil && m.Since != "" && q.Since.IsZero() {
		q.Since, err = parseLogTime("since", m.Since, s.cfg.Now())
	}
	status := http.StatusOK
	var res fnlog.Result
	if err == nil {
		res, err = s.cfg.FunctionLogs.Query(ctx, q)
		err = queryError(err)
	}
	if err != nil {
		code, _, msg := statusOf(err)
		if code >= 500 {
			return err
		}
		m.Error, status = msg, code
		return render(c, status, views.FunctionLogsPage(m))
	}
	m.Lines, m.More = res.Lines, res.More
	v := url.Values{}
	for k, val := range map[string]string{"function": m.Function, "grep": m.Grep, "cursor": res.Cursor} {
		if val != "" {
			v.Set(k, val)
		}
	}
	if q.Until.IsZero() {
		m.StreamURL = base + "/events?" + v.Encode()
	}
	return render(c, status, views.FunctionLogsPage(m))
}
