package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web/views"
)

func (s *Server) appsPage(c echo.Context) error {
	apps, statuses, err := s.overview(c.Request().Context(), currentUser(c))
	if err != nil {
		return err
	}
	m := views.AppsModel{Page: s.page(c, "Apps"), Apps: make([]views.AppRow, 0, len(apps)), CanCreate: canCreateApps(currentUser(c))}
	m.Page.Nav = "apps"
	// statuses come ordered by app: each app's stages are one run of them.
	badges := make([]views.StageBadge, len(statuses))
	byApp := make(map[uint][]views.StageBadge, len(apps))
	for i := 0; i < len(statuses); {
		j := i
		for ; j < len(statuses) && statuses[j].AppID == statuses[i].AppID; j++ {
			st := &statuses[j]
			badges[j] = views.StageBadge{Name: st.Name, Status: st.Status, LiveReleaseID: st.LiveReleaseID, LiveCommit: st.LiveCommit}
		}
		byApp[statuses[i].AppID] = badges[i:j:j]
		i = j
	}
	for _, a := range apps {
		m.Apps = append(m.Apps, views.AppRow{Name: a.Name, RepoURL: a.RepoURL, Branch: a.Branch, Stages: byApp[a.ID]})
	}
	m.Live = views.Live{URL: "/events/apps", Version: overviewVersion(apps, statuses)}
	return render(c, http.StatusOK, views.AppsPage(m))
}

// overview reads what the apps overview shows u, for the page and for its
// live stream alike: the apps u may see (all for an admin, else those u is
// a member of) and the stage statuses of every app, to be matched by id.
// The store keeps the rows while nothing in them changes; membership is
// read on every call.
func (s *Server) overview(ctx context.Context, u store.User) ([]store.AppSummary, []store.StageStatus, error) {
	o, err := s.cfg.Store.Overview(ctx)
	if err != nil {
		return nil, nil, err
	}
	if u.IsAdmin {
		return o.Apps, o.Statuses, nil
	}
	if s.cfg.Access == nil {
		return nil, nil, nil
	}
	mine, err := s.cfg.Access.MemberApps(ctx, u.ID)
	if err != nil {
		return nil, nil, err
	}
	var apps []store.AppSummary // o's slices are shared: filter into a new one
	for _, a := range o.Apps {
		if _, ok := mine[a.ID]; ok {
			apps = append(apps, a)
		}
	}
	return apps, o.Statuses, nil
}

func (s *Server) newAppForm(c echo.Context) error {
	m := views.AppForm{Page: s.page(c, "Connect a repository"), Branch: "main"}
	m.Page.Nav = "apps"
	return render(c, http.StatusOK, views.NewAppPage(m))
}

func (s *Server) createApp(c echo.Context) error {
	in := pipelines.NewApp{Name: c.FormValue("name"), RepoURL: c.FormValue("repo_url"), Branch: c.FormValue("branch"), DeployKey: c.FormValue("deploy_key"),
		NoCheck: c.FormValue("no_check") != ""}
	if in.Branch == "" {
		in.Branch = "main"
	}
	form := views.AppForm{Page: s.page(c, "Connect a repository"), Name: in.Name, RepoURL: in.RepoURL, Branch: in.Branch, DeployKey: in.DeployKey, NoCheck: in.NoCheck}
	if errs := in.Validate(); len(errs) > 0 {
		form.Errors = errs
		return render(c, http.StatusUnprocessableEntity, views.NewAppPage(form))
	}
	if err := s.checkRepoURL(c, in.RepoURL); err != nil {
		status, _, msg := statusOf(err)
		if status >= 500 {
			return err
		}
		form.Errors = map[string]string{"repo_url": strings.TrimPrefix(msg, "repo_url: ")}
		return render(c, status, views.NewAppPage(form))
	}
	app, err := s.cfg.Pipelines.CreateApp(c.Request().Context(), in)
	if err != nil {
		status, _, msg := statusOf(err)
		if status >= 500 {
			return err
		}
		if field, ok := strings.CutPrefix(msg, "repo_url: "); ok {
			form.Errors = map[string]string{"repo_url": field} // the repository could not be read
		} else {
			form.Error = msg
		}
		return render(c, status, views.NewAppPage(form))
	}
	if err := s.addOwner(c.Request().Context(), currentUser(c), app); err != nil {
		return err
	}
	s.flash(c, "App "+app.Name+" is connected. Deploy it to a stage below.")
	return c.Redirect(http.StatusSeeOther, "/apps/"+url.PathEscape(app.Name))
}

func (s *Server) appPage(c echo.Context) error {
	ctx := c.Request().Context()
	app, err := s.appParam(c)
	if err != nil {
		return err
	}
	deploys, err := s.cfg.Store.Deploys(ctx, app.ID, boardRuns)
	if err != nil {
		return err
	}
	builds, err := s.cfg.Store.Builds(ctx, app.ID, boardRuns)
	if err != nil {
		return err
	}
	stages, err := s.loadStages(ctx, app, deploys)
	if err != nil {
		return err
	}
	names := map[uint]string{}
	m := views.AppModel{Page: s.page(c, app.Name), Name: app.Name, RepoURL: app.RepoURL, Branch: app.Branch,
		Live: views.Live{URL: appURL(app.Name) + "/events", Version: boardVersion(deploys, builds)}}
	m.Page.Nav = "apps"
	for _, st := range stages {
		names[st.Stage.ID] = st.Stage.Name
	}
	firing, err := s.firingRules(ctx, app)
	if err != nil {
		return err
	}
	if m.Live.Version, err = s.withFiring(ctx, app, m.Live.Version); err != nil {
		return err
	}
	for i, st := range stages {
		base := stageURLPath(app.Name, st.Stage.Name)
		card := views.StageCard{Name: st.Stage.Name, Branch: st.Stage.Branch, URL: st.URL,
			Approval: st.Stage.Approval, Protected: st.Stage.Protected, SettingsURL: base + "/settings", LogsURL: base + "/logs", EventsURL: base + "/events",
			MapURL: base + "/map"}
		if !st.Stage.Protected {
			card.DeployURL = base + "/deploy"
		}
		if st.Live != nil && i+1 < len(stages) {
			next := stages[i+1].Stage.Name
			card.PromoteTo = next
			card.PromoteURL = appURL(app.Name) + "/promote?" + url.Values{"from": {st.Stage.Name}, "to": {next}}.Encode()
		}
		if st.Live != nil {
			ok, err := s.cfg.Store.HasRollbackTarget(ctx, st.Stage.ID, st.Live.ID)
			if err != nil {
				return err
			}
			if ok {
				card.RollbackURL = base + "/rollback"
			}
		}
		awaiting, err := s.cfg.Store.AwaitingDeploys(ctx, st.Stage.ID)
		if err != nil {
			return err
		}
		for _, d := range awaiting {
			card.Awaiting = append(card.Awaiting, deployRow(d, st.Stage.Name))
		}
		if st.Live != nil {
			card.Live = &views.ReleaseInfo{ID: st.Live.ID, BuildID: st.Live.BuildID, CommitSHA: st.Manifest.Commit,
				CommitMessage: st.Manifest.Message, CommitAuthor: st.Manifest.Author, CreatedAt: st.Live.CreatedAt}
			for _, f := range st.Manifest.Functions {
				fi := views.FunctionInfo{Key: f.Key(), Digest: f.Digest}
				for _, r := range f.Routes {
					fi.Routes = append(fi.Routes, r.String())
				}
				card.Functions = append(card.Functions, fi)
			}
		}
		if st.LastDeploy != nil {
			row := deployRow(*st.LastDeploy, st.Stage.Name)
			card.LastDeploy = &row
		}
		card.Traffic = s.stageTraffic(ctx, app.Name, st.Stage.Name)
		if !canDo(c, store.RoleDeployer) { // viewers see the pipeline, not its buttons
			card.DeployURL, card.PromoteURL, card.RollbackURL = "", "", ""
		}
		card.Firing, card.AlertsURL = firing[st.Stage.Name], appURL(app.Name)+"/alerts"
		m.Stages = append(m.Stages, card)
	}
	if err := s.addPreviews(ctx, app, &m, names); err != nil {
		return err
	}
	if canDo(c, store.RoleOwner) {
		m.SettingsURL = appURL(app.Name) + "/settings"
		m.AddStageURL, m.OrderURL = appURL(app.Name)+"/stages", appURL(app.Name)+"/stages/order"
		var order []string
		for _, st := range stages {
			order = append(order, st.Stage.Name)
		}
		m.StageOrder = strings.Join(order, " ")
	}
	for _, b := range builds {
		m.Builds = append(m.Builds, buildRow(b))
	}
	for _, d := range deploys {
		m.Deploys = append(m.Deploys, deployRow(d, names[d.StageID]))
	}
	return render(c, http.StatusOK, views.AppPage(m))
}

func (s *Server) deployStage(c echo.Context) error {
	u := currentUser(c)
	_, d, err := s.cfg.Pipelines.RequestDeploy(c.Request().Context(), pipelines.DeployRequest{
		App: c.Param("app"), Stage: c.Param("stage"), Ref: c.FormValue("ref"), Full: c.FormValue("full") != "", Trigger: pipelines.TriggerConsole, By: u.Email,
	})
	if err != nil {
		return err
	}
	if d.BuildID != nil {
		return c.Redirect(http.StatusSeeOther, buildURL(*d.BuildID))
	}
	return c.Redirect(http.StatusSeeOther, deployURL(d.ID))
}

func buildRow(b store.Build) views.BuildRow {
	r := views.BuildRow{ID: b.ID, URL: buildURL(b.ID), Ref: b.Ref, CommitSHA: b.CommitSHA, CommitMessage: b.CommitMessage,
		Status: b.Status, Trigger: b.TriggerKind, CreatedAt: b.CreatedAt}
	if b.StartedAt != nil && b.FinishedAt != nil {
		r.Duration = b.FinishedAt.Sub(*b.StartedAt)
	}
	return r
}

func deployRow(d store.Deploy, stage string) views.DeployRow {
	r := views.DeployRow{ID: d.ID, URL: deployURL(d.ID), Stage: stage, Status: d.Status, Trigger: d.TriggerKind, TriggeredBy: d.TriggeredBy,
		Error: d.Error, CreatedAt: d.CreatedAt}
	if d.ReleaseID != nil {
		r.ReleaseID = *d.ReleaseID
	}
	if d.BuildID != nil {
		r.BuildID = *d.BuildID
	}
	if d.StartedAt != nil && d.FinishedAt != nil {
		r.Duration = d.FinishedAt.Sub(*d.StartedAt)
	}
	return r
}
