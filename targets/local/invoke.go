package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/seedbed/seedbed/targets"
)

var _ targets.Invoker = (*Target)(nil)

// maxEventResponse caps what Invoke keeps of an HTTP function's answer:
// the answer to an event is read for a status or a batch response, not
// relayed to anyone.
const maxEventResponse = 1 << 20

// Invoke runs one function of a stage with an event; see targets.Invoker.
// A Lambda-style function gets ev.Payload through its Runtime API, in the
// same queue as its HTTP requests; an HTTP function gets a request to its
// own address. Either way the function's timeout applies, and a handler
// that outlives it is killed and restarted, as for a request.
func (t *Target) Invoke(ctx context.Context, ref targets.StageRef, key string, ev targets.Event) (targets.Result, error) {
	if len(ev.Payload) > maxPayload {
		return targets.Result{}, fmt.Errorf("invoke %s of %s: the event is %d bytes; at most %d", key, ref, len(ev.Payload), maxPayload)
	}
	// Like the gateway, retry a lookup that raced with Apply swapping
	// instances.
	for range 5 {
		st, err := t.stage(ref, false)
		if err != nil {
			return targets.Result{}, fmt.Errorf("invoke %s of %s: %w", key, ref, err)
		}
		var live *map[string]*pool
		if st != nil {
			live = st.live.Load()
		}
		if live == nil {
			return targets.Result{}, fmt.Errorf("invoke %s of %s: stage is not deployed: %w", key, ref, targets.ErrNotRunning)
		}
		p := (*live)[key]
		if p == nil {
			return targets.Result{}, fmt.Errorf("invoke %s of %s: no such function in the release it serves: %w", key, ref, targets.ErrNotRunning)
		}
		if !p.Acquire() {
			continue
		}
		res, err := p.invoke(ctx, ev)
		p.Release()
		if err != nil {
			return res, fmt.Errorf("invoke %s of %s: %w", key, ref, err)
		}
		return res, nil
	}
	return targets.Result{}, fmt.Errorf("invoke %s of %s: stage is switching releases: %w", key, ref, targets.ErrNotRunning)
}

// invoke runs ev on an instance of the pool, as a request would.
func (p *pool) invoke(ctx context.Context, ev targets.Event) (targets.Result, error) {
	if p.static != nil {
		return p.t.invokeOn(ctx, p.static, ev)
	}
	in, err := p.take(ctx)
	if err != nil {
		return targets.Result{}, err
	}
	defer p.put(in)
	return p.t.invokeOn(ctx, in, ev)
}

func (t *Target) invokeOn(ctx context.Context, in *instance, ev targets.Event) (targets.Result, error) {
	timeout := functionTimeout(in.fn)
	if in.api == nil {
		return t.invokeHTTP(ctx, in, ev, timeout)
	}
	began := time.Now()
	id := ev.ID
	if id == "" {
		id = newRequestID()
	}
	inv := &invocation{id: id, event: ev.Payload, deadline: began.Add(timeout), traceID: newTraceID(began), done: make(chan invokeResult, 1)}
	res, err := in.api.invoke(ctx, inv)
	in.out.settle(settleLimit)
	var timedOut *invokeTimeout
	switch {
	case errors.As(err, &timedOut):
		if timedOut.running {
			in.killForRestart(fmt.Sprintf("the handler timed out after %s", timeout), timedOut.gen)
		}
		return targets.Result{Output: in.out.lastOutput()}, fmt.Errorf("the function did not answer within %s", timeout)
	case err != nil:
		return targets.Result{Output: in.out.lastOutput()}, err
	case res.err != nil:
		return targets.Result{Payload: res.payload, Output: in.out.lastOutput()}, fmt.Errorf("the handler failed: %s", res.err.String())
	}
	return targets.Result{Payload: res.payload, Output: in.out.lastOutput()}, nil
}

func (t *Target) invokeHTTP(ctx context.Context, in *instance, ev targets.Event, timeout time.Duration) (targets.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	method := ev.Method
	if method == "" {
		method = http.MethodPost
	}
	path := ev.Path
	if path == "" {
		path = "/"
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+in.addr()+path, bytes.NewReader(ev.Payload))
	if err != nil {
		return targets.Result{}, fmt.Errorf("make the request: %w", err)
	}
	if ev.Header != nil {
		req.Header = ev.Header.Clone()
	} else {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-Seedbed-Invocation-Id", ev.ID)
	req.Header.Set("Content-Length", strconv.Itoa(len(ev.Payload)))
	resp, err := t.transport.RoundTrip(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return targets.Result{Output: in.out.lastOutput()}, fmt.Errorf("the function did not answer within %s", timeout)
		}
		return targets.Result{Output: in.out.lastOutput()}, fmt.Errorf("the function is not answering: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxEventResponse))
	res := targets.Result{Payload: body, Status: resp.StatusCode, Output: in.out.lastOutput()}
	if err != nil {
		return res, fmt.Errorf("read the answer: %w", err)
	}
	in.out.settle(settleLimit)
	res.Output = in.out.lastOutput()
	if resp.StatusCode >= 400 {
		return res, fmt.Errorf("the function answered %s", resp.Status)
	}
	return res, nil
}

// settleLimit is the longest an invocation waits for the lines its
// function printed before it answered (ringBuffer.settle). It holds the
// worker, not the function.
const settleLimit = 250 * time.Millisecond
