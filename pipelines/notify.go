package pipelines

import (
	"context"
	"time"

	"github.com/seedbed/seedbed/store"
)

// Notifier hears of the events people are alerted to (package alerts
// implements it). It is called after the event is recorded; an error is
// logged and changes nothing of the build or deploy. Reporting one event
// twice must notify no one twice.
type Notifier interface {
	BuildFailed(ctx context.Context, b store.Build) error
	DeployFailed(ctx context.Context, d store.Deploy) error
	ApprovalAwaiting(ctx context.Context, d store.Deploy) error
}

// notifyTimeout bounds recording and queueing one event's notifications.
const notifyTimeout = 10 * time.Second

// notify passes an event to the Notifier, if there is one, with a context
// of its own: the job's may be done by then.
func (s *Service) notify(ctx context.Context, what string, id uint, f func(ctx context.Context, n Notifier) error) {
	if s.cfg.Notifier == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), notifyTimeout)
	defer cancel()
	if err := f(ctx, s.cfg.Notifier); err != nil {
		s.log.Error("notify "+what, "id", id, "err", err)
	}
}
