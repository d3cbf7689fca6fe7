package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web/views"
)

func appURL(app string) string { return "/apps/" + url.PathEscape(app) }

func stageURLPath(app, stage string) string { return appURL(app) + "/stages/" + url.PathEscape(stage) }

func changeItems(fs []pipelines.FunctionChange) []views.ChangeItem {
	var out []views.ChangeItem
	for _, f := range fs {
		out = append(out, views.ChangeItem{Kind: f.Kind, Key: f.Key, Before: f.Before, After: f.After, Detail: f.Detail})
	}
	return out
}

func (s *Server) promotePage(c echo.Context) error {
	plan, err := s.cfg.Pipelines.PlanPromotion(c.Request().Context(), c.Param("app"), c.QueryParam("from"), c.QueryParam("to"))
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.PromotePage(s.promoteModel(c, plan)))
}

// promoteModel is the preview of a promotion's plan.
func (s *Server) promoteModel(c echo.Context, plan pipelines.PromotionPlan) views.PromoteModel {
	app := c.Param("app")
	m := views.PromoteModel{Page: s.page(c, fmt.Sprintf("Promote %s: %s → %s", app, plan.From.Name, plan.To.Name)), App: app, AppURL: appURL(app),
		From: plan.From.Name, To: plan.To.Name, ReleaseID: plan.Release.ID, BuildID: plan.Release.BuildID,
		CommitSHA: plan.Manifest.Commit, CommitMessage: plan.Manifest.Message, Summary: plan.ChangeSet.Summary(),
		CommitsError: plan.CommitsError, NeedsApproval: plan.NeedsApproval, ConfirmURL: appURL(app) + "/promote"}
	m.Page.Nav = "apps"
	if !canDo(c, store.RoleDeployer) { // a viewer may look at the plan, not carry it out
		m.ConfirmURL = ""
	}
	var major, minor, same []pipelines.FunctionChange
	for _, f := range plan.ChangeSet.Functions {
		switch {
		case f.Kind == pipelines.ChangeKeep:
			same = append(same, f)
		case f.Major:
			major = append(major, f)
		default:
			minor = append(minor, f)
		}
	}
	m.Major, m.Minor, m.Unchanged = changeItems(major), changeItems(minor), changeItems(same)
	for _, cm := range plan.Commits {
		m.Commits = append(m.Commits, views.CommitRow{SHA: cm.SHA, Message: cm.Message, Author: cm.Author})
	}
	m.Maps = s.promoteMaps(c, plan.From, plan.To)
	return m
}

// promote carries out a reviewed promotion. The form names the release its
// preview showed; if the source stage serves another one by now, nothing is
// deployed: the answer (409) is the preview of what the promotion would
// deploy now, with what changed, to review and confirm again.
func (s *Server) promote(c echo.Context) error {
	reviewed := parseUint(c.FormValue("release_id"))
	if reviewed == 0 { // a form from before previews named their release
		plan, err := s.cfg.Pipelines.PlanPromotion(c.Request().Context(), c.Param("app"), c.FormValue("from"), c.FormValue("to"))
		if err != nil {
			return err
		}
		m := s.promoteModel(c, plan)
		m.Moved = "The form did not say which release it confirms, so nothing was promoted. Review the promotion below and confirm again."
		return render(c, http.StatusUnprocessableEntity, views.PromotePage(m))
	}
	d, plan, err := s.cfg.Pipelines.Promote(c.Request().Context(), pipelines.PromoteRequest{
		App: c.Param("app"), From: c.FormValue("from"), To: c.FormValue("to"),
		ReleaseID: reviewed, By: currentUser(c).Email})
	if err != nil {
		if reviewed != 0 && plan.Release.ID != 0 && plan.Release.ID != reviewed && pipelines.ErrorCode(err) == pipelines.EConflict {
			m := s.promoteModel(c, plan)
			m.Moved = pipelines.ErrorMessage(err)
			return render(c, http.StatusConflict, views.PromotePage(m))
		}
		return err
	}
	if plan.NeedsApproval {
		s.flash(c, fmt.Sprintf("Promotion to %s waits for approval.", plan.To.Name))
	}
	return c.Redirect(http.StatusSeeOther, deployURL(d.ID))
}

func (s *Server) rollback(c echo.Context) error {
	d, err := s.cfg.Pipelines.Rollback(c.Request().Context(), pipelines.RollbackRequest{
		App: c.Param("app"), Stage: c.Param("stage"), ReleaseID: parseUint(c.FormValue("release_id")), By: currentUser(c).Email})
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, deployURL(d.ID))
}

func (s *Server) createStage(c echo.Context) error {
	st, err := s.cfg.Pipelines.CreateStage(c.Request().Context(), c.Param("app"), pipelines.StageSettings{
		Name: c.FormValue("name"), Branch: c.FormValue("branch"), Approval: c.FormValue("approval") == "on",
		Protected: c.FormValue("protected") == "on", Position: -1, After: c.FormValue("after")})
	if err != nil {
		return err
	}
	s.flash(c, "Stage "+st.Name+" added.")
	return c.Redirect(http.StatusSeeOther, stageURLPath(c.Param("app"), st.Name)+"/settings")
}

func (s *Server) reorderStages(c echo.Context) error {
	names := strings.FieldsFunc(c.FormValue("order"), func(r rune) bool { return r == ' ' || r == ',' || r == '→' || r == '>' })
	if err := s.cfg.Pipelines.ReorderStages(c.Request().Context(), c.Param("app"), names); err != nil {
		return err
	}
	s.flash(c, "Pipeline order saved: "+strings.Join(names, " → ")+".")
	return c.Redirect(http.StatusSeeOther, appURL(c.Param("app")))
}

// stageSettingsModel reads what the settings page shows.
func (s *Server) stageSettingsModel(c echo.Context) (views.StageSettingsModel, error) {
	app, err := s.appParam(c)
	if err != nil {
		return views.StageSettingsModel{}, err
	}
	st, err := s.cfg.Store.StageByName(c.Request().Context(), app.ID, c.Param("stage"))
	if err != nil {
		return views.StageSettingsModel{}, errorf(http.StatusNotFound, "not_found", fmt.Sprintf("App %s has no stage %q.", app.Name, c.Param("stage")))
	}
	vars, err := s.cfg.Pipelines.Vars(c.Request().Context(), app.Name, st.Name)
	if err != nil {
		return views.StageSettingsModel{}, err
	}
	base := stageURLPath(app.Name, st.Name)
	m := views.StageSettingsModel{Page: s.page(c, fmt.Sprintf("%s/%s settings", app.Name, st.Name)), App: app.Name, AppURL: appURL(app.Name),
		Stage: st.Name, Branch: st.Branch, Approval: st.Approval, Protected: st.Protected, Target: st.Target,
		SaveURL: base + "/settings", SetVarURL: base + "/vars", DeleteURL: base + "/delete"}
	m.Page.Nav = "apps"
	// Forms a role would be refused on are not shown (authz.go decides).
	if !canDo(c, store.RoleOwner) {
		m.SaveURL, m.DeleteURL = "", ""
	}
	stageTargetForm(c, &m, st, base)
	deployer := canDo(c, store.RoleDeployer)
	if !deployer {
		m.SetVarURL = ""
	}
	for _, v := range vars {
		row := views.VarRow{Key: v.Key, Value: v.Value, Secret: v.Secret, UpdatedAt: v.UpdatedAt}
		if deployer {
			row.DeleteURL = base + "/vars/" + url.PathEscape(v.Key) + "/delete"
		}
		m.Vars = append(m.Vars, row)
	}
	return m, nil
}

func (s *Server) stageSettingsPage(c echo.Context) error {
	m, err := s.stageSettingsModel(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.StageSettingsPage(m))
}

// settingsFormError shows the settings page again with a user's mistake.
func (s *Server) settingsFormError(c echo.Context, err error, field string) error {
	status, _, msg := statusOf(err)
	if status >= 500 {
		return err
	}
	m, lerr := s.stageSettingsModel(c)
	if lerr != nil {
		return lerr
	}
	m.Errors = map[string]string{field: msg}
	return render(c, status, views.StageSettingsPage(m))
}

func (s *Server) saveStageSettings(c echo.Context) error {
	_, err := s.cfg.Pipelines.UpdateStage(c.Request().Context(), c.Param("app"), c.Param("stage"), pipelines.StageSettings{
		Branch: c.FormValue("branch"), Approval: c.FormValue("approval") == "on", Protected: c.FormValue("protected") == "on"})
	if err != nil {
		return s.settingsFormError(c, err, "branch")
	}
	s.flash(c, "Settings of "+c.Param("stage")+" saved.")
	return c.Redirect(http.StatusSeeOther, stageURLPath(c.Param("app"), c.Param("stage"))+"/settings")
}

func (s *Server) setVar(c echo.Context) error {
	key := c.FormValue("key")
	err := s.cfg.Pipelines.SetVar(c.Request().Context(), c.Param("app"), c.Param("stage"), key, c.FormValue("value"), c.FormValue("secret") == "on")
	if errors.Is(err, pipelines.ErrSecretTooShort) {
		return s.settingsFormError(c, err, "value")
	}
	if err != nil {
		return s.settingsFormError(c, err, "key")
	}
	s.flash(c, key+" saved; it takes effect with the next deploy of "+c.Param("stage")+".")
	return c.Redirect(http.StatusSeeOther, stageURLPath(c.Param("app"), c.Param("stage"))+"/settings")
}

func (s *Server) unsetVar(c echo.Context) error {
	if err := s.cfg.Pipelines.UnsetVar(c.Request().Context(), c.Param("app"), c.Param("stage"), c.Param("key")); err != nil {
		return err
	}
	s.flash(c, c.Param("key")+" removed; it takes effect with the next deploy of "+c.Param("stage")+".")
	return c.Redirect(http.StatusSeeOther, stageURLPath(c.Param("app"), c.Param("stage"))+"/settings")
}

func (s *Server) deleteStage(c echo.Context) error {
	if err := s.cfg.Pipelines.DeleteStage(c.Request().Context(), c.Param("app"), c.Param("stage"), removeOptions(c)); err != nil {
		return err
	}
	s.flash(c, "Stage "+c.Param("stage")+" deleted.")
	return c.Redirect(http.StatusSeeOther, appURL(c.Param("app")))
}

func (s *Server) approve(c echo.Context) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	if _, err := s.cfg.Pipelines.Approve(c.Request().Context(), id, approver(c)); err != nil {
		return err
	}
	s.flash(c, "Approved: the promotion is on its way.")
	return c.Redirect(http.StatusSeeOther, deployURL(id))
}

func (s *Server) reject(c echo.Context) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	if _, err := s.cfg.Pipelines.Reject(c.Request().Context(), id, approver(c), c.FormValue("reason")); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, deployURL(id))
}

func (s *Server) cancelDeploy(c echo.Context) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	if _, err := s.cfg.Pipelines.CancelDeploy(c.Request().Context(), id); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, deployURL(id))
}

func (s *Server) cancelBuild(c echo.Context) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	if _, err := s.cfg.Pipelines.CancelBuild(c.Request().Context(), id); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, buildURL(id))
}
