package web

import (
	"context"
	"fmt"
	"hash/fnv"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/store"
)

// How often a live page's stream looks for changes. Each look is a query
// or two, far cheaper than rendering the page again.
const watchPoll = time.Second

// Live pages. The apps overview, an app's pipeline board and a finished
// build's page show statuses that change while they are open. Each page
// carries a version of what it shows and the URL of a stream (see
// views.liveWatch); the stream sends "changed" whenever the version it
// reads differs from the page's, and the browser then fetches the page
// again and swaps in its live regions. A version is a hash of the ids and
// statuses the page shows, computed by the same function from the same
// queries for the page and for the stream.

// versionFunc reads the current version of what a live page shows.
type versionFunc func(ctx context.Context) (string, error)

// watch streams server-sent "changed" events (the new version as id and
// data) each time version moves away from the one the page was rendered
// with: ?v=, or after a reconnect the last event's id. Without either the
// first version read is taken as the page's.
func (s *Server) watch(c echo.Context, version versionFunc) error {
	seen := c.Request().Header.Get("Last-Event-ID")
	if seen == "" {
		seen = c.QueryParam("v")
	}
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set(echo.HeaderCacheControl, "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	w.Flush()

	ctx := c.Request().Context()
	access := s.streamAccess(c)
	heartbeat := time.Now()
	for {
		v, err := version(ctx)
		if err != nil {
			return nil // the browser reconnects by itself
		}
		switch {
		case seen == "":
			seen = v
		case v != seen:
			seen = v
			if _, err := fmt.Fprintf(w, "id: %s\nevent: changed\ndata: %s\n\n", v, v); err != nil {
				return nil
			}
			heartbeat = time.Now()
		case time.Since(heartbeat) > streamHeartbeat:
			fmt.Fprint(w, ": keep-alive\n\n")
			heartbeat = time.Now()
		}
		w.Flush()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(watchPoll):
		}
		if !access.allowed(ctx) {
			return nil // signed out, revoked or no longer a member
		}
	}
}

// appsEvents follows the stage statuses of the apps overview.
func (s *Server) appsEvents(c echo.Context) error {
	u := currentUser(c)
	return s.watch(c, func(ctx context.Context) (string, error) {
		apps, statuses, err := s.overview(ctx, u)
		if err != nil {
			return "", err
		}
		return overviewVersion(apps, statuses), nil
	})
}

// appEvents follows an app's pipeline board: its newest builds and deploys.
func (s *Server) appEvents(c echo.Context) error {
	app, err := s.appParam(c)
	if err != nil {
		return err
	}
	return s.watch(c, func(ctx context.Context) (string, error) {
		deploys, err := s.cfg.Store.Deploys(ctx, app.ID, boardRuns)
		if err != nil {
			return "", err
		}
		builds, err := s.cfg.Store.Builds(ctx, app.ID, boardRuns)
		if err != nil {
			return "", err
		}
		return s.withFiring(ctx, app, boardVersion(deploys, builds))
	})
}

// buildDeploysEvents follows a build and the deploys waiting for it.
func (s *Server) buildDeploysEvents(c echo.Context) error {
	b, _, err := s.buildParam(c)
	if err != nil {
		return err
	}
	return s.watch(c, func(ctx context.Context) (string, error) {
		b, err := s.cfg.Store.BuildByID(ctx, b.ID)
		if err != nil {
			return "", err
		}
		deploys, err := s.cfg.Store.DeploysOfBuild(ctx, b.ID)
		if err != nil {
			return "", err
		}
		return buildVersion(b, deploys), nil
	})
}

// boardRuns is how many of an app's newest builds and deploys its page
// shows, and so what its version covers.
const boardRuns = 20

// versionHash folds the parts of a version into a short string.
type versionHash struct{ b []byte }

func (v *versionHash) add(kind string, id uint, status string) {
	v.b = append(v.b, kind...)
	v.b = strconv.AppendUint(v.b, uint64(id), 10)
	v.b = append(v.b, ':')
	v.b = append(v.b, status...)
	v.b = append(v.b, ';')
}

func (v *versionHash) String() string {
	h := fnv.New64a()
	h.Write(v.b)
	return strconv.FormatUint(h.Sum64(), 36)
}

// overviewVersion is the version of the apps overview: every visible
// app's stages with their newest deploy's status and the release they serve.
func overviewVersion(apps []store.AppSummary, statuses []store.StageStatus) string {
	visible := map[uint]bool{}
	// Sized for names of about ten bytes: growing it costs more than the rest.
	v := versionHash{b: make([]byte, 0, 24*len(apps)+48*len(statuses))}
	for _, a := range apps {
		visible[a.ID] = true
		v.add("a", a.ID, a.Name)
	}
	for _, st := range statuses {
		if visible[st.AppID] {
			v.add("s"+st.Name+"@", st.AppID, st.Status)
			v.add("l", st.LiveReleaseID, "")
		}
	}
	return v.String()
}

// boardVersion is the version of an app's page: its newest deploys and
// builds (boardRuns of each) with their statuses. The stage cards show the
// newest deploy of each stage, which is among them.
func boardVersion(deploys []store.Deploy, builds []store.Build) string {
	var v versionHash
	for _, d := range deploys {
		v.add("d", d.ID, d.Status)
	}
	for _, b := range builds {
		v.add("b", b.ID, b.Status)
	}
	return v.String()
}

// buildVersion is the version of a build's page: the build's status and
// its deploys'.
func buildVersion(b store.Build, deploys []store.Deploy) string {
	var v versionHash
	v.add("b", b.ID, b.Status)
	for _, d := range deploys {
		v.add("d", d.ID, d.Status)
	}
	return v.String()
}
