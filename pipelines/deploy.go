package pipelines

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
)

// How long a stage's deploy lock lasts without being renewed, and how often
// a running deploy renews it. A crashed process's lock frees itself after
// lockTTL; a restarted one frees its own at once (see Restore).
const (
	lockTTL     = 20 * time.Second
	lockRenew   = 5 * time.Second
	lockPollGap = 200 * time.Millisecond
)

// ApplyDeploy runs one recorded deploy whose release is ready: it waits for
// the stage's deploy lock, plans the change set against what the stage
// serves, applies it on the target and records the stage's new live release.
// A deploy overtaken while it waited by a newer one of the same stage ends as
// superseded. Running it again for a finished deploy does nothing.
func (s *Service) ApplyDeploy(ctx context.Context, id uint) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DeployTimeout)
	defer cancel()
	d, err := s.cfg.Store.DeployByID(ctx, id)
	if err != nil {
		return fmt.Errorf("apply deploy %d: %w", id, err)
	}
	if d.Finished() || d.ReleaseID == nil || d.Status == store.DeployAwaiting {
		return nil
	}
	app, err := s.cfg.Store.AppByID(ctx, d.AppID)
	if err != nil {
		return fmt.Errorf("apply deploy %d: %w", id, err)
	}
	stage, err := s.cfg.Store.StageByID(ctx, d.StageID)
	if err != nil {
		return fmt.Errorf("apply deploy %d: %w", id, err)
	}
	env, secrets, envErr := s.stageEnv(ctx, stage)
	log := newLogSink(s.cfg.Store, store.LogDeploy, d.ID, s.log, secrets)
	defer log.Close()
	if envErr != nil {
		return s.finishDeploy(ctx, &d, store.DeployFailed, envErr.Error(), log)
	}
	if d.CancelRequested {
		return s.finishDeploy(ctx, &d, store.DeployCancelled, "Cancelled before it started; the stage kept what it served.", log)
	}

	owner := fmt.Sprintf("%s:deploy:%d", s.cfg.NodeID, d.ID)
	locked, superseded, err := s.waitForStage(ctx, d, owner, log)
	if errors.Is(err, errCancelled) {
		return s.finishDeploy(ctx, &d, store.DeployCancelled, "Cancelled while it waited; the stage kept what it served.", log)
	}
	if err != nil {
		return fmt.Errorf("deploy %s to %s: %w", app.Name, stage.Name, err)
	}
	if superseded != nil {
		return s.finishDeploy(ctx, &d, store.DeploySuperseded, fmt.Sprintf("Superseded by deploy #%d, requested later.", superseded.ID), log)
	}
	if !locked {
		return fmt.Errorf("deploy %s to %s: stage lock not taken", app.Name, stage.Name)
	}
	renewCtx, stopRenew := context.WithCancel(ctx)
	defer func() {
		stopRenew()
		unlockCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := s.cfg.Store.UnlockStage(unlockCtx, stage.ID, owner); err != nil {
			s.log.Error("unlock stage", "stage", stage.ID, "err", err)
		}
	}()
	go s.renewLock(renewCtx, stage.ID, owner)

	if d.Status == store.DeployRunning {
		log.Printf("Seedbed restarted while this deploy ran; applying it again.")
	}
	now := time.Now().UTC()
	d.Status, d.StartedAt = store.DeployRunning, &now
	if err := s.cfg.Store.SaveDeploy(ctx, &d); err != nil {
		return fmt.Errorf("deploy %s to %s: %w", app.Name, stage.Name, err)
	}
	s.reportDeploy(ctx, d)

	applyErr := s.apply(ctx, app, stage, &d, env, log)
	if applyErr != nil && ctx.Err() != nil && !isDeadline(ctx) {
		if s.cancelRequested(d.ID) {
			return s.finishDeploy(ctx, &d, store.DeployCancelled, "Cancelled while it ran; the stage kept serving its previous release.", log)
		}
		return fmt.Errorf("deploy %s to %s interrupted: %w", app.Name, stage.Name, ctx.Err())
	}
	if applyErr != nil {
		return s.finishDeploy(ctx, &d, store.DeployFailed, applyErr.Error(), log)
	}
	return s.finishDeploy(ctx, &d, store.DeploySucceeded, "", log)
}

func isDeadline(ctx context.Context) bool { return ctx.Err() == context.DeadlineExceeded }

// cancelRequested reads, with a context of its own, whether a user asked
// for the deploy to stop: the job's context is already done by then.
func (s *Service) cancelRequested(id uint) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := s.cfg.Store.DeployByID(ctx, id)
	return err == nil && d.CancelRequested
}

// servedNow returns what a stage serves, as recorded by its live deploy,
// with env values as digests.
func (s *Service) servedNow(ctx context.Context, stage store.Stage) ([]targets.Function, uint, error) {
	if stage.LiveReleaseID == nil {
		return nil, 0, nil
	}
	if stage.LiveDeployID != nil {
		live, err := s.cfg.Store.DeployByID(ctx, *stage.LiveDeployID)
		if err == nil && live.Applied != "" {
			var fns []targets.Function
			if err := json.Unmarshal([]byte(live.Applied), &fns); err != nil {
				return nil, 0, fmt.Errorf("decode what deploy %d applied: %w", live.ID, err)
			}
			return fns, *stage.LiveReleaseID, nil
		}
	}
	rel, err := s.cfg.Store.ReleaseByID(ctx, *stage.LiveReleaseID)
	if err != nil {
		return nil, 0, err
	}
	m, err := decodeManifest(rel.Manifest)
	if err != nil {
		return nil, 0, err
	}
	return redacted(m.Functions), rel.ID, nil
}

func (s *Service) apply(ctx context.Context, app store.App, stage store.Stage, d *store.Deploy, env map[string]string, log *logSink) error {
	rel, err := s.cfg.Store.ReleaseByID(ctx, *d.ReleaseID)
	if err != nil {
		return err
	}
	m, err := decodeManifest(rel.Manifest)
	if err != nil {
		return err
	}
	// Plan against the stage's recorded state, fresh from the database now
	// that the lock is held.
	stage, err = s.cfg.Store.StageByID(ctx, stage.ID)
	if err != nil {
		return err
	}
	if stage.ClosedAt != nil {
		return fmt.Errorf("preview stage %s is closed; open it again to deploy to it", stage.Name)
	}
	current, fromID, err := s.servedNow(ctx, stage)
	if err != nil {
		return err
	}
	next := withRelease(resolve(m.Functions, env, log.mask), rel.ID)
	cs := Plan(current, fromID, redacted(next), rel.ID)
	d.ChangeSet = encodeJSON(cs)
	d.Applied = encodeJSON(redacted(next))
	if err := s.cfg.Store.SaveDeploy(ctx, d); err != nil {
		return err
	}
	log.Printf("Deploying release #%d (build #%d, %s) to %s: %s", rel.ID, rel.BuildID, short(m.Commit), stage.Name, cs.Summary())
	for _, c := range cs.Functions {
		if c.Kind != ChangeKeep {
			log.Printf("  %s %s", c.Kind, c.Key)
		}
	}
	removed, err := s.plannedRemoval(ctx, stage, m)
	if err != nil {
		return err
	}
	if err := s.runRemoveHooks(ctx, hookBeforeRemove, app, stage, removed, env, log); err != nil {
		return fmt.Errorf("stage %s keeps serving its previous release: %s", stage.Name, log.mask.mask(err.Error()))
	}
	phases := phasesOf(m)
	if err := s.applyInPhases(ctx, app, stage, rel, m, phases, next, env, log); err != nil {
		return err
	}
	if err := s.cfg.Store.SetStageLive(ctx, stage.ID, rel.ID, d.ID); err != nil {
		return err
	}
	if err := s.runRemoveHooks(ctx, hookAfterRemove, app, stage, removed, env, log); err != nil {
		return fmt.Errorf("stage %s already serves release #%d; its after_remove hook failed: %s", stage.Name, rel.ID, log.mask.mask(err.Error()))
	}
	// The last phase's after_deploy hooks run once the stage is recorded
	// live, as they would in a deploy of one phase.
	if err := s.runDeployHooks(ctx, hookAfterDeploy, app, stage, rel, manifestOf(m, phases[len(phases)-1].services), env, log); err != nil {
		return fmt.Errorf("stage %s already serves release #%d; its after_deploy hook failed: %s", stage.Name, rel.ID, log.mask.mask(err.Error()))
	}
	return nil
}

func (s *Service) finishDeploy(ctx context.Context, d *store.Deploy, status, msg string, log *logSink) error {
	now := time.Now().UTC()
	msg = log.mask.mask(msg) // the console shows it beside the log
	d.Status, d.Error, d.FinishedAt = status, msg, &now
	switch status {
	case store.DeploySucceeded:
		log.Printf("Deploy succeeded.")
	case store.DeployFailed:
		log.Printf("Deploy failed: %s", msg)
	default:
		log.Printf("%s", msg)
	}
	saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	log.Sync()
	if err := s.cfg.Store.SaveDeploy(saveCtx, d); err != nil {
		return fmt.Errorf("record end of deploy %d: %w", d.ID, err)
	}
	s.reportDeploy(saveCtx, *d)
	if status == store.DeployFailed {
		s.notify(saveCtx, "deploy failed", d.ID, func(ctx context.Context, n Notifier) error { return n.DeployFailed(ctx, *d) })
	}
	return nil
}

// errCancelled ends a wait that a user cancelled.
var errCancelled = errors.New("cancelled")

// waitForStage blocks until owner holds the stage's deploy lock, or a newer
// deploy of the same stage with its release ready has overtaken d.
func (s *Service) waitForStage(ctx context.Context, d store.Deploy, owner string, log *logSink) (bool, *store.Deploy, error) {
	waiting := false
	for {
		if newer, err := s.newerReady(ctx, d); err != nil || newer != nil {
			return false, newer, err
		}
		if cur, err := s.cfg.Store.DeployByID(ctx, d.ID); err == nil && cur.CancelRequested {
			return false, nil, errCancelled
		}
		ok, err := s.cfg.Store.TryLockStage(ctx, d.StageID, owner, lockTTL)
		if err != nil {
			return false, nil, err
		}
		if ok {
			// A newer deploy may have become ready while we took the lock.
			newer, err := s.newerReady(ctx, d)
			if err != nil || newer != nil {
				_ = s.cfg.Store.UnlockStage(context.WithoutCancel(ctx), d.StageID, owner)
				return false, newer, err
			}
			return true, nil, nil
		}
		if !waiting {
			waiting = true
			log.Printf("Waiting for the deploy that is running on this stage to finish.")
		}
		select {
		case <-ctx.Done():
			return false, nil, ctx.Err()
		case <-time.After(lockPollGap):
		}
	}
}

func (s *Service) newerReady(ctx context.Context, d store.Deploy) (*store.Deploy, error) {
	newer, err := s.cfg.Store.NewerDeploys(ctx, d)
	if err != nil {
		return nil, err
	}
	for i := len(newer) - 1; i >= 0; i-- {
		if newer[i].ReleaseID != nil {
			return &newer[i], nil
		}
	}
	return nil, nil
}

func (s *Service) renewLock(ctx context.Context, stageID uint, owner string) {
	t := time.NewTicker(lockRenew)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.cfg.Store.TryLockStage(ctx, stageID, owner, lockTTL); err != nil && ctx.Err() == nil {
				s.log.Error("renew stage lock", "stage", stageID, "err", err)
			}
		}
	}
}

// Restore makes the target serve every stage's live release again, as after
// a restart of Seedbed, and frees the stage locks this node held before.
// It returns the first error after trying every stage.
func (s *Service) Restore(ctx context.Context) error {
	if err := s.cfg.Store.ReleaseStageLocks(ctx, s.cfg.NodeID+":"); err != nil {
		return err
	}
	stages, err := s.cfg.Store.AllStages(ctx)
	if err != nil {
		return fmt.Errorf("restore stages: %w", err)
	}
	var first error
	for _, st := range stages {
		if st.LiveReleaseID == nil {
			continue
		}
		if err := s.restoreStage(ctx, st); err != nil {
			s.log.Error("restore stage", "stage", st.Name, "err", err)
			if first == nil {
				first = err
			}
		}
	}
	return first
}

func (s *Service) restoreStage(ctx context.Context, st store.Stage) error {
	app, err := s.cfg.Store.AppByID(ctx, st.AppID)
	if err != nil {
		return err
	}
	rel, err := s.cfg.Store.ReleaseByID(ctx, *st.LiveReleaseID)
	if err != nil {
		return err
	}
	m, err := decodeManifest(rel.Manifest)
	if err != nil {
		return err
	}
	env, secrets, err := s.stageEnv(ctx, st)
	if err != nil {
		return err
	}
	ref := targets.StageRef{App: app.Name, Stage: st.Name}
	if err := s.cfg.Target.Apply(ctx, ref, withRelease(resolve(m.Functions, env, secrets), rel.ID), slogPrinter{s.log.With("stage", ref.String()), secrets}); err != nil {
		return fmt.Errorf("restore %s (release #%d): %s", ref, rel.ID, secrets.mask(err.Error()))
	}
	s.log.Info("restored stage", "stage", ref.String(), "release", rel.ID, "functions", len(m.Functions))
	return nil
}

// slogPrinter sends a target's progress lines to Seedbed's own log,
// secrets masked.
type slogPrinter struct {
	log  interface{ Info(string, ...any) }
	mask masker
}

func (p slogPrinter) Printf(format string, args ...any) {
	p.log.Info(p.mask.mask(fmt.Sprintf(format, args...)))
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}
