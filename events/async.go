package events

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
)

// Error is a refusal of an async invocation with the HTTP status the
// gateway answers: 413 for a payload over the limit, 429 when the stage has
// too many unfinished invocations, 404 when the stage is not deployed.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// HTTPStatus is the status the gateway answers with.
func (e *Error) HTTPStatus() int { return e.Status }

// Enqueue records an async invocation of fn on stage ref and queues it;
// the gateway calls it for requests sent with X-Seedbed-Invocation-Type:
// Event. ev holds the event as the function will get it. It returns the
// invocation's id at once; the function runs later, with retries.
func (s *Service) Enqueue(ctx context.Context, ref targets.StageRef, fn targets.Function, ev targets.Event) (string, error) {
	if len(ev.Payload) > s.cfg.MaxPayload {
		return "", &Error{Status: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("an async invocation's event may be at most %d bytes; this one is %d", s.cfg.MaxPayload, len(ev.Payload))}
	}
	st, err := s.stage(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		return "", &Error{Status: http.StatusNotFound, Msg: err.Error()}
	}
	if err != nil {
		return "", err
	}
	n, err := s.cfg.Store.CountUnfinishedInvocations(ctx, st.ID)
	if err != nil {
		return "", err
	}
	if n >= int64(s.cfg.MaxUnfinished) {
		return "", &Error{Status: http.StatusTooManyRequests, Msg: fmt.Sprintf("stage %s has %d invocations queued or running, the most it may have; try again once some finished", ref, n)}
	}
	// The function of the live release, for its retry settings.
	live, ok := st.Function(fn.Key())
	if !ok {
		live = fn
	}
	inv := s.newInvocation(st, live, store.SourceAsync)
	if ev.ID != "" {
		inv.ID = ev.ID
	}
	inv.Method, inv.Path, inv.Header, inv.Payload = ev.Method, ev.Path, encodeHeader(ev.Header), ev.Payload
	if err := s.record(ctx, &inv); err != nil {
		return "", err
	}
	return inv.ID, nil
}
