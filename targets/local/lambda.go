package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/seedbed/seedbed/gateway"
	"github.com/seedbed/seedbed/targets"
)

// waitLambdaReady waits until the process asks the Runtime API for its
// first event: the handler is loaded and waiting for work. It fails, with
// the last output lines, when the runtime reports an init error, exits or
// takes longer than limit.
func (in *instance) waitLambdaReady(ctx context.Context, p *proc, limit time.Duration) error {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	select {
	case <-in.api.ready:
		return nil
	case <-in.api.initFailed:
		// The runtime exits after reporting; let its last words arrive.
		select {
		case <-p.exited:
		case <-time.After(time.Second):
		}
		return fmt.Errorf("function %s failed to initialise: %s; %s", in.fn.Key(), in.api.initErr, in.out.lastOutput())
	case <-p.exited:
		return fmt.Errorf("function %s %s before asking the Lambda Runtime API for an event; %s",
			in.fn.Key(), in.describeEnd(p), in.out.lastOutput())
	case <-deadline.C:
		return fmt.Errorf("function %s did not ask the Lambda Runtime API for an event within %s; %s",
			in.fn.Key(), limit, in.out.lastOutput())
	case <-ctx.Done():
		return fmt.Errorf("function %s: start interrupted: %w", in.fn.Key(), context.Cause(ctx))
	}
}

// serveLambda answers a request with a Lambda-style function: the request
// becomes an API Gateway HTTP API (payload 2.0) event, the handler's
// result becomes the response. As API Gateway does, it answers 502 when
// the handler fails, 504 when it times out (the process is then killed
// and started afresh, as Lambda does) and 413 when the body is over
// Lambda's 6 MB limit; the cause goes to the target's log.
func (in *instance) serveLambda(w http.ResponseWriter, r *http.Request, c *gateway.Call) {
	began := time.Now()
	timeout := functionTimeout(c.Route.Function())
	id := newRequestID()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPayload))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			gatewayFault(w, id, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		}
		return // otherwise the client went away
	}
	event, err := buildEvent(r, body, eventInput{call: c, requestID: id, at: began})
	if err != nil {
		in.log.Error("build the event", "request_id", id, "err", err)
		gatewayFault(w, id, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	inv := &invocation{id: id, event: event, deadline: began.Add(timeout), traceID: newTraceID(began), done: make(chan invokeResult, 1)}
	res, err := in.api.invoke(r.Context(), inv)
	var timedOut *invokeTimeout
	switch {
	case errors.As(err, &timedOut):
		if timedOut.running {
			in.killForRestart(fmt.Sprintf("the handler timed out after %s", timeout), timedOut.gen)
		}
		in.log.Error(fmt.Sprintf("function did not answer within %s", timeout), "request_id", id, "handler_running", timedOut.running)
		gatewayFault(w, id, http.StatusGatewayTimeout, "Endpoint request timed out")
		return
	case errors.Is(err, errAPIClosed):
		gatewayFault(w, id, http.StatusServiceUnavailable, "Service Unavailable")
		return
	case err != nil:
		return // the client went away
	case res.err != nil:
		in.log.Error("invocation failed: "+res.err.String(), "request_id", id, "stack", res.err.stack())
		gatewayFault(w, id, http.StatusBadGateway, "Internal Server Error")
		return
	}
	resp, err := parseLambdaResponse(res.payload)
	if err != nil {
		in.log.Error("invocation returned a response API Gateway would refuse: "+err.Error(), "request_id", id)
		gatewayFault(w, id, http.StatusBadGateway, "Internal Server Error")
		return
	}
	resp.write(w, id)
}

// functionTimeout is how long a request to fn may take.
func functionTimeout(fn targets.Function) time.Duration {
	if fn.Timeout > 0 {
		return fn.Timeout
	}
	return defaultTimeout
}

// gatewayFault answers the way API Gateway does when it cannot use the
// function's answer: a JSON message.
func gatewayFault(w http.ResponseWriter, requestID string, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Apigw-Requestid", requestID)
	w.WriteHeader(code)
	b, _ := json.Marshal(map[string]string{"message": msg})
	_, _ = w.Write(b)
}

// newRequestID makes a random UUID (version 4), as Lambda's request ids are.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// newTraceID makes an X-Ray trace header, which runtimes pass on in
// _X_AMZN_TRACE_ID.
func newTraceID(at time.Time) string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", at.Unix(), hex.EncodeToString(b[:12]), hex.EncodeToString(b[12:]))
}
