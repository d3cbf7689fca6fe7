package pipelines

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// Job kinds: stable names, because queued jobs outlive a deploy of Seedbed.
const (
	KindBuildRun    = "build:run"
	KindDeployApply = "deploy:apply"
)

// Queues. Builds run on any worker; deploys to the local target run only in
// the process that hosts the gateway, because that is where functions run.
const (
	QueueBuilds  = "builds"
	QueueDeploys = "deploys"
)

// BuildArgs is the payload of a build:run job.
type BuildArgs struct {
	BuildID uint `json:"build_id"`
}

// DeployArgs is the payload of a deploy:apply job.
type DeployArgs struct {
	DeployID uint `json:"deploy_id"`
}

// Register adds the handlers of every job kind this process runs to mux.
// A build-only worker passes deploys=false.
func (s *Service) Register(mux *asynq.ServeMux, deploys bool) {
	mux.HandleFunc(KindBuildRun, s.handleBuild)
	if deploys {
		mux.HandleFunc(KindDeployApply, s.handleDeploy)
	}
}

// EUnavailable is the code of an error that says the queue did not take a
// job: the build or deploy is recorded, and the reconciler queues it once
// the queue answers again.
const EUnavailable = "unavailable"

// enqueueTimeout bounds one enqueue, so that a request that records work
// answers soon when the queue does not.
const enqueueTimeout = 10 * time.Second

// buildTaskID and deployTaskID are the asynq task ids of a build's and a
// deploy's job. Being the record's id, they make a second enqueue of the
// same work fail with asynq.ErrTaskIDConflict while the job exists.
func buildTaskID(id uint) string  { return fmt.Sprintf("build:%d", id) }
func deployTaskID(id uint) string { return fmt.Sprintf("deploy:%d", id) }

// jobGrace is how much longer a job may run than the build's or deploy's
// own limit, which RunBuild and ApplyDeploy enforce themselves. When asynq's
// deadline passes it counts the job failed and retries it without waiting
// for the handler to return; with the same deadline the retry could start
// the build over while the first run was still recording that it ran out of
// time.
const jobGrace = time.Minute

func (s *Service) enqueueBuild(ctx context.Context, id uint) error {
	_, err := s.enqueueBuildIfAbsent(ctx, id)
	return err
}

func (s *Service) enqueueDeploy(ctx context.Context, id uint) error {
	_, err := s.enqueueDeployIfAbsent(ctx, id)
	return err
}

// enqueueBuildIfAbsent queues a build's job unless the queue holds it
// already (in any state); queued says which.
func (s *Service) enqueueBuildIfAbsent(ctx context.Context, id uint) (queued bool, err error) {
	payload, _ := json.Marshal(BuildArgs{BuildID: id})
	return s.enqueue(ctx, asynq.NewTask(KindBuildRun, payload), fmt.Sprintf("Build #%d", id),
		asynq.Queue(QueueBuilds), asynq.TaskID(buildTaskID(id)), asynq.MaxRetry(3), asynq.Timeout(s.cfg.BuildTimeout+jobGrace))
}

// enqueueDeployIfAbsent is enqueueBuildIfAbsent for a deploy.
func (s *Service) enqueueDeployIfAbsent(ctx context.Context, id uint) (queued bool, err error) {
	payload, _ := json.Marshal(DeployArgs{DeployID: id})
	return s.enqueue(ctx, asynq.NewTask(KindDeployApply, payload), fmt.Sprintf("Deploy #%d", id),
		asynq.Queue(QueueDeploys), asynq.TaskID(deployTaskID(id)), asynq.MaxRetry(3), asynq.Timeout(s.cfg.DeployTimeout+jobGrace))
}

func (s *Service) enqueue(ctx context.Context, task *asynq.Task, what string, opts ...asynq.Option) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, enqueueTimeout)
	defer cancel()
	_, err := s.cfg.Queue.EnqueueContext(ctx, task, opts...)
	switch {
	case errors.Is(err, asynq.ErrTaskIDConflict):
		return false, nil // already queued: the job is the same
	case err != nil:
		return false, queueDown(what, err)
	}
	return true, nil
}

// queueDown wraps the queue's error in one whose message tells the user
// what happened and that nothing is lost; the cause (which may name hosts)
// stays in the log.
func queueDown(what string, err error) error {
	return fmt.Errorf("%w: %w", &Error{Code: EUnavailable, Message: what + " is recorded, but the queue did not take it: " +
		"the queue server (Redis) is unreachable. It starts by itself within a minute of the queue coming back; " +
		"if it stays queued, ask an admin to check that Redis runs and that SEEDBED_REDIS_URL points at it."}, err)
}

func (s *Service) handleBuild(ctx context.Context, t *asynq.Task) error {
	var args BuildArgs
	if err := json.Unmarshal(t.Payload(), &args); err != nil {
		return fmt.Errorf("decode %s payload: %w: %w", t.Type(), err, asynq.SkipRetry)
	}
	return s.RunBuild(ctx, args.BuildID)
}

func (s *Service) handleDeploy(ctx context.Context, t *asynq.Task) error {
	var args DeployArgs
	if err := json.Unmarshal(t.Payload(), &args); err != nil {
		return fmt.Errorf("decode %s payload: %w: %w", t.Type(), err, asynq.SkipRetry)
	}
	return s.ApplyDeploy(ctx, args.DeployID)
}

// Recover queues again every build and deploy that is recorded but not
// finished, e.g. after a crash or the loss of Redis. Jobs carry their record's
// id as task id, so what is still queued is not queued twice.
func (s *Service) Recover(ctx context.Context) error {
	builds, err := s.cfg.Store.UnfinishedBuilds(ctx)
	if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	for _, b := range builds {
		if err := s.enqueueBuild(ctx, b.ID); err != nil {
			return fmt.Errorf("recover build %d: %w", b.ID, err)
		}
	}
	deploys, err := s.cfg.Store.UnfinishedDeploys(ctx)
	if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	for _, d := range deploys {
		if d.ReleaseID == nil && d.BuildID != nil {
			// Still waiting for its build: an unfinished build hands the
			// release over when it ends (it was queued above); a finished
			// one did not get to, so do it now.
			b, err := s.cfg.Store.BuildByID(ctx, *d.BuildID)
			if err != nil {
				return fmt.Errorf("recover deploy %d: %w", d.ID, err)
			}
			if b.Finished() {
				if err := s.queueWaitingDeploys(ctx, b); err != nil {
					return fmt.Errorf("recover deploy %d: %w", d.ID, err)
				}
			}
			continue
		}
		if err := s.enqueueDeploy(ctx, d.ID); err != nil {
			return fmt.Errorf("recover deploy %d: %w", d.ID, err)
		}
	}
	if len(builds)+len(deploys) > 0 {
		s.log.Info("recovered unfinished work", "builds", len(builds), "deploys", len(deploys))
	}
	return nil
}
