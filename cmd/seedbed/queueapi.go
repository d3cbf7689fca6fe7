package main

import (
	"context"
	"errors"

	"github.com/seedbed/seedbed/targets"
)

// lateQueueSender hands the local target's instances the events service,
// which is made after the target (it invokes functions through it).
// Instances start only once the App is built, so a send before then is a
// bug; it is refused rather than crashing.
type lateQueueSender struct{ a *App }

func (l lateQueueSender) Send(ctx context.Context, ref targets.StageRef, queue string, body []byte) (string, error) {
	if l.a.events == nil {
		return "", errors.New("queues are not running in this process yet")
	}
	return l.a.events.Send(ctx, ref, queue, body)
}
