package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web/views"
)

// pageLogLines is how much of a log a page shows at first; the live stream
// sends the rest.
const pageLogLines = 5000

func buildURL(id uint) string  { return fmt.Sprintf("/builds/%d", id) }
func deployURL(id uint) string { return fmt.Sprintf("/deploys/%d", id) }

func (s *Server) buildPage(c echo.Context) error {
	ctx := c.Request().Context()
	b, app, err := s.buildParam(c)
	if err != nil {
		return err
	}
	arts, err := s.cfg.Store.Artifacts(ctx, b.ID)
	if err != nil {
		return err
	}
	deploys, err := s.cfg.Store.DeploysOfBuild(ctx, b.ID)
	if err != nil {
		return err
	}
	stages, err := s.stagesWithPreviews(ctx, app.ID)
	if err != nil {
		return err
	}
	lines, err := s.cfg.Store.LogLines(ctx, store.LogBuild, b.ID, 0, pageLogLines)
	if err != nil {
		return err
	}
	m := views.BuildModel{Page: s.page(c, fmt.Sprintf("Build #%d · %s", b.ID, app.Name)), App: app.Name,
		AppURL: "/apps/" + url.PathEscape(app.Name), Build: buildRow(b), Error: b.Error, Log: viewLines(lines)}
	m.Page.Nav = "apps"
	for _, a := range arts {
		m.Artifacts = append(m.Artifacts, views.ArtifactRow{Service: a.Service, Function: a.Function, Digest: a.Digest, Size: a.Size})
	}
	m.Phases = buildPhasesView(b, arts)
	for _, d := range deploys {
		m.Deploys = append(m.Deploys, deployRow(d, stageName(stages, d.StageID)))
	}
	if !b.Finished() || len(lines) == pageLogLines {
		m.StreamURL = fmt.Sprintf("/builds/%d/events?after=%d", b.ID, lastID(lines))
	} else if len(deploys) > 0 {
		m.Live = views.Live{URL: buildURL(b.ID) + "/deploys/events", Version: buildVersion(b, deploys)}
	}
	if !b.Finished() && canDo(c, store.RoleDeployer) {
		m.CancelURL = buildURL(b.ID) + "/cancel"
	}
	return render(c, http.StatusOK, views.BuildPage(m))
}

func (s *Server) deployPage(c echo.Context) error {
	ctx := c.Request().Context()
	d, app, st, err := s.deployParam(c)
	if err != nil {
		return err
	}
	lines, err := s.cfg.Store.LogLines(ctx, store.LogDeploy, d.ID, 0, pageLogLines)
	if err != nil {
		return err
	}
	m := views.DeployModel{Page: s.page(c, fmt.Sprintf("Deploy #%d · %s/%s", d.ID, app.Name, st.Name)), App: app.Name,
		AppURL: "/apps/" + url.PathEscape(app.Name), Deploy: deployRow(d, st.Name), Log: viewLines(lines)}
	m.Page.Nav = "apps"
	if d.BuildID != nil {
		m.BuildURL = buildURL(*d.BuildID)
	}
	if cs := decodeChangeSet(d); cs != nil {
		m.Summary = cs.Summary()
		m.Changes = changeItems(cs.Functions)
	} else if !d.Finished() {
		m.Summary = "The change set is planned when the release is ready and the stage is free."
	}
	if !d.Finished() || len(lines) == pageLogLines {
		m.StreamURL = fmt.Sprintf("/deploys/%d/events?after=%d", d.ID, lastID(lines))
	}
	if !d.Finished() && canDo(c, store.RoleDeployer) {
		m.CancelURL = deployURL(d.ID) + "/cancel"
	}
	if u := currentUser(c); d.Status == store.DeployAwaiting && (u.IsAdmin || u.IsApprover) && canDo(c, store.RoleDeployer) {
		m.ApproveURL, m.RejectURL = deployURL(d.ID)+"/approve", deployURL(d.ID)+"/reject"
	}
	m.DecidedBy, m.DecidedAt = d.DecidedBy, d.DecidedAt
	if d.SourceStageID != nil {
		if src, err := s.cfg.Store.StageByID(ctx, *d.SourceStageID); err == nil {
			m.SourceStage = src.Name
		}
	}
	if d.ReleaseID != nil {
		if rel, err := s.cfg.Store.ReleaseByID(ctx, *d.ReleaseID); err == nil {
			var man pipelines.Manifest
			if json.Unmarshal([]byte(rel.Manifest), &man) == nil {
				m.CommitSHA, m.CommitMessage = man.Commit, man.Message
			}
		}
	}
	return render(c, http.StatusOK, views.DeployPage(m))
}

func stageName(stages []store.Stage, id uint) string {
	for _, st := range stages {
		if st.ID == id {
			return st.Name
		}
	}
	return ""
}

func viewLines(lines []store.LogLine) []views.LogLine {
	out := make([]views.LogLine, len(lines))
	for i, l := range lines {
		out[i] = views.LogLine{ID: l.ID, Stream: l.Stream, Text: l.Text}
	}
	return out
}

func lastID(lines []store.LogLine) uint {
	if len(lines) == 0 {
		return 0
	}
	return lines[len(lines)-1].ID
}
