package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
)

// What an invocation's record keeps of the function's answer.
const (
	maxExcerpt  = 4 << 10
	maxResponse = 64 << 10
)

// Register adds the event task handler to mux; only processes with an
// Invoker (that serve functions) register it.
func (s *Service) Register(mux *asynq.ServeMux) {
	mux.HandleFunc(TaskInvoke, s.HandleInvoke)
	mux.HandleFunc(TaskBatch, s.HandleBatch)
	mux.HandleFunc(TaskWake, s.HandleWake)
}

// HandleInvoke runs one attempt of an invocation. It is idempotent: a
// finished invocation is not run again. A failed attempt returns an error,
// so that asynq retries it (or archives it after the last retry, when the
// record becomes a dead letter and the on-failure function, if any, gets
// it).
func (s *Service) HandleInvoke(ctx context.Context, t *asynq.Task) error {
	var a invokeArgs
	if err := json.Unmarshal(t.Payload(), &a); err != nil || a.ID == "" {
		return fmt.Errorf("event task with a bad payload %q: %v: %w", t.Payload(), err, asynq.SkipRetry)
	}
	if s.cfg.Invoker == nil {
		return fmt.Errorf("invocation %s: this process runs no functions", a.ID)
	}
	began := s.cfg.Now()
	inv, started, err := s.cfg.Store.StartAttempt(ctx, a.ID, began)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("invocation %s has no record: %w", a.ID, asynq.SkipRetry)
	}
	if err != nil {
		return err
	}
	if !started {
		return nil // finished already: a task queued twice
	}
	ref := targets.StageRef{App: inv.App, Stage: inv.Stage}
	st, _ := s.stage(ctx, ref)
	fn, _ := st.Function(inv.Function)

	// A schedule's run holds the schedule, unless its runs may overlap.
	if inv.ScheduleID != "" {
		if ev, ok := scheduleOf(fn, inv.ScheduleID); ok && !ev.Overlap {
			hold := functionTimeout(fn) + 10*time.Second
			ok, err := s.cfg.Store.ClaimScheduleRun(ctx, inv.StageID, inv.ScheduleID, inv.ID, began, began.Add(hold))
			if err != nil {
				return err
			}
			if !ok {
				now := s.cfg.Now().UTC()
				inv.Status, inv.Error, inv.FinishedAt = store.InvocationSkipped, "skipped: the previous run of this schedule was still running (set overlap: true to allow it)", &now
				return s.cfg.Store.FinishAttempt(ctx, &inv)
			}
			defer func() {
				if err := s.cfg.Store.ReleaseScheduleRun(context.WithoutCancel(ctx), inv.StageID, inv.ScheduleID, inv.ID); err != nil {
					s.log.Error("release schedule", "invocation", inv.ID, "err", err)
				}
			}()
		}
	}

	res, runErr := s.cfg.Invoker.Invoke(ctx, ref, inv.Function, targets.Event{
		ID: inv.ID, Payload: inv.Payload, Method: inv.Method, Path: inv.Path, Header: decodeHeader(inv.Header),
	})
	end := s.cfg.Now().UTC()
	inv.DurationMS = end.Sub(began).Milliseconds()
	inv.FinishedAt = &end
	inv.LogExcerpt = tail(res.Output, maxExcerpt)
	inv.Response = res.Payload
	if len(inv.Response) > maxResponse {
		inv.Response = inv.Response[:maxResponse]
	}
	if runErr == nil {
		inv.Status, inv.Error = store.InvocationSucceeded, ""
		return s.cfg.Store.FinishAttempt(ctx, &inv)
	}
	inv.Error = runErr.Error()
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, ok := asynq.GetMaxRetry(ctx)
	last := !ok || retried >= maxRetry
	inv.Status = store.InvocationRetrying
	if last {
		inv.Status = store.InvocationDead
	}
	if err := s.cfg.Store.FinishAttempt(ctx, &inv); err != nil {
		return err
	}
	if last && inv.OnFailure != "" && inv.Source != store.SourceOnFailure {
		if err := s.deliverFailure(ctx, st, inv); err != nil {
			s.log.Error("deliver a failed invocation to its on-failure function", "invocation", inv.ID, "function", inv.OnFailure, "err", err)
		}
	}
	return fmt.Errorf("invocation %s of %s, attempt %d of %d: %w", inv.ID, inv.Function, inv.Attempts, inv.MaxAttempts, runErr)
}

// scheduleOf finds the schedule of fn with the given id.
func scheduleOf(fn targets.Function, id string) (stack.Event, bool) {
	for _, ev := range fn.Events {
		if ev.IsSchedule() && ScheduleID(fn.Key(), ev) == id {
			return ev, true
		}
	}
	return stack.Event{}, false
}

// functionTimeout mirrors the targets' default.
func functionTimeout(fn targets.Function) time.Duration {
	if fn.Timeout > 0 {
		return fn.Timeout
	}
	return 30 * time.Second
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// failureRecord is what an on-failure function receives: the shape of an
// AWS Lambda destination record, so handlers written for Lambda's
// OnFailure destinations read it unchanged.
type failureRecord struct {
	Version         string          `json:"version"`
	Timestamp       time.Time       `json:"timestamp"`
	RequestContext  failureContext  `json:"requestContext"`
	RequestPayload  json.RawMessage `json:"requestPayload"`
	ResponseContext responseContext `json:"responseContext"`
	ResponsePayload json.RawMessage `json:"responsePayload"`
}

type failureContext struct {
	RequestID              string `json:"requestId"`
	FunctionArn            string `json:"functionArn"`
	Condition              string `json:"condition"`
	ApproximateInvokeCount int    `json:"approximateInvokeCount"`
}

type responseContext struct {
	StatusCode    int    `json:"statusCode"`
	ExecutedVer   string `json:"executedVersion"`
	FunctionError string `json:"functionError"`
}

func (s *Service) deliverFailure(ctx context.Context, st Stage, dead store.Invocation) error {
	target, ok := st.Function(dead.OnFailure)
	if !ok {
		return fmt.Errorf("function %s is not in the release %s serves", dead.OnFailure, st.Ref)
	}
	payload := json.RawMessage(dead.Payload)
	if !json.Valid(payload) {
		b, _ := json.Marshal(string(dead.Payload))
		payload = b
	}
	errDoc, _ := json.Marshal(map[string]string{"errorMessage": dead.Error})
	rec := failureRecord{
		Version: "1.0", Timestamp: s.cfg.Now().UTC(),
		RequestContext:  failureContext{RequestID: dead.ID, FunctionArn: functionARN(st.Ref, dead.Function), Condition: "RetriesExhausted", ApproximateInvokeCount: dead.Attempts},
		RequestPayload:  payload,
		ResponseContext: responseContext{StatusCode: 200, ExecutedVer: "$LATEST", FunctionError: "Unhandled"},
		ResponsePayload: errDoc,
	}
	body, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	inv := s.newInvocation(st, target, store.SourceOnFailure)
	inv.OnFailure = "" // no chains of failures
	inv.Payload = body
	if target.Kind != stack.KindLambda {
		inv.Method, inv.Path = "POST", failurePath(target)
	}
	return s.record(ctx, &inv)
}

// failurePath is where an HTTP on-failure function gets the record: its
// first route's path without parameters, or "/".
func failurePath(fn targets.Function) string {
	for _, r := range fn.Routes {
		if !strings.Contains(r.Path, "{") {
			return r.Path
		}
	}
	return "/"
}

// functionARN names a function the way Lambda events do.
func functionARN(ref targets.StageRef, fnKey string) string {
	return "arn:seedbed:lambda:local:000000000000:function:" + ref.App + "-" + ref.Stage + "-" + strings.ReplaceAll(fnKey, "/", "-")
}
