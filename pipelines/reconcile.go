package pipelines

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/seedbed/seedbed/store"
)

// TaskInspector is what the reconciler asks the queue: whether a job exists
// in any state (pending, active, scheduled, retry, archived) and which jobs
// the workers of every live process are running (an *asynq.Inspector).
type TaskInspector interface {
	GetTaskInfo(queue, id string) (*asynq.TaskInfo, error)
	Servers() ([]*asynq.ServerInfo, error)
}

// Reconciler timings used when ReconcilerOptions leaves them zero.
const (
	// DefaultReconcileInterval is how often the database and the queue
	// are compared.
	DefaultReconcileInterval = 5 * time.Second
	// DefaultLostAfter is how long a job must stay missing, in every look,
	// before it counts as lost: twice asynq's heartbeat (5s, fixed). When
	// Redis is emptied (FLUSHDB, a restart without persistence) the job a
	// worker is running has no key left until that worker's next heartbeat
	// writes its list of running jobs again, and queueing it before then
	// would run it twice at once.
	DefaultLostAfter = 10 * time.Second
)

// ReconcilerOptions configures a Reconciler; the zero value uses the
// defaults.
type ReconcilerOptions struct {
	Interval  time.Duration
	LostAfter time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Reconciler queues again the builds and deploys that the database holds
// as queued or running but whose job the queue no longer has: Redis was
// emptied or replaced, or was down when the work was recorded. Recover does
// the same once at start-up; the Reconciler keeps doing it while the process
// runs, so lost work is queued again within about 2*Interval+LostAfter (20s
// by default).
//
// A job counts as lost only when no look in LostAfter found it: not as a
// task in its queue (in any state; a crashed worker's leased task is asynq's
// to recover), and not among the jobs that live workers report running. A
// lost job is queued only if its record is still unfinished when read again,
// so a job that ended between the two looks is not run again. Its task id
// is the record's id, so several processes reconciling at once queue it once.
type Reconciler struct {
	svc       *Service
	tasks     TaskInspector
	interval  time.Duration
	lostAfter time.Duration
	now       func() time.Time

	// missing holds when each job was first seen missing, in the current
	// run of looks; a failed look starts over.
	missing map[string]time.Time
	// failing is set while the queue cannot be asked, to log the outage
	// once rather than every Interval.
	failing bool
}

// NewReconciler makes a Reconciler that asks tasks (an *asynq.Inspector on
// the queue this Service enqueues to) which jobs exist.
func (s *Service) NewReconciler(tasks TaskInspector, opts ReconcilerOptions) *Reconciler {
	if opts.Interval <= 0 {
		opts.Interval = DefaultReconcileInterval
	}
	if opts.LostAfter < 0 {
		opts.LostAfter = 0
	} else if opts.LostAfter == 0 {
		opts.LostAfter = DefaultLostAfter
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Reconciler{svc: s, tasks: tasks, interval: opts.Interval, lostAfter: opts.LostAfter, now: opts.Now,
		missing: map[string]time.Time{}}
}

// Run reconciles every Interval until ctx is done. Failures, such as an
// unreachable queue, are logged once and tried again at the next tick.
func (r *Reconciler) Run(ctx context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, err := r.Reconcile(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil && !r.failing:
			r.failing = true
			r.svc.log.Warn("cannot compare the queue with the database; work recorded meanwhile is queued once the queue answers", "err", err)
		case err == nil && r.failing:
			r.failing = false
			r.svc.log.Info("the queue answers again")
		}
	}
}

// Reconcile looks once for lost jobs and queues again those missing for at
// least LostAfter. It returns the task ids it queued ("build:12",
// "deploy:7").
func (r *Reconciler) Reconcile(ctx context.Context) ([]string, error) {
	requeued, err := r.reconcile(ctx)
	if err != nil {
		// Looks before a failure are no evidence: Redis may come back
		// empty, before the workers' next heartbeat.
		clear(r.missing)
		return requeued, fmt.Errorf("reconcile the queue with the database: %w", err)
	}
	return requeued, nil
}

func (r *Reconciler) reconcile(ctx context.Context) ([]string, error) {
	st := r.svc.cfg.Store
	builds, err := st.UnfinishedBuilds(ctx)
	if err != nil {
		return nil, err
	}
	deploys, err := st.UnfinishedDeploys(ctx)
	if err != nil {
		return nil, err
	}
	running, err := r.runningJobs()
	if err != nil {
		return nil, err
	}
	now := r.now()
	seen := map[string]bool{}
	var requeued []string

	for _, b := range builds {
		id := buildTaskID(b.ID)
		seen[id] = true
		queued, err := r.requeue(ctx, now, QueueBuilds, id, running, func() (bool, string, error) {
			b, err := st.BuildByID(ctx, b.ID)
			return b.Finished(), b.Status, err
		}, func() (bool, error) { return r.svc.enqueueBuildIfAbsent(ctx, b.ID) })
		if err != nil {
			return requeued, err
		}
		if queued {
			requeued = append(requeued, id)
		}
	}

	for _, d := range deploys {
		if d.ReleaseID == nil && d.BuildID != nil {
			// Waiting for its build, which hands the release over when it
			// ends. A build that ended without doing so (its job ended
			// between saving the build and queueing the deploys) is
			// handed over here.
			key := "handover:" + deployTaskID(d.ID)
			seen[key] = true
			b, err := st.BuildByID(ctx, *d.BuildID)
			if err != nil {
				return requeued, err
			}
			if !b.Finished() {
				delete(r.missing, key)
				continue
			}
			if !r.missingFor(now, key) {
				continue
			}
			if err := r.svc.queueWaitingDeploys(ctx, b); err != nil {
				return requeued, err
			}
			delete(r.missing, key)
			requeued = append(requeued, deployTaskID(d.ID))
			r.svc.log.Warn("a finished build had not handed its release to a deploy; queued the deploy", "deploy", d.ID, "build", b.ID)
			continue
		}
		id := deployTaskID(d.ID)
		seen[id] = true
		queued, err := r.requeue(ctx, now, QueueDeploys, id, running, func() (bool, string, error) {
			d, err := st.DeployByID(ctx, d.ID)
			return d.Finished(), d.Status, err
		}, func() (bool, error) { return r.svc.enqueueDeployIfAbsent(ctx, d.ID) })
		if err != nil {
			return requeued, err
		}
		if queued {
			requeued = append(requeued, id)
		}
	}

	for id := range r.missing {
		if !seen[id] {
			delete(r.missing, id) // finished, or no longer missing
		}
	}
	return requeued, nil
}

// requeue queues the job id of queue again if it has been lost for
// LostAfter and its record, read again (reread: finished, status), is
// still unfinished; enqueue adds it unless the queue has it after all. It
// reports whether it queued the job.
func (r *Reconciler) requeue(ctx context.Context, now time.Time, queue, id string, running map[string]bool,
	reread func() (finished bool, status string, err error), enqueue func() (bool, error)) (bool, error) {
	lost, err := r.lost(now, queue, id, running)
	if err != nil || !lost {
		return false, err
	}
	finished, status, err := reread()
	if err != nil || finished {
		delete(r.missing, id)
		if errors.Is(err, store.ErrNotFound) {
			err = nil
		}
		return false, err
	}
	queued, err := enqueue()
	if err != nil {
		return false, err
	}
	delete(r.missing, id)
	if !queued {
		return false, nil // it was there, in a queue the inspector did not list
	}
	r.svc.log.Warn("the queue had lost a job; queued it again", "job", id, "status", status)
	return true, nil
}

// runningJobs returns the task ids that the workers of every live asynq
// server report running, from their heartbeats.
func (r *Reconciler) runningJobs() (map[string]bool, error) {
	servers, err := r.tasks.Servers()
	if err != nil {
		return nil, fmt.Errorf("list the queue's workers: %w", err)
	}
	running := map[string]bool{}
	for _, srv := range servers {
		for _, w := range srv.ActiveWorkers {
			running[w.TaskID] = true
		}
	}
	return running, nil
}

// lost reports whether the job id of queue has been missing, in every look,
// for LostAfter. The first look that misses it starts the count.
func (r *Reconciler) lost(now time.Time, queue, id string, running map[string]bool) (bool, error) {
	if running[id] {
		delete(r.missing, id)
		return false, nil
	}
	_, err := r.tasks.GetTaskInfo(queue, id)
	switch {
	case err == nil:
		delete(r.missing, id)
		return false, nil
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		// "Queue not found" is no proof: after a FLUSHDB, asynq's clients
		// add tasks without listing their queue again (they remember
		// having listed it), and the inspector looks only in listed
		// queues. The enqueue that follows is the proof: it is refused
		// when the task exists.
		return r.missingFor(now, id), nil
	default:
		return false, fmt.Errorf("look up job %s: %w", id, err)
	}
}

// missingFor records that key was missing now and reports whether it has
// been missing for LostAfter.
func (r *Reconciler) missingFor(now time.Time, key string) bool {
	first, ok := r.missing[key]
	if !ok {
		r.missing[key] = now
		first = now
	}
	return now.Sub(first) >= r.lostAfter
}
