package pipelines

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/seedbed/seedbed/builders"
	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
)

// RunBuild runs one recorded build: checkout, hooks, build, package, then
// records its artifacts and release and queues the deploys that wait for it.
// Running it again for a finished build does nothing; for a build that was
// interrupted, it starts over.
func (s *Service) RunBuild(ctx context.Context, id uint) error {
	b, err := s.cfg.Store.BuildByID(ctx, id)
	if err != nil {
		return fmt.Errorf("run build %d: %w", id, err)
	}
	if b.Finished() {
		return s.queueWaitingDeploys(ctx, b)
	}
	app, err := s.cfg.Store.AppByID(ctx, b.AppID)
	if err != nil {
		return fmt.Errorf("run build %d: %w", id, err)
	}
	secrets, err := s.appSecrets(ctx, app)
	if err != nil {
		return fmt.Errorf("run build %d: %w", id, err)
	}
	log := newLogSink(s.cfg.Store, store.LogBuild, b.ID, s.log, secrets)
	defer log.Close()
	if b.Status == store.BuildRunning {
		log.Printf("Seedbed restarted while this build ran; starting it over.")
	}
	now := time.Now().UTC()
	b.Status, b.StartedAt, b.Error = store.BuildRunning, &now, ""
	if err := s.cfg.Store.SaveBuild(ctx, &b); err != nil {
		return fmt.Errorf("run build %d: %w", id, err)
	}

	var buildErr error
	timedOut := false
	if !b.CancelRequested {
		// The job's own deadline (asynq's Timeout) is the same limit; this
		// one also holds when RunBuild is called without a queue.
		buildCtx, cancel := ctx, context.CancelFunc(func() {})
		if s.cfg.BuildTimeout > 0 {
			buildCtx, cancel = context.WithTimeout(ctx, s.cfg.BuildTimeout)
		}
		buildErr = s.build(buildCtx, app, &b, log)
		timedOut = buildErr != nil && errors.Is(buildCtx.Err(), context.DeadlineExceeded)
		cancel()
	}
	cancelled := b.CancelRequested || (buildErr != nil && ctx.Err() != nil && s.buildCancelRequested(b.ID))
	if !cancelled && buildErr != nil && ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		// Shutting down, not failing: leave it running for Recover.
		return fmt.Errorf("build %d interrupted: %w", id, ctx.Err())
	}
	end := time.Now().UTC()
	b.FinishedAt = &end
	switch {
	case cancelled:
		b.Status, b.Error = store.BuildCancelled, "Cancelled by request."
		log.Printf("Build cancelled after %s; its processes were stopped.", end.Sub(*b.StartedAt).Round(time.Millisecond))
	case timedOut:
		b.Status = store.BuildFailed
		b.Error = fmt.Sprintf("The build exceeded its time limit of %s (SEEDBED_BUILD_TIMEOUT) and was stopped with every process it started. It was at: %s",
			shortDuration(s.cfg.BuildTimeout), log.mask.mask(buildErr.Error()))
		log.Printf("%s", b.Error)
	case buildErr != nil:
		b.Status, b.Error = store.BuildFailed, log.mask.mask(buildErr.Error())
		log.Printf("Build failed after %s: %s", end.Sub(*b.StartedAt).Round(time.Millisecond), firstLine(buildErr.Error()))
	default:
		b.Status = store.BuildSucceeded
		log.Printf("Build succeeded in %s", end.Sub(*b.StartedAt).Round(time.Millisecond))
	}
	// The outcome must be stored even if the job's time ran out.
	saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	log.Sync()
	if err := s.cfg.Store.SaveBuild(saveCtx, &b); err != nil {
		return fmt.Errorf("run build %d: %w", id, err)
	}
	s.reportBuild(saveCtx, app, b)
	if b.Status == store.BuildFailed {
		s.notify(saveCtx, "build failed", b.ID, func(ctx context.Context, n Notifier) error { return n.BuildFailed(ctx, b) })
	}
	return s.queueWaitingDeploys(saveCtx, b)
}

func (s *Service) build(ctx context.Context, app store.App, b *store.Build, log *logSink) error {
	// In the builder's scratch folder, so that a checkout a killed
	// process leaves is removed at the next start.
	dir, err := s.cfg.Builder.TempDir(fmt.Sprintf("build-%d-", b.ID))
	if err != nil {
		return fmt.Errorf("make checkout dir: %w", err)
	}
	defer os.RemoveAll(dir)

	source := s.repoOf(app, *b)
	// A build whose commit is known when it is recorded (a push or a
	// webhook) checks out that commit, not what its ref points to now.
	at, what := b.Ref, b.Ref
	if b.CommitSHA != "" {
		at, what = b.CommitSHA, fmt.Sprintf("%s (%s)", b.Ref, short(b.CommitSHA))
	}
	log.Printf("Build #%d of %s: %s at %s", b.ID, app.Name, source, what)
	deployKey, err := s.deployKey(app)
	if err != nil {
		return err
	}
	fetch := builders.FetchOptions{RepoURL: source, Ref: at, DeployKey: deployKey, Dir: dir, Network: s.cfg.Network}
	if b.Source != "" {
		fetch.SourceBranch = b.SourceBranch
	}
	phases := &phaseRecorder{}
	defer func() { b.Phases = phases.encode() }()
	checkoutStart := time.Now().UTC()
	co, err := builders.Fetch(ctx, fetch, log)
	phases.add(builders.Phase{Name: builders.PhaseCheckout, Start: checkoutStart, End: time.Now().UTC()})
	if err != nil {
		return fmt.Errorf("checkout: %w", err)
	}
	b.CommitSHA, b.CommitMessage, b.CommitAuthor = co.CommitSHA, co.Message, co.Author
	if err := s.cfg.Store.SaveBuild(ctx, b); err != nil {
		return err
	}
	s.reportBuild(ctx, app, *b) // pending, now that the commit is known

	st, err := stack.ParseFile(co.Dir)
	if err != nil {
		log.Printf("%s is not valid; nothing was built or deployed:", stack.FileName)
		for _, line := range strings.Split(err.Error(), "\n") {
			log.Line("stderr", line)
		}
		return fmt.Errorf("%s is not valid: %w", stack.FileName, err)
	}
	if err := s.syncStages(ctx, app, st.Stages, log); err != nil {
		return err
	}
	stage, err := s.buildStage(ctx, *b)
	if err != nil {
		return err
	}
	plan, err := s.planIncremental(ctx, *b, stage, co, st, log)
	if err != nil {
		return err
	}
	vars := builders.Vars{App: app.Name, BuildID: b.ID, Commit: co.CommitSHA}
	prefer := []string{app.Branch}
	if stage != nil {
		vars.Stage = stage.Name
		prefer = append([]string{stage.Branch}, prefer...)
	}
	vars.Branch = builders.BranchOf(co.Dir, b.Ref, co.CommitSHA, prefer...)
	if b.Source != "" {
		// A push to the built-in remote: its checkout holds only the
		// pinned commit, and the push said which branch or tag moved.
		vars.Branch = ""
		if stage == nil || !strings.HasPrefix(stage.Branch, "tag:") {
			vars.Branch = b.Ref
		}
	}
	var outs []builders.Output
	if plan.only == nil || len(plan.only) > 0 {
		outs, err = s.cfg.Builder.BuildWith(ctx, builders.BuildOptions{Dir: co.Dir, Stack: st, CacheKey: app.Name, AppID: app.ID,
			Only: plan.only, Vars: vars, Phase: phases.add}, log)
		if err != nil {
			return err
		}
	} else {
		log.Printf("Nothing changed since the live release: every artifact is reused.")
	}
	digests := map[string]builders.Output{}
	var arts []store.Artifact
	for _, o := range outs {
		digests[o.Service+"/"+o.Function] = o
		arts = append(arts, store.Artifact{Service: o.Service, Function: o.Function, Digest: o.Digest, Size: o.Size})
	}
	for _, svc := range st.Services {
		for _, fn := range svc.Functions {
			if a, ok := plan.reused[svc.Name+"/"+fn.Name]; ok {
				digests[a.Service+"/"+a.Function] = builders.Output{Service: a.Service, Function: a.Function, Digest: a.Digest, Size: a.Size}
				arts = append(arts, a)
			}
		}
	}
	if err := s.cfg.Store.ReplaceArtifacts(ctx, b.ID, arts); err != nil {
		return err
	}
	m := Manifest{App: app.Name, BuildID: b.ID, Commit: co.CommitSHA, Message: co.Message, Author: co.Author, Branch: vars.Branch}
	m.Queues, m.SchedulesOff = st.Queues, schedulesOff(st.Stages)
	for _, svc := range st.Services {
		if spec := serviceSpecOf(svc); spec != nil {
			m.Services = append(m.Services, *spec)
		}
		for _, fn := range svc.Functions {
			o, ok := digests[svc.Name+"/"+fn.Name]
			if !ok {
				return fmt.Errorf("service %s: function %s was not packaged", svc.Name, fn.Name)
			}
			m.Functions = append(m.Functions, targets.Function{
				Service: svc.Name, Name: fn.Name, Runtime: svc.Runtime, Kind: fn.Kind, Handler: fn.Handler,
				Digest: o.Digest, Routes: fn.Routes, Env: fn.Env, Timeout: fn.Timeout, IdleTimeout: fn.IdleTimeout, BodyLimit: fn.BodyLimit, Memory: fn.Memory,
				Events: fn.Events, Async: fn.Async,
				Instances: fn.Instances, Concurrency: fn.Concurrency,
			})
		}
	}
	rel := store.Release{AppID: app.ID, BuildID: b.ID, Manifest: encodeJSON(m)}
	if err := s.cfg.Store.CreateRelease(ctx, &rel); err != nil {
		return err
	}
	log.Printf("Release #%d: %d functions", rel.ID, len(m.Functions))
	return nil
}

// queueWaitingDeploys hands a finished build's release to the deploys that
// wait for it, or fails them if the build failed.
func (s *Service) queueWaitingDeploys(ctx context.Context, b store.Build) error {
	deploys, err := s.cfg.Store.DeploysOfBuild(ctx, b.ID)
	if err != nil {
		return err
	}
	var rel *store.Release
	for _, d := range deploys {
		if d.Finished() {
			continue
		}
		if b.Status == store.BuildFailed || b.Status == store.BuildCancelled {
			now := time.Now().UTC()
			d.Status, d.Error, d.FinishedAt = store.DeployFailed, fmt.Sprintf("Build #%d failed: %s", b.ID, firstLine(b.Error)), &now
			if b.Status == store.BuildCancelled {
				d.Status, d.Error = store.DeployCancelled, fmt.Sprintf("Build #%d was cancelled.", b.ID)
			}
			if err := s.cfg.Store.SaveDeploy(ctx, &d); err != nil {
				return err
			}
			continue
		}
		if d.ReleaseID == nil {
			if rel == nil {
				r, err := s.cfg.Store.ReleaseByBuild(ctx, b.ID)
				if err != nil {
					return err
				}
				rel = &r
			}
			d.ReleaseID = &rel.ID
			if err := s.cfg.Store.SaveDeploy(ctx, &d); err != nil {
				return err
			}
		}
		if err := s.enqueueDeploy(ctx, d.ID); err != nil {
			return fmt.Errorf("queue deploy %d: %w", d.ID, err)
		}
	}
	return nil
}

// repoOf tells where a build fetches from: its own source (a push to the
// built-in remote), the app's repository, or for an app without one the
// built-in remote's bare repository.
func (s *Service) repoOf(app store.App, b store.Build) string {
	switch {
	case b.Source != "":
		return b.Source
	case app.RepoURL != "":
		return app.RepoURL
	}
	return filepath.Join(s.cfg.GitReposDir, app.Name+".git")
}

// buildCancelRequested reads, with a context of its own, whether a user
// asked for the build to stop: the job's context is already done by then.
func (s *Service) buildCancelRequested(id uint) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := s.cfg.Store.BuildByID(ctx, id)
	return err == nil && b.CancelRequested
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// shortDuration prints d the way people write it: 30m, not 30m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
