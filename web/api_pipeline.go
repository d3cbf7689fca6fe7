package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web/apiv1"
)

// trigger tells what started a request: the CLI identifies itself.
func trigger(c echo.Context) string {
	if strings.HasPrefix(c.Request().UserAgent(), "seedbed-cli") {
		return pipelines.TriggerCLI
	}
	return pipelines.TriggerAPI
}

func approver(c echo.Context) pipelines.Approver {
	u := currentUser(c)
	return pipelines.Approver{Email: u.Email, IsAdmin: u.IsAdmin, IsApprover: u.IsApprover}
}

func (s *Server) apiStages(c echo.Context) error {
	app, err := s.appParam(c)
	if err != nil {
		return err
	}
	return s.writeStages(c, http.StatusOK, app)
}

func (s *Server) writeStages(c echo.Context, status int, app store.App) error {
	out, err := s.stagesOf(c.Request().Context(), app)
	if err != nil {
		return err
	}
	return c.JSON(status, out)
}

func stageSettings(req apiv1.StageRequest) pipelines.StageSettings {
	in := pipelines.StageSettings{Name: req.Name, Branch: req.Branch, Approval: req.Approval, Protected: req.Protected, Position: -1, After: req.After}
	if req.Position != nil {
		in.Position = *req.Position
	}
	return in
}

func (s *Server) apiCreateStage(c echo.Context) error {
	var req apiv1.StageRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	st, err := s.cfg.Pipelines.CreateStage(c.Request().Context(), c.Param("app"), stageSettings(req))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, s.apiStage(stageState{Stage: st, URL: s.stageURL(c.Param("app"), st.Name)}, c.Param("app")))
}

func (s *Server) apiUpdateStage(c echo.Context) error {
	var req apiv1.StageRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	st, err := s.cfg.Pipelines.UpdateStage(c.Request().Context(), c.Param("app"), c.Param("stage"), stageSettings(req))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.apiStage(stageState{Stage: st, URL: s.stageURL(c.Param("app"), st.Name)}, c.Param("app")))
}

func (s *Server) apiDeleteStage(c echo.Context) error {
	if err := s.cfg.Pipelines.DeleteStage(c.Request().Context(), c.Param("app"), c.Param("stage"), removeOptions(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// removeOptions reads force=true (query or form): take a stage down
// without running its remove hooks.
func removeOptions(c echo.Context) pipelines.RemoveOptions {
	force := c.QueryParam("force")
	if force == "" {
		force = c.FormValue("force")
	}
	return pipelines.RemoveOptions{SkipHooks: force == "true" || force == "1" || force == "on"}
}

func (s *Server) apiReorderStages(c echo.Context) error {
	var req apiv1.OrderRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if err := s.cfg.Pipelines.ReorderStages(c.Request().Context(), c.Param("app"), req.Stages); err != nil {
		return err
	}
	app, err := s.appParam(c)
	if err != nil {
		return err
	}
	return s.writeStages(c, http.StatusOK, app)
}

func (s *Server) apiVars(c echo.Context) error {
	vars, err := s.cfg.Pipelines.Vars(c.Request().Context(), c.Param("app"), c.Param("stage"))
	if err != nil {
		return err
	}
	out := []apiv1.Var{}
	for _, v := range vars {
		out = append(out, apiv1.Var{Key: v.Key, Value: v.Value, Secret: v.Secret, UpdatedAt: v.UpdatedAt})
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) apiSetVar(c echo.Context) error {
	var req apiv1.SetVarRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if err := s.cfg.Pipelines.SetVar(c.Request().Context(), c.Param("app"), c.Param("stage"), c.Param("key"), req.Value, req.Secret); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) apiUnsetVar(c echo.Context) error {
	if err := s.cfg.Pipelines.UnsetVar(c.Request().Context(), c.Param("app"), c.Param("stage"), c.Param("key")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) apiPlanPromotion(c echo.Context) error {
	plan, err := s.cfg.Pipelines.PlanPromotion(c.Request().Context(), c.Param("app"), c.QueryParam("from"), c.QueryParam("to"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, apiPlan(plan))
}

func apiPlan(p pipelines.PromotionPlan) apiv1.PromotionPlan {
	out := apiv1.PromotionPlan{From: p.From.Name, To: p.To.Name, ChangeSet: *apiChangeSet(p.ChangeSet),
		CommitsError: p.CommitsError, NeedsApproval: p.NeedsApproval, Commits: []apiv1.Commit{},
		Release: apiRelease(p.Release, p.Manifest)}
	for _, cm := range p.Commits {
		out.Commits = append(out.Commits, apiv1.Commit{SHA: cm.SHA, Message: cm.Message, Author: cm.Author})
	}
	return out
}

func apiRelease(rel store.Release, m pipelines.Manifest) apiv1.Release {
	out := apiv1.Release{ID: rel.ID, BuildID: rel.BuildID, Commit: m.Commit, Message: m.Message, Functions: []apiv1.Function{}}
	for _, f := range m.Functions {
		af := apiv1.Function{Key: f.Key(), Digest: f.Digest, Routes: []string{}}
		for _, r := range f.Routes {
			af.Routes = append(af.Routes, r.String())
		}
		out.Functions = append(out.Functions, af)
	}
	return out
}

func apiChangeSet(cs pipelines.ChangeSet) *apiv1.ChangeSet {
	out := &apiv1.ChangeSet{Summary: cs.Summary(), Major: cs.Major(), Functions: []apiv1.FunctionChange{}}
	for _, f := range cs.Functions {
		out.Functions = append(out.Functions, apiv1.FunctionChange{Kind: f.Kind, Key: f.Key, Before: f.Before, After: f.After, Detail: f.Detail, Major: f.Major})
	}
	return out
}

func (s *Server) apiPromote(c echo.Context) error {
	var req apiv1.PromoteRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	d, plan, err := s.cfg.Pipelines.Promote(c.Request().Context(), pipelines.PromoteRequest{App: c.Param("app"), From: req.From, To: req.To,
		ReleaseID: req.ReleaseID, AnyLive: req.Live, By: currentUser(c).Email})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, s.apiDeployOf(d, plan.App, plan.To.Name, plan.From.Name))
}

func (s *Server) apiRollback(c echo.Context) error {
	var req apiv1.RollbackRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	d, err := s.cfg.Pipelines.Rollback(c.Request().Context(), pipelines.RollbackRequest{App: c.Param("app"), Stage: c.Param("stage"), ReleaseID: req.ReleaseID, By: currentUser(c).Email})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, s.apiDeployOf(d, c.Param("app"), c.Param("stage"), ""))
}

func (s *Server) apiAppDeploys(c echo.Context) error {
	app, err := s.appParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	ds, err := s.cfg.Store.Deploys(ctx, app.ID, 100)
	if err != nil {
		return err
	}
	stages, err := s.stagesWithPreviews(ctx, app.ID)
	if err != nil {
		return err
	}
	out := []apiv1.Deploy{}
	for _, d := range ds {
		out = append(out, s.apiDeployOf(d, app.Name, stageName(stages, d.StageID), sourceName(stages, d)))
	}
	return c.JSON(http.StatusOK, out)
}

func sourceName(stages []store.Stage, d store.Deploy) string {
	if d.SourceStageID == nil {
		return ""
	}
	return stageName(stages, *d.SourceStageID)
}

// deployAction runs an action on a deploy and answers with the deploy.
func (s *Server) deployAction(c echo.Context, act func(id uint) (store.Deploy, error)) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	d, err := act(id)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	app, err := s.cfg.Store.AppByID(ctx, d.AppID)
	if err != nil {
		return err
	}
	stages, err := s.stagesWithPreviews(ctx, app.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.apiDeployOf(d, app.Name, stageName(stages, d.StageID), sourceName(stages, d)))
}

func (s *Server) apiApprove(c echo.Context) error {
	return s.deployAction(c, func(id uint) (store.Deploy, error) {
		return s.cfg.Pipelines.Approve(c.Request().Context(), id, approver(c))
	})
}

func (s *Server) apiReject(c echo.Context) error {
	var req apiv1.RejectRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	return s.deployAction(c, func(id uint) (store.Deploy, error) {
		return s.cfg.Pipelines.Reject(c.Request().Context(), id, approver(c), req.Reason)
	})
}

func (s *Server) apiCancelDeploy(c echo.Context) error {
	return s.deployAction(c, func(id uint) (store.Deploy, error) {
		return s.cfg.Pipelines.CancelDeploy(c.Request().Context(), id)
	})
}

func (s *Server) apiCancelBuild(c echo.Context) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	b, err := s.cfg.Pipelines.CancelBuild(c.Request().Context(), id)
	if err != nil {
		return err
	}
	app, err := s.cfg.Store.AppByID(c.Request().Context(), b.AppID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, apiBuild(b, app.Name))
}
