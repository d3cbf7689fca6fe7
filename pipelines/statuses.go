package pipelines

import (
	"context"
	"fmt"
	"time"

	"github.com/seedbed/seedbed/pipelines/forge"
	"github.com/seedbed/seedbed/store"
)

// statusTimeout bounds one commit status report. Reports are best effort
// and made in line, so a slow forge delays a build by at most this much.
const statusTimeout = 5 * time.Second

// Status contexts: how Seedbed's statuses are told apart on a commit.
const (
	statusContextBuild  = "seedbed/build"
	statusContextDeploy = "seedbed/deploy-" // + the stage's name
)

// statusReporter returns the reporter and repository for an app's commit
// statuses, or ok false when the app has none configured (no forge, no
// token, no repository path).
func (s *Service) statusReporter(app store.App) (forge.StatusReporter, forge.RepoRef, bool) {
	if app.Forge == "" || app.ForgeToken == "" || s.cfg.Sealer == nil {
		return nil, forge.RepoRef{}, false
	}
	repo := app.ForgeRepo
	if repo == "" {
		repo = RepoFullName(app.RepoURL)
	}
	if repo == "" {
		s.log.Warn("commit statuses are on, but the repository's path on the forge is unknown: set it in the app's settings", "app", app.Name)
		return nil, forge.RepoRef{}, false
	}
	token, err := s.cfg.Sealer.Open(app.ForgeToken, tokenAAD(app.ID))
	if err != nil {
		s.log.Warn("commit statuses: cannot open the forge token; save it again in the app's settings", "app", app.Name, "err", err)
		return nil, forge.RepoRef{}, false
	}
	r, err := forge.NewStatusReporter(forge.Kind(app.Forge), app.ForgeAPIURL, token, s.cfg.StatusClient)
	if err != nil {
		s.log.Warn("commit statuses", "app", app.Name, "err", err)
		return nil, forge.RepoRef{}, false
	}
	return r, forge.RepoRef{FullName: repo}, true
}

// report sends one status and logs a failure: reporting never fails, waits
// long for, or retries the work it reports on.
func (s *Service) report(ctx context.Context, app store.App, sha string, st forge.Status) {
	if sha == "" {
		return
	}
	r, repo, ok := s.statusReporter(app)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statusTimeout)
	defer cancel()
	if err := r.Report(ctx, repo, sha, st); err != nil {
		s.log.Warn("commit status not reported", "app", app.Name, "sha", short(sha), "context", st.Context, "err", err)
	}
}

// consoleLink is a console page's address, or "" without a public URL.
func (s *Service) consoleLink(path string) string {
	if s.cfg.PublicURL == "" {
		return ""
	}
	return s.cfg.PublicURL + path
}

// reportBuild tells the forge where a build is: pending while it runs,
// then success, failure or error.
func (s *Service) reportBuild(ctx context.Context, app store.App, b store.Build) {
	st := forge.Status{Context: statusContextBuild, TargetURL: s.consoleLink(fmt.Sprintf("/builds/%d", b.ID))}
	switch b.Status {
	case store.BuildQueued, store.BuildRunning:
		st.State, st.Description = forge.Pending, fmt.Sprintf("Build #%d is running", b.ID)
	case store.BuildSucceeded:
		st.State, st.Description = forge.Success, fmt.Sprintf("Build #%d succeeded", b.ID)
	case store.BuildFailed:
		st.State, st.Description = forge.Failure, fmt.Sprintf("Build #%d failed: %s", b.ID, firstLine(b.Error))
	case store.BuildCancelled:
		st.State, st.Description = forge.Error, fmt.Sprintf("Build #%d was cancelled", b.ID)
	default:
		return
	}
	s.report(ctx, app, b.CommitSHA, st)
}

// reportDeploy tells the forge where a deploy of a commit to a stage is.
// Deploys that never ran because their build failed are left to the
// build's status.
func (s *Service) reportDeploy(ctx context.Context, d store.Deploy) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statusTimeout)
	defer cancel()
	app, err := s.cfg.Store.AppByID(ctx, d.AppID)
	if err != nil || app.Forge == "" || app.ForgeToken == "" {
		return
	}
	stage, err := s.cfg.Store.StageByID(ctx, d.StageID)
	if err != nil {
		return
	}
	buildID := d.BuildID
	if buildID == nil && d.ReleaseID != nil {
		rel, err := s.cfg.Store.ReleaseByID(ctx, *d.ReleaseID)
		if err != nil {
			return
		}
		buildID = &rel.BuildID
	}
	if buildID == nil {
		return
	}
	b, err := s.cfg.Store.BuildByID(ctx, *buildID)
	if err != nil {
		return
	}
	st := forge.Status{Context: statusContextDeploy + stage.Name, TargetURL: s.consoleLink(fmt.Sprintf("/deploys/%d", d.ID))}
	switch d.Status {
	case store.DeployQueued, store.DeployRunning:
		st.State, st.Description = forge.Pending, fmt.Sprintf("Deploying to %s", stage.Name)
	case store.DeploySucceeded:
		st.State, st.Description = forge.Success, fmt.Sprintf("Live on %s", stage.Name)
	case store.DeployFailed:
		st.State, st.Description = forge.Failure, fmt.Sprintf("Deploy to %s failed: %s", stage.Name, firstLine(d.Error))
	case store.DeploySuperseded, store.DeployCancelled, store.DeployRejected:
		st.State, st.Description = forge.Error, fmt.Sprintf("Deploy to %s %s", stage.Name, d.Status)
	default:
		return
	}
	s.report(ctx, app, b.CommitSHA, st)
}
