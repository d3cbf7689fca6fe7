package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
)

// stageState is a stage with what it serves and its newest deploy: what both
// the app page and the API show.
type stageState struct {
	Stage      store.Stage
	URL        string
	Live       *store.Release
	Manifest   *pipelines.Manifest
	LastDeploy *store.Deploy
}

func (s *Server) stageURL(app, stage string) string {
	return s.cfg.GatewayURL + "/" + app + "/" + stage + "/"
}

// loadStages reads an app's stages in pipeline order with their live
// releases and newest deploys.
func (s *Server) loadStages(ctx context.Context, app store.App, recent []store.Deploy) ([]stageState, error) {
	stages, err := s.cfg.Store.Stages(ctx, app.ID)
	if err != nil {
		return nil, err
	}
	var out []stageState
	for _, st := range stages {
		ss, err := s.stageWithLive(ctx, app, st)
		if err != nil {
			return nil, err
		}
		for i := range recent {
			if recent[i].StageID == st.ID {
				ss.LastDeploy = &recent[i]
				break
			}
		}
		out = append(out, ss)
	}
	return out, nil
}

// stageWithLive reads what a stage serves: its live release and manifest.
func (s *Server) stageWithLive(ctx context.Context, app store.App, st store.Stage) (stageState, error) {
	ss := stageState{Stage: st, URL: s.stageURL(app.Name, st.Name)}
	if st.LiveReleaseID == nil {
		return ss, nil
	}
	rel, err := s.cfg.Store.ReleaseByID(ctx, *st.LiveReleaseID)
	if err != nil {
		return ss, fmt.Errorf("stage %s: %w", st.Name, err)
	}
	var m pipelines.Manifest
	if err := json.Unmarshal([]byte(rel.Manifest), &m); err != nil {
		return ss, fmt.Errorf("stage %s: decode release %d: %w", st.Name, rel.ID, err)
	}
	ss.Live, ss.Manifest = &rel, &m
	return ss, nil
}

func (s *Server) appParam(c echo.Context) (store.App, error) {
	if app, ok := c.Get(ctxApp).(store.App); ok { // authorize read it for this route
		return app, nil
	}
	app, err := s.cfg.Store.AppByName(c.Request().Context(), c.Param("app"))
	if err != nil {
		return app, errorf(http.StatusNotFound, "not_found", fmt.Sprintf("No app named %q.", c.Param("app")))
	}
	return app, nil
}

func idParam(c echo.Context) (uint, error) {
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil || id == 0 {
		return 0, errorf(http.StatusNotFound, "not_found", fmt.Sprintf("%q is not an id.", c.Param("id")))
	}
	return uint(id), nil
}

func (s *Server) buildParam(c echo.Context) (store.Build, store.App, error) {
	id, err := idParam(c)
	if err != nil {
		return store.Build{}, store.App{}, err
	}
	b, err := s.cfg.Store.BuildByID(c.Request().Context(), id)
	if err != nil {
		return b, store.App{}, errorf(http.StatusNotFound, "not_found", fmt.Sprintf("No build #%d.", id))
	}
	if app, ok := c.Get(ctxApp).(store.App); ok && app.ID == b.AppID { // authorize read it for this route
		return b, app, nil
	}
	app, err := s.cfg.Store.AppByID(c.Request().Context(), b.AppID)
	return b, app, err
}

func (s *Server) deployParam(c echo.Context) (store.Deploy, store.App, store.Stage, error) {
	id, err := idParam(c)
	if err != nil {
		return store.Deploy{}, store.App{}, store.Stage{}, err
	}
	ctx := c.Request().Context()
	d, err := s.cfg.Store.DeployByID(ctx, id)
	if err != nil {
		return d, store.App{}, store.Stage{}, errorf(http.StatusNotFound, "not_found", fmt.Sprintf("No deploy #%d.", id))
	}
	app, err := s.cfg.Store.AppByID(ctx, d.AppID)
	if err != nil {
		return d, app, store.Stage{}, err
	}
	st, err := s.cfg.Store.StageByID(ctx, d.StageID)
	return d, app, st, err
}

func decodeChangeSet(d store.Deploy) *pipelines.ChangeSet {
	if d.ChangeSet == "" {
		return nil
	}
	var cs pipelines.ChangeSet
	if json.Unmarshal([]byte(d.ChangeSet), &cs) != nil {
		return nil
	}
	return &cs
}
