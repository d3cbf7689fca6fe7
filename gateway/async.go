package gateway

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/targets"
)

// InvocationTypeHeader asks the gateway not to wait for the function:
// "Event" queues the request as an async invocation and answers 202 with
// its id; "RequestResponse" (or no header) is an ordinary call. It is the
// header AWS's API Gateway uses to invoke Lambda functions asynchronously.
const InvocationTypeHeader = "X-Seedbed-Invocation-Type"

// Async records and queues invocations nobody waits for (the events
// package implements it).
type Async interface {
	// Enqueue queues ev for fn of stage and returns the invocation's id.
	// An error with an HTTPStatus() int method is a refusal the caller
	// should see (413, 429, 404); others are the gateway's failure (503).
	Enqueue(ctx context.Context, stage targets.StageRef, fn targets.Function, ev targets.Event) (string, error)
}

// EventMaker is implemented by upstreams whose function takes events
// rather than requests (Lambda-style): it turns a request into the event
// the function gets for it, so that an async invocation delivers the same
// event a call would have.
type EventMaker interface {
	MakeEvent(r *http.Request, body []byte, c *Call, requestID string) ([]byte, error)
}

// asyncBodyLimit is read past the async limit so that an oversized body
// is recognised as such (the Async says how large it may be).
const asyncBodyLimit = 6 << 20

// serveAsync queues the request for the function the route matched and
// answers 202 with the invocation's id.
func (g *Gateway) serveAsync(w http.ResponseWriter, r *http.Request, c *Call, up Upstream) {
	if g.cfg.Async == nil {
		PlainError(w, http.StatusNotImplemented, "async invocations are not available on this gateway")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, asyncBodyLimit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			PlainError(w, http.StatusRequestEntityTooLarge, "the request body is too large for an async invocation")
		}
		return
	}
	fn := c.Route.Function()
	if fn.Runtime == "static" {
		PlainError(w, http.StatusBadRequest, "function "+fn.Key()+" serves static files; it cannot be invoked asynchronously")
		return
	}
	id := uuid.Must(uuid.NewRandomFromReader(rand.Reader)).String()
	ev := targets.Event{ID: id, Payload: body}
	if em, ok := up.(EventMaker); ok && fn.Kind == stack.KindLambda {
		if ev.Payload, err = em.MakeEvent(r, body, c, id); err != nil {
			PlainError(w, http.StatusInternalServerError, "cannot turn the request into an event: "+err.Error())
			return
		}
	} else {
		// An HTTP function gets the request again later, as the gateway
		// would have sent it now.
		h := r.Header.Clone()
		h.Del(InvocationTypeHeader)
		c.Forwarding.Apply(h)
		ev.Method, ev.Header = r.Method, h
		ev.Path = c.RawPath
		if r.URL.RawQuery != "" {
			ev.Path += "?" + r.URL.RawQuery
		}
	}
	id, err = g.cfg.Async.Enqueue(r.Context(), c.Stage, fn, ev)
	if err != nil {
		queueError(w, err, "the invocation")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Seedbed-Invocation-Id", id)
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]string{"invocationId": id, "status": "queued"})
}

// queueError answers a failed Enqueue or Send: a refusal (an error with an
// HTTPStatus() int method: too large, too many, no such queue) with its
// status and words, anything else as the gateway's own failure (503).
func queueError(w http.ResponseWriter, err error, what string) {
	var refusal interface{ HTTPStatus() int }
	if errors.As(err, &refusal) {
		PlainError(w, refusal.HTTPStatus(), err.Error())
		return
	}
	PlainError(w, http.StatusServiceUnavailable, fmt.Sprintf("cannot queue %s now: %v", what, err))
}

// asyncType reads the invocation type a request asks for: "" for a call,
// "Event" for an async invocation; ok is false for anything else.
func asyncType(r *http.Request) (async bool, ok bool) {
	switch v := strings.TrimSpace(r.Header.Get(InvocationTypeHeader)); {
	case v == "" || strings.EqualFold(v, "RequestResponse"):
		return false, true
	case strings.EqualFold(v, "Event"):
		return true, true
	}
	return false, false
}
