package pipelines

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/seedbed/seedbed/pipelines/forge"
	"github.com/seedbed/seedbed/store"
)

// previewStore is what preview stages need from the database.
type previewStore interface {
	SetPreviewTemplate(ctx context.Context, appID uint, stageID *uint) error
	PreviewStages(ctx context.Context, appID uint) ([]store.Stage, error)
	PreviewStage(ctx context.Context, appID uint, number int) (store.Stage, error)
	CreatePreviewStage(ctx context.Context, st *store.Stage, vars func(stageID uint) ([]store.StageVar, error)) error
	SavePreview(ctx context.Context, st store.Stage) error
}

// TriggerPreview marks builds and deploys of a preview stage asked for
// through the previews API or CLI (webhooks record TriggerWebhook).
const TriggerPreview = "preview"

// previewPosition keeps preview stages after every pipeline stage, out of
// the way of the position shifts that creating and deleting stages do.
const previewPosition = 1 << 30

// How long closing a preview waits for a deploy running on it to end.
const previewCloseWait = 30 * time.Second

// PreviewName is the name of the preview stage of pull request number.
func PreviewName(number int) string { return fmt.Sprintf("pr-%d", number) }

// Previews is an app's preview setting and its preview stages.
type Previews struct {
	// Template is the stage preview stages are cloned from; empty when the
	// app has no preview stages.
	Template string
	Stages   []store.Stage // open and closed, newest pull request first
}

// Previews lists an app's preview stages and its template stage.
func (s *Service) Previews(ctx context.Context, appName string) (Previews, error) {
	app, err := s.previewApp(ctx, appName)
	if err != nil {
		return Previews{}, err
	}
	return s.previewsOf(ctx, app)
}

func (s *Service) previewsOf(ctx context.Context, app store.App) (Previews, error) {
	var out Previews
	if app.PreviewTemplateID != nil {
		tmpl, err := s.cfg.Store.StageByID(ctx, *app.PreviewTemplateID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return out, err
		}
		out.Template = tmpl.Name
	}
	stages, err := s.cfg.Store.PreviewStages(ctx, app.ID)
	if err != nil {
		return out, err
	}
	out.Stages = stages
	return out, nil
}

func (s *Service) previewApp(ctx context.Context, appName string) (store.App, error) {
	app, err := s.cfg.Store.AppByName(ctx, appName)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return app, notFoundf("No app named %q. `seedbed apps list` shows the apps.", appName)
		}
		return app, err
	}
	return app, nil
}

// EnablePreviews gives an app a preview stage per pull request, cloned from
// the pipeline stage named template; an empty template turns previews off
// (existing preview stages stay until their requests close).
func (s *Service) EnablePreviews(ctx context.Context, appName, template string) (Previews, error) {
	app, err := s.previewApp(ctx, appName)
	if err != nil {
		return Previews{}, err
	}
	var id *uint
	if template = strings.TrimSpace(template); template != "" {
		_, st, err := s.appStage(ctx, appName, template)
		if err != nil {
			return Previews{}, err
		}
		if st.PRNumber != nil {
			return Previews{}, invalidf("Stage %s is itself a preview stage; name a pipeline stage such as dev as the template.", st.Name)
		}
		id = &st.ID
	}
	if err := s.cfg.Store.SetPreviewTemplate(ctx, app.ID, id); err != nil {
		return Previews{}, err
	}
	app.PreviewTemplateID = id
	return s.previewsOf(ctx, app)
}

// PreviewRequest asks for a pull request's head to be built and deployed to
// its preview stage.
type PreviewRequest struct {
	Number     int
	HeadBranch string
	Commit     string // the commit to build; empty: the head branch
	Title      string
	Trigger    string
	By         string
}

// PreviewResult is the preview stage a request deployed to, with the build
// and deploy it started.
type PreviewResult struct {
	Stage   store.Stage
	Created bool // the stage was cloned from the template just now
	Build   store.Build
	Deploy  store.Deploy
}

// OpenPreview creates the preview stage pr-N of a pull request, cloned from
// the app's template stage (variables, secrets re-sealed for the new stage,
// target), or opens a closed one again, then builds and deploys the commit
// to it. For a preview stage that is open already it is UpdatePreview.
func (s *Service) OpenPreview(ctx context.Context, appName string, req PreviewRequest) (PreviewResult, error) {
	return s.deployPreview(ctx, appName, req, true)
}

// UpdatePreview builds and deploys a new head of a pull request to its
// preview stage, creating the stage if it is missing. A closed preview
// stage takes no deploys until it is opened again.
func (s *Service) UpdatePreview(ctx context.Context, appName string, req PreviewRequest) (PreviewResult, error) {
	return s.deployPreview(ctx, appName, req, false)
}

func (s *Service) deployPreview(ctx context.Context, appName string, req PreviewRequest, reopen bool) (PreviewResult, error) {
	app, err := s.previewApp(ctx, appName)
	if err != nil {
		return PreviewResult{}, err
	}
	if req.Number <= 0 {
		return PreviewResult{}, invalidf("Give the pull request's number (a positive integer, e.g. 7).")
	}
	req.HeadBranch, req.Commit = strings.TrimSpace(req.HeadBranch), strings.TrimSpace(req.Commit)
	ref := req.Commit
	if ref == "" {
		ref = req.HeadBranch
	}
	if ref == "" {
		return PreviewResult{}, invalidf("Give the commit to deploy to %s, or the pull request's head branch.", PreviewName(req.Number))
	}
	if strings.ContainsAny(ref, " ~^:?*[\\") || strings.HasPrefix(ref, "-") || strings.Contains(ref, "..") {
		return PreviewResult{}, invalidf("%q is not a branch or commit.", ref)
	}
	var res PreviewResult
	st, err := s.cfg.Store.PreviewStage(ctx, app.ID, req.Number)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if st, err = s.clonePreview(ctx, app, req); err != nil {
			return res, err
		}
		res.Created = true
	case err != nil:
		return res, err
	case st.ClosedAt != nil && !reopen:
		return res, conflictf("Preview stage %s is closed; open it again (`seedbed previews open %s %d --commit SHA`) to deploy to it.", st.Name, app.Name, req.Number)
	default:
		changed := st.ClosedAt != nil || (req.HeadBranch != "" && req.HeadBranch != st.PRBranch) || (req.Title != "" && req.Title != st.PRTitle)
		st.ClosedAt = nil
		if req.HeadBranch != "" {
			st.PRBranch = req.HeadBranch
		}
		if req.Title != "" {
			st.PRTitle = req.Title
		}
		if changed {
			if err := s.cfg.Store.SavePreview(ctx, st); err != nil {
				return res, err
			}
		}
	}
	res.Stage = st
	b, ds, err := s.buildAndDeploy(ctx, app, store.Build{Ref: ref}, []store.Stage{st}, req.Trigger, req.By)
	if err != nil {
		return res, fmt.Errorf("deploy %s to %s: %w", app.Name, st.Name, err)
	}
	res.Build, res.Deploy = b, ds[0]
	return res, nil
}

// clonePreview creates the preview stage of a pull request from the app's
// template stage.
func (s *Service) clonePreview(ctx context.Context, app store.App, req PreviewRequest) (store.Stage, error) {
	if app.PreviewTemplateID == nil {
		return store.Stage{}, conflictf("App %s has no preview stages; turn them on with a template stage first: `seedbed previews enable %s --template dev`.", app.Name, app.Name)
	}
	tmpl, err := s.cfg.Store.StageByID(ctx, *app.PreviewTemplateID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return tmpl, conflictf("The template stage of %s's previews was deleted; name another one: `seedbed previews enable %s --template dev`.", app.Name, app.Name)
		}
		return tmpl, err
	}
	vars, err := s.cfg.Store.StageVars(ctx, tmpl.ID)
	if err != nil {
		return tmpl, err
	}
	number := req.Number
	st := store.Stage{AppID: app.ID, Name: PreviewName(number), Position: previewPosition, Target: tmpl.Target, Kubernetes: tmpl.Kubernetes,
		PRNumber: &number, PRBranch: req.HeadBranch, PRTitle: req.Title}
	if st.Target == "" {
		st.Target = "local"
	}
	err = s.cfg.Store.CreatePreviewStage(ctx, &st, func(id uint) ([]store.StageVar, error) {
		out := make([]store.StageVar, 0, len(vars))
		for _, v := range vars {
			if v.Secret {
				if s.cfg.Sealer == nil {
					return nil, fmt.Errorf("copy secret %s of stage %s: no secret key configured", v.Key, tmpl.Name)
				}
				plain, err := s.cfg.Sealer.Open(v.Value, secretAAD(tmpl.ID, v.Key))
				if err != nil {
					return nil, fmt.Errorf("copy secret %s of stage %s: %w", v.Key, tmpl.Name, err)
				}
				if v.Value, err = s.cfg.Sealer.Seal(plain, secretAAD(id, v.Key)); err != nil {
					return nil, err
				}
			}
			out = append(out, store.StageVar{Key: v.Key, Value: v.Value, Secret: v.Secret})
		}
		return out, nil
	})
	if errors.Is(err, store.ErrConflict) {
		// Two deliveries for one request may race to create it.
		if existing, lookErr := s.cfg.Store.PreviewStage(ctx, app.ID, number); lookErr == nil {
			return existing, nil
		}
		return st, conflictf("App %s has a pipeline stage named %s already; delete it (`seedbed stages delete %s %s`) to give pull request #%d a preview stage.", app.Name, st.Name, app.Name, st.Name, number)
	}
	if err != nil {
		return st, fmt.Errorf("open preview of %s #%d: %w", app.Name, number, err)
	}
	return st, nil
}

// ClosePreview stops the functions of a pull request's preview stage and
// marks it closed: its row and deploys stay as history, its routes answer
// 404, and deploys still waiting for it are cancelled. The remove hooks of
// the release it served run around the stop, unless opt says not to; a
// failing before_remove hook leaves the preview open and serving. Closing
// a closed preview stage again does no harm.
func (s *Service) ClosePreview(ctx context.Context, appName string, number int, opt RemoveOptions) (store.Stage, error) {
	app, err := s.previewApp(ctx, appName)
	if err != nil {
		return store.Stage{}, err
	}
	st, err := s.cfg.Store.PreviewStage(ctx, app.ID, number)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return st, notFoundf("App %s has no preview stage for pull request #%d. `seedbed previews list %s` shows them.", app.Name, number, app.Name)
		}
		return st, err
	}
	// What it serves, for the remove hooks: closing clears it.
	wasOpen, liveRelease, liveDeploy := st.ClosedAt == nil, st.LiveReleaseID, st.LiveDeployID
	if st.ClosedAt == nil {
		now := time.Now().UTC()
		st.ClosedAt = &now
	}
	// Closed first: a deploy that takes the stage's lock from now on
	// refuses to apply (see apply).
	if err := s.cfg.Store.SavePreview(ctx, st); err != nil {
		return st, err
	}
	history, err := s.cfg.Store.StageDeploys(ctx, st.ID, 100)
	if err != nil {
		return st, err
	}
	for _, d := range history {
		if !d.Finished() {
			if _, err := s.CancelDeploy(ctx, d.ID); err != nil && ErrorCode(err) != EConflict {
				return st, fmt.Errorf("close %s: %w", st.Name, err)
			}
		}
	}
	// Wait for a deploy applying right now to end, so that it cannot bring
	// the functions back after they are stopped.
	owner := fmt.Sprintf("%s:close:%d", s.cfg.NodeID, st.ID)
	deadline := time.Now().Add(previewCloseWait)
	for {
		ok, err := s.cfg.Store.TryLockStage(ctx, st.ID, owner, lockTTL)
		if err != nil {
			return st, err
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			return st, conflictf("A deploy is still running on %s; close it again in a minute.", st.Name)
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(lockPollGap):
		}
	}
	defer func() {
		unlockCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := s.cfg.Store.UnlockStage(unlockCtx, st.ID, owner); err != nil {
			s.log.Error("unlock stage", "stage", st.ID, "err", err)
		}
	}()
	// Fresh: a deploy that ended while we waited set the live release,
	// whose remove hooks are the ones to run.
	fresh, err := s.cfg.Store.StageByID(ctx, st.ID)
	if err != nil {
		return st, err
	}
	if fresh.LiveReleaseID != nil {
		liveRelease, liveDeploy = fresh.LiveReleaseID, fresh.LiveDeployID
	}
	fresh.LiveReleaseID, fresh.LiveDeployID = liveRelease, liveDeploy
	downErr := s.takeDown(ctx, "close", app, fresh, opt)
	var after *afterRemoveError
	if downErr != nil && !errors.As(downErr, &after) {
		if wasOpen { // nothing was taken down: the preview stays open
			st.ClosedAt = nil
			if err := s.cfg.Store.SavePreview(ctx, st); err != nil {
				return st, fmt.Errorf("%w; opening it again failed: %v", downErr, err)
			}
			if liveRelease != nil && liveDeploy != nil {
				if err := s.cfg.Store.SetStageLive(ctx, st.ID, *liveRelease, *liveDeploy); err != nil {
					return st, fmt.Errorf("%w; restoring its live release failed: %v", downErr, err)
				}
			}
		}
		return st, downErr
	}
	if err := s.cfg.Store.SavePreview(ctx, st); err != nil {
		return st, err
	}
	closed, err := s.cfg.Store.StageByID(ctx, st.ID)
	if err != nil {
		return closed, err
	}
	return closed, finishedDespite(downErr, fmt.Sprintf("Preview %s is closed.", st.Name))
}

// HandlePullRequest turns a verified pull request event into a preview
// stage opened, updated or closed, when the app has preview stages. Pull
// requests from forks are ignored: their code would run with the app's
// secrets.
func (s *Service) HandlePullRequest(ctx context.Context, appName string, ev forge.Event) (PushResult, error) {
	app, err := s.previewApp(ctx, appName)
	if err != nil {
		return PushResult{}, err
	}
	pr := ev.PR
	if pr == nil {
		return PushResult{Ignored: "the pull request event names no pull request"}, nil
	}
	if app.PreviewTemplateID == nil {
		return PushResult{Ignored: fmt.Sprintf("pull request #%d: this app has no preview stages; turn them on with `seedbed previews enable %s --template dev`", pr.Number, app.Name)}, nil
	}
	if pr.Fork {
		return PushResult{Ignored: fmt.Sprintf("pull request #%d comes from the fork %s: Seedbed does not build forks' code with the app's secrets", pr.Number, pr.HeadRepo)}, nil
	}
	commit := pr.HeadSHA
	if commit == "" {
		commit = ev.After
	}
	req := PreviewRequest{Number: pr.Number, HeadBranch: pr.HeadBranch, Commit: commit, Title: pr.Title, Trigger: TriggerWebhook, By: ev.Sender}
	var res PreviewResult
	switch pr.Action {
	case forge.Opened, forge.Reopened:
		res, err = s.OpenPreview(ctx, app.Name, req)
	case forge.Updated:
		res, err = s.UpdatePreview(ctx, app.Name, req)
	case forge.Closed:
		st, err := s.ClosePreview(ctx, app.Name, pr.Number, RemoveOptions{})
		if ErrorCode(err) == ENotFound {
			return PushResult{Ignored: fmt.Sprintf("pull request #%d closed; it had no preview stage", pr.Number)}, nil
		}
		if err != nil {
			return PushResult{}, err
		}
		return PushResult{Done: fmt.Sprintf("pull request #%d closed: preview stage %s stopped, its history kept", pr.Number, st.Name)}, nil
	default:
		return PushResult{Ignored: fmt.Sprintf("pull request #%d %s: nothing to do", pr.Number, pr.Action)}, nil
	}
	if ErrorCode(err) == EConflict {
		return PushResult{Ignored: ErrorMessage(err)}, nil
	}
	if err != nil {
		return PushResult{}, err
	}
	return PushResult{Build: &res.Build, Deploys: []store.Deploy{res.Deploy}, Stages: []string{res.Stage.Name}}, nil
}
