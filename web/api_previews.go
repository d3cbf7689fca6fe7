package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web/apiv1"
)

// stagesWithPreviews is every stage of an app, pipeline stages first: what
// names a deploy's stage, whichever kind it went to.
func (s *Server) stagesWithPreviews(ctx context.Context, appID uint) ([]store.Stage, error) {
	stages, err := s.cfg.Store.Stages(ctx, appID)
	if err != nil {
		return nil, err
	}
	previews, err := s.cfg.Store.PreviewStages(ctx, appID)
	if err != nil {
		return nil, err
	}
	return append(stages, previews...), nil
}

// loadPreviews reads an app's preview stages with what they serve and
// their newest deploys, as loadStages does for the pipeline.
func (s *Server) loadPreviews(ctx context.Context, app store.App) ([]stageState, error) {
	stages, err := s.cfg.Store.PreviewStages(ctx, app.ID)
	if err != nil {
		return nil, err
	}
	out := make([]stageState, 0, len(stages))
	for _, st := range stages {
		ss, err := s.stageWithLive(ctx, app, st)
		if err != nil {
			return nil, err
		}
		last, err := s.cfg.Store.StageDeploys(ctx, st.ID, 1)
		if err != nil {
			return nil, err
		}
		if len(last) == 1 {
			ss.LastDeploy = &last[0]
		}
		out = append(out, ss)
	}
	return out, nil
}

func (s *Server) apiPreview(st stageState, app string) apiv1.Preview {
	p := apiv1.Preview{Stage: st.Stage.Name, HeadBranch: st.Stage.PRBranch, Title: st.Stage.PRTitle, Status: "open",
		URL: st.URL, ClosedAt: st.Stage.ClosedAt, CreatedAt: st.Stage.CreatedAt}
	if st.Stage.PRNumber != nil {
		p.Number = *st.Stage.PRNumber
	}
	if st.Stage.ClosedAt != nil {
		p.Status = "closed"
	}
	if st.Live != nil {
		rel := apiRelease(*st.Live, *st.Manifest)
		p.LiveRelease = &rel
	}
	if st.LastDeploy != nil {
		d := s.apiDeployOf(*st.LastDeploy, app, st.Stage.Name, "")
		p.LastDeploy = &d
	}
	return p
}

func (s *Server) writePreviews(c echo.Context, app store.App, template string) error {
	previews, err := s.loadPreviews(c.Request().Context(), app)
	if err != nil {
		return err
	}
	out := apiv1.Previews{TemplateStage: template, Previews: []apiv1.Preview{}}
	for _, p := range previews {
		out.Previews = append(out.Previews, s.apiPreview(p, app.Name))
	}
	return c.JSON(http.StatusOK, out)
}

// apiPreviews lists an app's preview stages, open and closed.
func (s *Server) apiPreviews(c echo.Context) error {
	app, err := s.appParam(c)
	if err != nil {
		return err
	}
	p, err := s.cfg.Pipelines.Previews(c.Request().Context(), app.Name)
	if err != nil {
		return err
	}
	return s.writePreviews(c, app, p.Template)
}

// apiSetPreviews turns an app's preview stages on with a template stage,
// or off with an empty one.
func (s *Server) apiSetPreviews(c echo.Context) error {
	var req apiv1.PreviewSettings
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	app, err := s.appParam(c)
	if err != nil {
		return err
	}
	p, err := s.cfg.Pipelines.EnablePreviews(c.Request().Context(), app.Name, req.TemplateStage)
	if err != nil {
		return err
	}
	return s.writePreviews(c, app, p.Template)
}

// apiOpenPreview opens (or re-opens, or updates) a pull request's preview
// stage and deploys the commit to it.
func (s *Server) apiOpenPreview(c echo.Context) error {
	var req apiv1.PreviewRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	app, err := s.appParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	res, err := s.cfg.Pipelines.OpenPreview(ctx, app.Name, pipelines.PreviewRequest{Number: req.Number, HeadBranch: req.HeadBranch,
		Commit: req.Commit, Title: req.Title, Trigger: trigger(c), By: currentUser(c).Email})
	if err != nil {
		return err
	}
	st := stageState{Stage: res.Stage, URL: s.stageURL(app.Name, res.Stage.Name), LastDeploy: &res.Deploy}
	out := apiv1.PreviewResponse{Preview: s.apiPreview(st, app.Name), Created: res.Created,
		Build: apiBuild(res.Build, app.Name), Deploy: s.apiDeployOf(res.Deploy, app.Name, res.Stage.Name, "")}
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
	}
	return c.JSON(status, out)
}

// apiClosePreview stops a pull request's preview stage, keeping its history.
func (s *Server) apiClosePreview(c echo.Context) error {
	app, err := s.appParam(c)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(c.Param("number"))
	if err != nil || n <= 0 {
		return errorf(http.StatusNotFound, "not_found", fmt.Sprintf("%q is not a pull request number.", c.Param("number")))
	}
	ctx := c.Request().Context()
	st, err := s.cfg.Pipelines.ClosePreview(ctx, app.Name, n, removeOptions(c))
	if err != nil {
		return err
	}
	ss := stageState{Stage: st, URL: s.stageURL(app.Name, st.Name)}
	if last, err := s.cfg.Store.StageDeploys(ctx, st.ID, 1); err == nil && len(last) == 1 {
		ss.LastDeploy = &last[0]
	}
	return c.JSON(http.StatusOK, s.apiPreview(ss, app.Name))
}
