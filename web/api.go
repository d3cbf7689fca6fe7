package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/netguard"
	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web/apiv1"
	"github.com/seedbed/seedbed/web/auth"
)

func bindJSON(c echo.Context, v any) error {
	if err := c.Bind(v); err != nil {
		return errorf(http.StatusBadRequest, "invalid", "The request body is not the JSON this call takes; see docs/api.md.")
	}
	return nil
}

func (s *Server) apiLogin(c echo.Context) error {
	var req apiv1.LoginRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	u, err := s.authenticate(c, req.Email, req.Password)
	if errors.Is(err, auth.ErrBadCredentials) {
		return errorf(http.StatusUnauthorized, "unauthorized", "Wrong email or password.")
	}
	if err != nil {
		return err
	}
	tok, _, err := s.cfg.Accounts.NewToken(c.Request().Context(), u, req.TokenName)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, apiv1.LoginResponse{Token: tok, Email: u.Email})
}

func (s *Server) apiMe(c echo.Context) error {
	u := currentUser(c)
	return c.JSON(http.StatusOK, apiv1.User{ID: u.ID, Email: u.Email, IsAdmin: u.IsAdmin, IsCreator: u.IsCreator})
}

func (s *Server) apiApps(c echo.Context) error {
	apps, err := s.visibleApps(c.Request().Context(), currentUser(c))
	if err != nil {
		return err
	}
	out := []apiv1.App{}
	for _, a := range apps {
		out = append(out, apiApp(a))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) apiCreateApp(c echo.Context) error {
	var req apiv1.CreateAppRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if err := s.checkRepoURL(c, req.RepoURL); err != nil {
		return err
	}
	app, err := s.cfg.Pipelines.CreateApp(c.Request().Context(), pipelines.NewApp{Name: req.Name, RepoURL: req.RepoURL, Branch: req.Branch, DeployKey: req.DeployKey,
		NoCheck: req.Check != nil && !*req.Check})
	if err != nil {
		return err
	}
	if err := s.addOwner(c.Request().Context(), currentUser(c), app); err != nil {
		return err
	}
	return s.writeApp(c, http.StatusCreated, app)
}

// checkRepoURL refuses a repository URL the signed-in user may not give
// an app (see netguard.RepoRules): 403 for a local path from a user who is
// no admin, 422 for one no one may use. Every place that sets an app's
// repository URL calls it; today that is creating the app, the URL is not
// changed afterwards.
func (s *Server) checkRepoURL(c echo.Context, raw string) error {
	err := s.cfg.RepoRules.Check(c.Request().Context(), raw, currentUser(c).IsAdmin)
	var refused *netguard.RepoRefusedError
	switch {
	case errors.As(err, &refused) && refused.AdminsOnly:
		return errorf(http.StatusForbidden, "forbidden", "repo_url: "+refused.Msg)
	case errors.As(err, &refused):
		return errorf(http.StatusUnprocessableEntity, "invalid", "repo_url: "+refused.Msg)
	}
	return err
}

func (s *Server) apiApp(c echo.Context) error {
	app, err := s.appParam(c)
	if err != nil {
		return err
	}
	return s.writeApp(c, http.StatusOK, app)
}

func (s *Server) writeApp(c echo.Context, status int, app store.App) error {
	stages, err := s.stagesOf(c.Request().Context(), app)
	if err != nil {
		return err
	}
	out := apiApp(app)
	out.Stages = stages
	return c.JSON(status, out)
}

// stagesOf is an app's pipeline as the API shows it.
func (s *Server) stagesOf(ctx context.Context, app store.App) ([]apiv1.Stage, error) {
	recent, err := s.cfg.Store.Deploys(ctx, app.ID, 50)
	if err != nil {
		return nil, err
	}
	stages, err := s.loadStages(ctx, app, recent)
	if err != nil {
		return nil, err
	}
	out := []apiv1.Stage{}
	for _, st := range stages {
		out = append(out, s.apiStage(st, app.Name))
	}
	return out, nil
}

func (s *Server) apiStage(st stageState, app string) apiv1.Stage {
	as := apiv1.Stage{Name: st.Stage.Name, Branch: st.Stage.Branch, URL: st.URL, Approval: st.Stage.Approval, Protected: st.Stage.Protected}
	if st.Live != nil {
		rel := apiRelease(*st.Live, *st.Manifest)
		as.LiveRelease = &rel
	}
	if st.LastDeploy != nil {
		d := s.apiDeployOf(*st.LastDeploy, app, st.Stage.Name, "")
		as.LastDeploy = &d
	}
	return as
}

func apiApp(a store.App) apiv1.App {
	return apiv1.App{Name: a.Name, RepoURL: a.RepoURL, Branch: a.Branch, CreatedAt: a.CreatedAt}
}

func (s *Server) apiDeploy(c echo.Context) error {
	var req apiv1.DeployRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	app, err := s.appParam(c)
	if err != nil {
		return err
	}
	b, d, err := s.cfg.Pipelines.RequestDeploy(c.Request().Context(), pipelines.DeployRequest{
		App: app.Name, Stage: req.Stage, Ref: req.Ref, Full: req.Full, Trigger: trigger(c), By: currentUser(c).Email,
	})
	if err != nil {
		return err
	}
	stage := req.Stage
	if stage == "" {
		stage = "dev"
	}
	return c.JSON(http.StatusAccepted, apiv1.DeployResponse{Build: apiBuild(b, app.Name), Deploy: s.apiDeployOf(d, app.Name, stage, "")})
}

func (s *Server) apiBuild(c echo.Context) error {
	b, app, err := s.buildParam(c)
	if err != nil {
		return err
	}
	arts, err := s.cfg.Store.Artifacts(c.Request().Context(), b.ID)
	if err != nil {
		return err
	}
	out := apiBuild(b, app.Name)
	for _, a := range arts {
		out.Artifacts = append(out.Artifacts, apiv1.Artifact{Service: a.Service, Function: a.Function, Digest: a.Digest, Size: a.Size,
			ReusedFrom: a.ReusedFrom, ReuseReason: a.ReuseReason})
	}
	out.Phases = apiPhases(b)
	return c.JSON(http.StatusOK, out)
}

func apiBuild(b store.Build, app string) apiv1.Build {
	return apiv1.Build{ID: b.ID, App: app, Ref: b.Ref, Commit: b.CommitSHA, CommitMessage: b.CommitMessage, Status: b.Status,
		Error: b.Error, Trigger: b.TriggerKind, URL: buildURL(b.ID), CreatedAt: b.CreatedAt, StartedAt: b.StartedAt, FinishedAt: b.FinishedAt,
		Full: b.FullBuild}
}

func (s *Server) apiGetDeploy(c echo.Context) error {
	d, app, st, err := s.deployParam(c)
	if err != nil {
		return err
	}
	stages, err := s.cfg.Store.Stages(c.Request().Context(), app.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.apiDeployOf(d, app.Name, st.Name, sourceName(stages, d)))
}

func (s *Server) apiDeployOf(d store.Deploy, app, stage, source string) apiv1.Deploy {
	out := apiv1.Deploy{ID: d.ID, App: app, Stage: stage, Status: d.Status, Error: d.Error, Trigger: d.TriggerKind,
		TriggeredBy: d.TriggeredBy, SourceStage: source, DecidedBy: d.DecidedBy, DecidedAt: d.DecidedAt,
		URL: deployURL(d.ID), CreatedAt: d.CreatedAt, StartedAt: d.StartedAt, FinishedAt: d.FinishedAt}
	if d.BuildID != nil {
		out.BuildID = *d.BuildID
	}
	if d.ReleaseID != nil {
		out.ReleaseID = *d.ReleaseID
	}
	if cs := decodeChangeSet(d); cs != nil {
		out.ChangeSet = apiChangeSet(*cs)
	}
	return out
}

func (s *Server) apiBuildLogs(c echo.Context) error {
	b, _, err := s.buildParam(c)
	if err != nil {
		return err
	}
	return s.writeLogPage(c, store.LogBuild, b.ID, b.Status, b.Finished())
}

func (s *Server) apiDeployLogs(c echo.Context) error {
	d, _, _, err := s.deployParam(c)
	if err != nil {
		return err
	}
	return s.writeLogPage(c, store.LogDeploy, d.ID, d.Status, d.Finished())
}

// writeLogPage answers with the lines after ?after=. The status is read
// before the lines, so "finished" with no lines means the log is complete.
func (s *Server) writeLogPage(c echo.Context, kind string, id uint, status string, finished bool) error {
	lines, err := s.cfg.Store.LogLines(c.Request().Context(), kind, id, parseUint(c.QueryParam("after")), streamBatch)
	if err != nil {
		return err
	}
	out := apiv1.LogPage{Lines: []apiv1.LogLine{}, Status: status, Finished: finished && len(lines) < streamBatch}
	for _, l := range lines {
		out.Lines = append(out.Lines, apiv1.LogLine{ID: l.ID, Stream: l.Stream, Text: l.Text, Time: l.CreatedAt})
	}
	return c.JSON(http.StatusOK, out)
}
