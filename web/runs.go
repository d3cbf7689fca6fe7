package web

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web/apiv1"
	"github.com/seedbed/seedbed/web/views"
)

// RunsStore lists builds by filter and the activity feed; *store.Store has
// it, and a Reader without it answers 501 on those pages.
type RunsStore interface {
	FilterBuilds(ctx context.Context, appID uint, f store.BuildFilter) ([]store.Build, error)
	BuildRefs(ctx context.Context, appID uint, limit int) ([]string, error)
	Activity(ctx context.Context, f store.ActivityFilter) ([]store.Activity, error)
}

// Page sizes: the builds list and the activity feed show this many by
// default and never more than maxPage.
const (
	defaultPage = 50
	maxPage     = 200
	// rawLogBatch is how many log lines a download reads at a time, so a
	// 100,000-line log never sits in memory whole.
	rawLogBatch = 1000
)

// buildStatuses are the statuses the builds filter offers.
var buildStatuses = []string{store.BuildQueued, store.BuildRunning, store.BuildSucceeded, store.BuildFailed, store.BuildCancelled}

// buildTriggers are the triggers the builds filter offers.
var buildTriggers = []string{"console", "cli", "api", "push", "webhook", "poll", "preview"}

func (s *Server) runs() (RunsStore, error) {
	r, ok := s.cfg.Store.(RunsStore)
	if !ok {
		return nil, errorf(http.StatusNotImplemented, "internal", "This server's store cannot list builds by filter.")
	}
	return r, nil
}

// buildFilterOf reads ?ref=&status=&trigger=&before=&limit=.
func buildFilterOf(c echo.Context) (store.BuildFilter, error) {
	f := store.BuildFilter{Ref: c.QueryParam("ref"), Status: c.QueryParam("status"), Trigger: c.QueryParam("trigger"), Limit: defaultPage}
	if f.Status != "" && !contains(buildStatuses, f.Status) {
		return f, errorf(http.StatusUnprocessableEntity, "invalid", fmt.Sprintf("No build status %q; use one of queued, running, succeeded, failed, cancelled.", f.Status))
	}
	if v := c.QueryParam("before"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			return f, errorf(http.StatusUnprocessableEntity, "invalid", fmt.Sprintf("before=%q is not a build id; pass the id of the last build of the page you have.", v))
		}
		f.Before = uint(n)
	}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPage {
			return f, errorf(http.StatusUnprocessableEntity, "invalid", fmt.Sprintf("limit=%q: use a number from 1 to %d.", v, maxPage))
		}
		f.Limit = n
	}
	return f, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// filteredBuilds reads one page of an app's builds and tells whether an
// older page exists.
func (s *Server) filteredBuilds(c echo.Context, app store.App) ([]store.Build, store.BuildFilter, bool, error) {
	f, err := buildFilterOf(c)
	if err != nil {
		return nil, f, false, err
	}
	r, err := s.runs()
	if err != nil {
		return nil, f, false, err
	}
	want := f.Limit
	f.Limit = want + 1
	bs, err := r.FilterBuilds(c.Request().Context(), app.ID, f)
	f.Limit = want
	if err != nil {
		return nil, f, false, err
	}
	more := len(bs) > want
	if more {
		bs = bs[:want]
	}
	return bs, f, more, nil
}

func (s *Server) apiBuilds(c echo.Context) error {
	app, err := s.appParam(c)
	if err != nil {
		return err
	}
	bs, _, more, err := s.filteredBuilds(c, app)
	if err != nil {
		return err
	}
	out := []apiv1.Build{}
	for _, b := range bs {
		out = append(out, apiBuild(b, app.Name))
	}
	if more && len(bs) > 0 {
		// The next page: the same query with before= the last id.
		q := c.QueryParams()
		q.Set("before", strconv.FormatUint(uint64(bs[len(bs)-1].ID), 10))
		c.Response().Header().Set("Link", fmt.Sprintf("<%s?%s>; rel=\"next\"", c.Request().URL.Path, q.Encode()))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) buildsPage(c echo.Context) error {
	app, err := s.appParam(c)
	if err != nil {
		return err
	}
	bs, f, more, err := s.filteredBuilds(c, app)
	if err != nil {
		return err
	}
	r, _ := s.runs()
	refs, err := r.BuildRefs(c.Request().Context(), app.ID, 100)
	if err != nil {
		return err
	}
	base := "/apps/" + url.PathEscape(app.Name) + "/builds"
	m := views.BuildsModel{Page: s.page(c, "Builds · "+app.Name), App: app.Name, AppURL: "/apps/" + url.PathEscape(app.Name),
		Ref: f.Ref, Status: f.Status, Trigger: f.Trigger, Refs: refs, Statuses: buildStatuses, Triggers: buildTriggers, FormURL: base}
	m.Page.Nav = "apps"
	if f.Ref != "" && !contains(refs, f.Ref) {
		m.Refs = append(m.Refs, f.Ref)
	}
	if f.Trigger != "" && !contains(buildTriggers, f.Trigger) {
		m.Triggers = append(append([]string{}, buildTriggers...), f.Trigger)
	}
	for _, b := range bs {
		m.Builds = append(m.Builds, buildRow(b))
	}
	q := url.Values{}
	for k, v := range map[string]string{"ref": f.Ref, "status": f.Status, "trigger": f.Trigger} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Before != 0 {
		m.FirstURL = base
		if len(q) > 0 {
			m.FirstURL += "?" + q.Encode()
		}
	}
	if more && len(bs) > 0 {
		q.Set("before", strconv.FormatUint(uint64(bs[len(bs)-1].ID), 10))
		m.NextURL = base + "?" + q.Encode()
	}
	return render(c, http.StatusOK, views.BuildsPage(m))
}

// buildLogRaw downloads a build's whole log as text.
func (s *Server) buildLogRaw(c echo.Context) error {
	b, _, err := s.buildParam(c)
	if err != nil {
		return err
	}
	return s.rawLog(c, store.LogBuild, b.ID, fmt.Sprintf("build-%d.log", b.ID))
}

// deployLogRaw downloads a deploy's whole log as text.
func (s *Server) deployLogRaw(c echo.Context) error {
	d, _, _, err := s.deployParam(c)
	if err != nil {
		return err
	}
	return s.rawLog(c, store.LogDeploy, d.ID, fmt.Sprintf("deploy-%d.log", d.ID))
}

// rawLog streams a log as plain text, one stored line per line, exactly as
// written (colour codes included), reading it from the database in batches
// and flushing each, so memory stays flat however long the log is.
func (s *Server) rawLog(c echo.Context, kind string, ownerID uint, filename string) error {
	ctx := c.Request().Context()
	// Read the first batch before answering, so a database error is still
	// an error page rather than a cut-off file.
	lines, err := s.cfg.Store.LogLines(ctx, kind, ownerID, 0, rawLogBatch)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/plain; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, fmt.Sprintf("attachment; filename=%q", filename))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set(echo.HeaderCacheControl, "no-store")
	c.Response().WriteHeader(http.StatusOK)
	w := bufio.NewWriterSize(c.Response(), 64<<10)
	for {
		var after uint
		for _, l := range lines {
			w.WriteString(l.Text)
			if err := w.WriteByte('\n'); err != nil {
				return nil // the client went away
			}
			after = l.ID
		}
		if err := w.Flush(); err != nil {
			return nil
		}
		c.Response().Flush()
		if len(lines) < rawLogBatch {
			return nil
		}
		if lines, err = s.cfg.Store.LogLines(ctx, kind, ownerID, after, rawLogBatch); err != nil {
			s.log.Error("read log for download", "kind", kind, "id", ownerID, "err", err)
			return nil // headers are sent; the file ends short
		}
	}
}

// activityPage is the console's feed.
func (s *Server) activityPage(c echo.Context) error {
	entries, next, err := s.activity(c)
	if err != nil {
		return err
	}
	m := views.ActivityModel{Page: s.page(c, "Activity")}
	m.Page.Nav = "activity"
	for _, e := range entries {
		row := views.ActivityRow{Kind: e.Kind, ID: e.ID, App: e.App, AppURL: "/apps/" + url.PathEscape(e.App), Stage: e.Stage,
			Ref: e.Ref, Status: e.Status, Trigger: e.TriggerKind, Who: e.TriggeredBy, DecidedBy: e.DecidedBy, Email: e.Email, CreatedAt: e.CreatedAt}
		row.URL = activityURL(e)
		if e.BuildID != nil {
			row.BuildID = *e.BuildID
		}
		m.Entries = append(m.Entries, row)
	}
	if next != "" {
		m.NextURL = "/activity?before=" + url.QueryEscape(next)
	}
	return render(c, http.StatusOK, views.ActivityPage(m))
}

func (s *Server) apiActivity(c echo.Context) error {
	entries, next, err := s.activity(c)
	if err != nil {
		return err
	}
	out := []apiv1.ActivityEntry{}
	for _, e := range entries {
		a := apiv1.ActivityEntry{Kind: e.Kind, ID: e.ID, App: e.App, Stage: e.Stage, Ref: e.Ref, Commit: e.CommitSHA,
			Status: e.Status, Trigger: e.TriggerKind, TriggeredBy: e.TriggeredBy, DecidedBy: e.DecidedBy, DecidedAt: e.DecidedAt,
			Email: e.Email, URL: activityURL(e), CreatedAt: e.CreatedAt}
		if e.BuildID != nil {
			a.BuildID = *e.BuildID
		}
		out = append(out, a)
	}
	if next != "" {
		c.Response().Header().Set("Link", fmt.Sprintf("</api/v1/activity?before=%s>; rel=\"next\"", url.QueryEscape(next)))
	}
	return c.JSON(http.StatusOK, out)
}

// activityURL is the console page of a feed entry.
func activityURL(e store.Activity) string {
	switch e.Kind {
	case store.ActivityBuild:
		return buildURL(e.ID)
	case store.ActivityInvite:
		return "/account#invites"
	}
	return deployURL(e.ID)
}

// activity reads one page of the feed for the signed-in user: only the apps
// they hold a role on (every app and the revoked invites for an admin).
// next is the before= of the following page, "" on the last.
func (s *Server) activity(c echo.Context) ([]store.Activity, string, error) {
	r, err := s.runs()
	if err != nil {
		return nil, "", err
	}
	ctx := c.Request().Context()
	f := store.ActivityFilter{Limit: defaultPage}
	if v := c.QueryParam("before"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return nil, "", errorf(http.StatusUnprocessableEntity, "invalid", fmt.Sprintf("before=%q is not a time; use RFC 3339, e.g. 2024-05-01T12:00:00Z.", v))
		}
		f.Before = t
	}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPage {
			return nil, "", errorf(http.StatusUnprocessableEntity, "invalid", fmt.Sprintf("limit=%q: use a number from 1 to %d.", v, maxPage))
		}
		f.Limit = n
	}
	u := currentUser(c)
	f.Invites = u.IsAdmin
	if !u.IsAdmin {
		apps, err := s.visibleApps(ctx, u)
		if err != nil {
			return nil, "", err
		}
		f.AppIDs = []uint{}
		for _, a := range apps {
			f.AppIDs = append(f.AppIDs, a.ID)
		}
	}
	want := f.Limit
	f.Limit = want + 1
	entries, err := r.Activity(ctx, f)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(entries) > want {
		entries = entries[:want]
		next = entries[want-1].CreatedAt.UTC().Format(time.RFC3339Nano)
	}
	return entries, next, nil
}
