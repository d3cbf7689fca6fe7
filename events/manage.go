package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
)

// Recover queues again the unfinished invocations recorded more than age
// ago whose task the queue no longer has: Redis was emptied, the process
// died between recording and queueing, or the embedded queue (which keeps
// nothing) restarted with the process that ran them. A queued one is
// queued again in any case (a task that still exists makes that a no-op);
// a running or retrying one only when its task is gone, with the retries
// it has left: a process killed mid-attempt costs that attempt, and the
// invocation runs again (at least once).
func (s *Service) Recover(ctx context.Context, age time.Duration) error {
	invs, err := s.cfg.Store.UnfinishedInvocations(ctx, s.cfg.Now().Add(-age), 500)
	if err != nil {
		return err
	}
	var first error
	for i := range invs {
		inv := &invs[i]
		if inv.Status != store.InvocationQueued {
			if s.cfg.Tasks == nil {
				continue
			}
			_, err := s.cfg.Tasks.GetTaskInfo(QueueEvents, inv.ID)
			if err == nil {
				continue // asynq has it: pending, active, retrying
			}
			if !isNoTask(err) {
				first = cmpErr(first, fmt.Errorf("look up the task of invocation %s: %w", inv.ID, err))
				continue
			}
			s.log.Warn("the queue lost an unfinished invocation; queueing it again", "invocation", inv.ID, "function", inv.Function, "attempts", inv.Attempts)
		}
		if err := s.enqueue(ctx, inv); err != nil {
			first = cmpErr(first, err)
		}
	}
	return first
}

// RunRecovery calls Recover at once for everything unfinished, then every
// interval for what is older than interval, until ctx is done.
func (s *Service) RunRecovery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	age := time.Duration(0)
	for {
		err := s.Recover(ctx, age)
		age = interval
		if err != nil && ctx.Err() == nil {
			s.log.Warn("queue lost invocations again", "err", err)
		}
		if err := s.Prune(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("remove old invocations", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Invocation returns one invocation of a stage by id.
func (s *Service) Invocation(ctx context.Context, ref targets.StageRef, id string) (store.Invocation, error) {
	inv, err := s.cfg.Store.InvocationByID(ctx, id)
	if err != nil {
		return inv, err
	}
	// Ids are not secrets: a caller of one stage may not read another's.
	if inv.App != ref.App || inv.Stage != ref.Stage {
		return store.Invocation{}, fmt.Errorf("invocation %s of %s: %w", id, ref, store.ErrNotFound)
	}
	return inv, nil
}

// Recent lists a deployed stage's newest invocations; status "" is any,
// store.InvocationDead lists the dead letters.
func (s *Service) Recent(ctx context.Context, ref targets.StageRef, status string, limit int) ([]InvocationBrief, error) {
	st, err := s.stage(ctx, ref)
	if err != nil {
		return nil, err
	}
	invs, err := s.cfg.Store.Invocations(ctx, store.InvocationFilter{StageID: st.ID, Status: status, Limit: limit})
	if err != nil {
		return nil, err
	}
	out := make([]InvocationBrief, len(invs))
	for i, inv := range invs {
		out[i] = Brief(inv)
	}
	return out, nil
}

// Redrive queues dead invocations of a stage again, from zero attempts:
// the one named by id, or every dead letter when id is "". It returns how
// many were queued.
func (s *Service) Redrive(ctx context.Context, ref targets.StageRef, id string) (int, error) {
	var ids []string
	if id != "" {
		inv, err := s.Invocation(ctx, ref, id)
		if err != nil {
			return 0, err
		}
		if inv.Status != store.InvocationDead {
			return 0, fmt.Errorf("invocation %s is %s, not dead; only dead letters are redriven: %w", id, inv.Status, store.ErrConflict)
		}
		ids = []string{id}
	} else {
		st, err := s.stage(ctx, ref)
		if err != nil {
			return 0, err
		}
		dead, err := s.cfg.Store.Invocations(ctx, store.InvocationFilter{StageID: st.ID, Status: store.InvocationDead, Limit: 1000})
		if err != nil {
			return 0, err
		}
		for _, d := range dead {
			ids = append(ids, d.ID)
		}
	}
	n := 0
	for _, id := range ids {
		// The archived task keeps the id; it goes before a new one is queued.
		if s.cfg.Tasks != nil {
			if err := s.cfg.Tasks.DeleteTask(QueueEvents, id); err != nil && !isNoTask(err) {
				return n, fmt.Errorf("redrive %s: delete its archived task: %w", id, err)
			}
		}
		ok, err := s.cfg.Store.RequeueInvocation(ctx, id)
		if err != nil {
			return n, err
		}
		if !ok {
			continue // redriven meanwhile
		}
		inv, err := s.cfg.Store.InvocationByID(ctx, id)
		if err != nil {
			return n, err
		}
		if err := s.enqueue(ctx, &inv); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// isNoTask reports asynq's errors for a task (or queue) that is not
// there: a dead letter whose archived task expired.
func isNoTask(err error) bool {
	return errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound)
}

// Prune removes finished invocations older than KeepFinished and dead
// letters older than KeepDead, a bounded number per call.
func (s *Service) Prune(ctx context.Context) error {
	now := s.cfg.Now()
	_, err := s.cfg.Store.DeleteFinishedInvocations(ctx, now.Add(-KeepFinished), now.Add(-KeepDead), 5000)
	return err
}
