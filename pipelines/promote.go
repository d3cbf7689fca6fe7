package pipelines

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/seedbed/seedbed/builders"
	"github.com/seedbed/seedbed/store"
)

// EForbidden: the user may not do this.
const EForbidden = "forbidden"

// PromotionPlan is what a promotion would do, shown before a user confirms.
type PromotionPlan struct {
	App           string
	From, To      store.Stage
	Release       store.Release
	Manifest      Manifest
	ChangeSet     ChangeSet
	Commits       []builders.Commit // new in the release since what To serves; newest first
	CommitsError  string            // why the commits could not be listed, if so
	NeedsApproval bool
}

// nextStage finds the stage after from in the pipeline.
func nextStage(stages []store.Stage, from store.Stage) (store.Stage, bool) {
	for i, st := range stages {
		if st.ID == from.ID && i+1 < len(stages) {
			return stages[i+1], true
		}
	}
	return store.Stage{}, false
}

// PlanPromotion works out what promoting the release live in from to the
// stage to (empty: the next stage) would change.
func (s *Service) PlanPromotion(ctx context.Context, appName, fromName, toName string) (PromotionPlan, error) {
	app, from, err := s.appStage(ctx, appName, fromName)
	if err != nil {
		return PromotionPlan{}, err
	}
	var to store.Stage
	if toName == "" {
		stages, err := s.cfg.Store.Stages(ctx, app.ID)
		if err != nil {
			return PromotionPlan{}, err
		}
		var ok bool
		if to, ok = nextStage(stages, from); !ok {
			return PromotionPlan{}, invalidf("%s is the last stage of %s's pipeline; there is nothing to promote it to.", from.Name, app.Name)
		}
	} else if _, to, err = s.appStage(ctx, appName, toName); err != nil {
		return PromotionPlan{}, err
	}
	if to.ID == from.ID {
		return PromotionPlan{}, invalidf("A stage cannot be promoted to itself.")
	}
	if from.LiveReleaseID == nil {
		return PromotionPlan{}, conflictf("Stage %s serves no release yet, so there is nothing to promote. Deploy to it first.", from.Name)
	}
	rel, err := s.cfg.Store.ReleaseByID(ctx, *from.LiveReleaseID)
	if err != nil {
		return PromotionPlan{}, err
	}
	m, err := decodeManifest(rel.Manifest)
	if err != nil {
		return PromotionPlan{}, err
	}
	current, fromRelease, err := s.servedNow(ctx, to)
	if err != nil {
		return PromotionPlan{}, err
	}
	env, secrets, err := s.stageEnv(ctx, to)
	if err != nil {
		return PromotionPlan{}, err
	}
	plan := PromotionPlan{App: app.Name, From: from, To: to, Release: rel, Manifest: m, NeedsApproval: to.Approval,
		ChangeSet: Plan(current, fromRelease, redacted(resolve(m.Functions, env, secrets)), rel.ID)}
	plan.Commits, plan.CommitsError = s.commitsBetween(ctx, app, to, m.Commit)
	return plan, nil
}

// commitsBetween lists the commits in head that the stage does not serve.
func (s *Service) commitsBetween(ctx context.Context, app store.App, stage store.Stage, head string) ([]builders.Commit, string) {
	var base string
	if stage.LiveReleaseID != nil {
		live, err := s.cfg.Store.ReleaseByID(ctx, *stage.LiveReleaseID)
		if err != nil {
			return nil, err.Error()
		}
		m, err := decodeManifest(live.Manifest)
		if err != nil {
			return nil, err.Error()
		}
		base = m.Commit
	}
	if base == head {
		return nil, ""
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	deployKey, err := s.deployKey(app)
	if err != nil {
		return nil, "The commits could not be listed: " + err.Error()
	}
	commits, err := builders.Commits(ctx, builders.FetchOptions{RepoURL: s.repoOf(app, store.Build{}), DeployKey: deployKey, Network: s.cfg.Network}, base, head, 50)
	if err != nil {
		return nil, "The commits could not be listed: " + err.Error()
	}
	return commits, ""
}

// PromoteRequest asks for the release live in one stage to go to another.
type PromoteRequest struct {
	App, From, To string // To empty: the next stage
	// ReleaseID is the release the user reviewed (the plan's); the
	// promotion is refused if From serves another one by now.
	ReleaseID uint
	// AnyLive promotes whatever From serves at the time, reviewed or not;
	// for scripts that ask for it explicitly. One of ReleaseID and AnyLive
	// must be set.
	AnyLive bool
	By      string
}

// Promote records a deploy of the release live in From to To, with no
// build: the same artifacts, To's own env. It waits for approval when To
// asks for it, else it is queued at once. When req names a release, it
// is refused (conflict) unless From still serves that release: what is
// deployed is what was reviewed.
func (s *Service) Promote(ctx context.Context, req PromoteRequest) (store.Deploy, PromotionPlan, error) {
	switch {
	case req.ReleaseID == 0 && !req.AnyLive:
		return store.Deploy{}, PromotionPlan{}, invalidf("Say which release you reviewed: send the release id of the promotion's preview (GET /api/v1/apps/%s/promotions), or ask for whatever %s serves explicitly (\"live\": true).", req.App, req.From)
	case req.ReleaseID != 0 && req.AnyLive:
		return store.Deploy{}, PromotionPlan{}, invalidf("Send either a release id or \"live\": true, not both.")
	}
	plan, err := s.PlanPromotion(ctx, req.App, req.From, req.To)
	if err != nil {
		return store.Deploy{}, plan, err
	}
	if req.ReleaseID != 0 && plan.Release.ID != req.ReleaseID {
		return store.Deploy{}, plan, conflictf("Stage %s moved on since the promotion was reviewed: %s was previewed, %s is live now. Review the promotion again.",
			plan.From.Name, s.releaseLabel(ctx, plan.Release.AppID, req.ReleaseID), s.releaseLabel(ctx, plan.Release.AppID, plan.Release.ID))
	}
	d := store.Deploy{AppID: plan.Release.AppID, StageID: plan.To.ID, BuildID: &plan.Release.BuildID, ReleaseID: &plan.Release.ID,
		SourceStageID: &plan.From.ID, Status: store.DeployQueued, TriggerKind: TriggerPromote, TriggeredBy: req.By,
		ChangeSet: encodeJSON(plan.ChangeSet)}
	if plan.NeedsApproval {
		d.Status = store.DeployAwaiting
	}
	if err := s.cfg.Store.CreateDeploy(ctx, &d); err != nil {
		return d, plan, fmt.Errorf("promote %s from %s to %s: %w", req.App, plan.From.Name, plan.To.Name, err)
	}
	if d.Status == store.DeployQueued {
		if err := s.enqueueDeploy(ctx, d.ID); err != nil {
			return d, plan, fmt.Errorf("promote %s from %s to %s: queue deploy %d: %w", req.App, plan.From.Name, plan.To.Name, d.ID, err)
		}
	} else {
		s.notify(ctx, "approval awaiting", d.ID, func(ctx context.Context, n Notifier) error { return n.ApprovalAwaiting(ctx, d) })
	}
	return d, plan, nil
}

// releaseLabel names a release for a person: "release #23 (build #29)".
func (s *Service) releaseLabel(ctx context.Context, appID, id uint) string {
	rel, err := s.cfg.Store.ReleaseByID(ctx, id)
	if err != nil || rel.AppID != appID {
		return fmt.Sprintf("release #%d", id)
	}
	return fmt.Sprintf("release #%d (build #%d)", rel.ID, rel.BuildID)
}

// RollbackRequest asks for an earlier release of a stage to be deployed again.
type RollbackRequest struct {
	App, Stage string
	ReleaseID  uint // 0: the release the stage served before its current one
	By         string
}

// Rollback records and queues a deploy of an earlier release of the stage.
// It reuses the old artifacts; it has its own change set.
func (s *Service) Rollback(ctx context.Context, req RollbackRequest) (store.Deploy, error) {
	app, st, err := s.appStage(ctx, req.App, req.Stage)
	if err != nil {
		return store.Deploy{}, err
	}
	history, err := s.cfg.Store.StageDeploys(ctx, st.ID, 500)
	if err != nil {
		return store.Deploy{}, err
	}
	var rel uint
	var buildID *uint
	for _, d := range history {
		if d.Status != store.DeploySucceeded || d.ReleaseID == nil {
			continue
		}
		if req.ReleaseID != 0 && *d.ReleaseID == req.ReleaseID {
			rel, buildID = *d.ReleaseID, d.BuildID
			break
		}
		if req.ReleaseID == 0 && (st.LiveReleaseID == nil || *d.ReleaseID != *st.LiveReleaseID) {
			rel, buildID = *d.ReleaseID, d.BuildID
			break
		}
	}
	if rel == 0 {
		if req.ReleaseID != 0 {
			return store.Deploy{}, notFoundf("Release #%d never served stage %s; roll back to a release from its history.", req.ReleaseID, st.Name)
		}
		return store.Deploy{}, conflictf("Stage %s has no earlier release to roll back to.", st.Name)
	}
	d := store.Deploy{AppID: app.ID, StageID: st.ID, BuildID: buildID, ReleaseID: &rel, Status: store.DeployQueued,
		TriggerKind: TriggerRollback, TriggeredBy: req.By}
	if err := s.cfg.Store.CreateDeploy(ctx, &d); err != nil {
		return d, fmt.Errorf("roll back %s/%s: %w", app.Name, st.Name, err)
	}
	if err := s.enqueueDeploy(ctx, d.ID); err != nil {
		return d, fmt.Errorf("roll back %s/%s: queue deploy %d: %w", app.Name, st.Name, d.ID, err)
	}
	return d, nil
}

// Approver is who decides on a promotion.
type Approver struct {
	Email      string
	IsAdmin    bool
	IsApprover bool
}

func (s *Service) awaiting(ctx context.Context, id uint, who Approver) (store.Deploy, error) {
	if !who.IsAdmin && !who.IsApprover {
		return store.Deploy{}, &Error{Code: EForbidden, Message: "Only admins and users marked as approvers may approve or reject promotions."}
	}
	d, err := s.cfg.Store.DeployByID(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return d, notFoundf("No deploy #%d.", id)
		}
		return d, err
	}
	if d.Status != store.DeployAwaiting {
		return d, conflictf("Deploy #%d is %s, not awaiting approval.", d.ID, d.Status)
	}
	return d, nil
}

// Approve lets a promotion that awaits approval go ahead.
func (s *Service) Approve(ctx context.Context, id uint, who Approver) (store.Deploy, error) {
	d, err := s.awaiting(ctx, id, who)
	if err != nil {
		return d, err
	}
	now := time.Now().UTC()
	d.Status, d.DecidedBy, d.DecidedAt = store.DeployQueued, who.Email, &now
	if err := s.cfg.Store.SaveDeploy(ctx, &d); err != nil {
		return d, err
	}
	return d, s.enqueueDeploy(ctx, d.ID)
}

// Reject turns a promotion down; the stage is not touched.
func (s *Service) Reject(ctx context.Context, id uint, who Approver, reason string) (store.Deploy, error) {
	d, err := s.awaiting(ctx, id, who)
	if err != nil {
		return d, err
	}
	now := time.Now().UTC()
	d.Status, d.DecidedBy, d.DecidedAt, d.FinishedAt = store.DeployRejected, who.Email, &now, &now
	d.Error = "Rejected by " + who.Email
	if reason != "" {
		d.Error += ": " + reason
	}
	return d, s.cfg.Store.SaveDeploy(ctx, &d)
}

// CancelDeploy stops a deploy: one that waits ends at once; one that runs
// is interrupted, and the stage keeps serving its previous release.
func (s *Service) CancelDeploy(ctx context.Context, id uint) (store.Deploy, error) {
	ok, err := s.cfg.Store.RequestDeployCancel(ctx, id)
	if err != nil {
		return store.Deploy{}, err
	}
	d, err := s.cfg.Store.DeployByID(ctx, id)
	if err != nil {
		return d, notFoundf("No deploy #%d.", id)
	}
	if !ok {
		return d, conflictf("Deploy #%d has already ended (%s).", id, d.Status)
	}
	if d.Status == store.DeployAwaiting || (d.Status == store.DeployQueued && d.ReleaseID == nil) {
		now := time.Now().UTC()
		d.Status, d.Error, d.FinishedAt = store.DeployCancelled, "Cancelled before it started.", &now
		return d, s.cfg.Store.SaveDeploy(ctx, &d)
	}
	s.interrupt(fmt.Sprintf("deploy:%d", id))
	return d, nil
}

// CancelBuild stops a build and the deploys waiting for it.
func (s *Service) CancelBuild(ctx context.Context, id uint) (store.Build, error) {
	ok, err := s.cfg.Store.RequestBuildCancel(ctx, id)
	if err != nil {
		return store.Build{}, err
	}
	b, err := s.cfg.Store.BuildByID(ctx, id)
	if err != nil {
		return b, notFoundf("No build #%d.", id)
	}
	if !ok {
		return b, conflictf("Build #%d has already ended (%s).", id, b.Status)
	}
	s.interrupt(fmt.Sprintf("build:%d", id))
	return b, nil
}

// interrupt asks the worker running a job to stop it now; a job not yet
// picked up sees its cancel flag when it starts.
func (s *Service) interrupt(taskID string) {
	if s.cfg.Canceller == nil {
		return
	}
	if err := s.cfg.Canceller.CancelProcessing(taskID); err != nil {
		s.log.Warn("interrupt job", "task", taskID, "err", err)
	}
}
