package local

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The AWS Lambda Runtime API (version 2018-06-01), served by the local
// target to each Lambda-style function instance on its own loopback port,
// which the process finds in AWS_LAMBDA_RUNTIME_API:
//
//	GET  /2018-06-01/runtime/invocation/next           long-polls for the next event
//	POST /2018-06-01/runtime/invocation/{id}/response  the handler's result
//	POST /2018-06-01/runtime/invocation/{id}/error     the handler's error
//	POST /2018-06-01/runtime/init/error                the runtime could not start
//
// As in Lambda, a process handles one invocation at a time: invocations
// queue until the process asks for the next one. An instance runs one
// process, so a function's requests are served one after another; a
// function that needs more throughput should be an HTTP function.

const (
	// runtimeAPIPrefix is the path every Runtime API endpoint starts with.
	runtimeAPIPrefix = "/2018-06-01/runtime"
	// maxPayload is Lambda's limit on a synchronous invocation's event and
	// its response: 6 MB.
	maxPayload = 6 * 1024 * 1024
	// maxErrorDoc bounds an error document a runtime posts.
	maxErrorDoc = 1 << 20
)

// errAPIClosed is what an invocation gets when its instance stopped
// before the function could answer.
var errAPIClosed = errors.New("the function was stopped")

// lambdaError is the error document of the Runtime API: what a runtime
// posts when a handler fails or it cannot start.
type lambdaError struct {
	Message    string          `json:"errorMessage"`
	Type       string          `json:"errorType"`
	StackTrace json.RawMessage `json:"stackTrace,omitempty"`
}

// String renders the error the way Lambda's logs do: "Type: message".
func (e *lambdaError) String() string {
	typ := e.Type
	if typ == "" {
		typ = "Error"
	}
	if e.Message == "" {
		return typ
	}
	return typ + ": " + e.Message
}

// stack renders the stack trace for a log line: one frame per line,
// whether the runtime sent strings (Node, Python) or frame objects (Go).
func (e *lambdaError) stack() string {
	if len(e.StackTrace) == 0 || string(e.StackTrace) == "null" {
		return ""
	}
	var lines []string
	if json.Unmarshal(e.StackTrace, &lines) == nil {
		return strings.Join(lines, "\n")
	}
	var frames []struct {
		Path  string `json:"path"`
		Line  int    `json:"line"`
		Label string `json:"label"`
	}
	if json.Unmarshal(e.StackTrace, &frames) == nil {
		lines = make([]string, 0, len(frames))
		for _, f := range frames {
			lines = append(lines, fmt.Sprintf("%s:%d %s", f.Path, f.Line, f.Label))
		}
		return strings.Join(lines, "\n")
	}
	return string(e.StackTrace)
}

// parseLambdaError reads an error document. A body that is not one still
// becomes an error, typed by the header the runtime sent.
func parseLambdaError(body []byte, typeHeader string) *lambdaError {
	var le lambdaError
	if err := json.Unmarshal(body, &le); err != nil || (le.Type == "" && le.Message == "") {
		le = lambdaError{Type: typeHeader, Message: strings.TrimSpace(string(body))}
	}
	if le.Type == "" {
		le.Type = cmp.Or(typeHeader, "Error")
	}
	return &le
}

// masked hides the function's env values in an error document.
func (a *runtimeAPI) masked(le *lambdaError) *lambdaError {
	if a.mask == nil {
		return le
	}
	le.Message = a.mask.Replace(le.Message)
	le.Type = a.mask.Replace(le.Type)
	if len(le.StackTrace) > 0 {
		le.StackTrace = []byte(a.mask.Replace(string(le.StackTrace)))
	}
	return le
}

// invocation is one event on its way through the Runtime API.
type invocation struct {
	id       string
	event    []byte
	deadline time.Time
	traceID  string
	done     chan invokeResult // buffered; receives exactly one result
	gen      uint64            // of the process it was given to; guarded by runtimeAPI.mu
}

// invokeResult is how an invocation ended: the handler's response
// payload, or an error (the handler's, or the runtime's when it died).
type invokeResult struct {
	payload []byte
	err     *lambdaError
}

// invokeTimeout is invoke's error when the deadline passed. running says
// the process had the event: it is stuck in the handler and must be
// killed; gen is that process's generation.
type invokeTimeout struct {
	running bool
	gen     uint64
}

func (e *invokeTimeout) Error() string {
	if e.running {
		return "the handler did not finish in time"
	}
	return "the function did not take the event in time"
}

// runtimeAPI is the Runtime API of one instance.
//
// Every process the instance starts is a new generation; a connection
// belongs to the generation that was current when it was accepted. Only
// connections of the current generation are given events or may answer
// them, so a process that was killed (a timed-out handler) can never take
// or answer an event meant for its successor.
type runtimeAPI struct {
	addr string // host:port, for AWS_LAMBDA_RUNTIME_API
	arn  string // the invoked function ARN the runtime is told
	log  *slog.Logger
	// mask hides the function's env values in the error documents it
	// posts, which go to Seedbed's log; nil masks nothing. Set before
	// the process starts.
	mask *strings.Replacer
	// reported is told every error document a runtime posts (masked),
	// for the function log; nil: none. Set before the process starts.
	reported func(kind string, le *lambdaError)
	srv      *http.Server

	ready      chan struct{} // closed when a process first asks for work
	readyOnce  sync.Once
	initFailed chan struct{} // closed when a runtime reports an init error
	initOnce   sync.Once
	initErr    *lambdaError // set before initFailed is closed

	mu      sync.Mutex
	gen     uint64
	queue   []*invocation // waiting for the process to ask
	current *invocation   // given to the process, not answered yet
	changed chan struct{} // closed and replaced when queue or gen change
	closed  bool
}

type connGenKey struct{}

// newRuntimeAPI starts a Runtime API on a free loopback port; routes add
// the endpoints of Seedbed's own the function may call (instanceapi.go).
func newRuntimeAPI(log *slog.Logger, arn string, routes ...func(*http.ServeMux)) (*runtimeAPI, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start the Lambda Runtime API: %w", err)
	}
	a := &runtimeAPI{
		addr:       ln.Addr().String(),
		arn:        arn,
		log:        log,
		ready:      make(chan struct{}),
		initFailed: make(chan struct{}),
		changed:    make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+runtimeAPIPrefix+"/invocation/next", a.next)
	mux.HandleFunc("POST "+runtimeAPIPrefix+"/invocation/{id}/response", a.response)
	mux.HandleFunc("POST "+runtimeAPIPrefix+"/invocation/{id}/error", a.invocationError)
	mux.HandleFunc("POST "+runtimeAPIPrefix+"/init/error", a.initError)
	for _, add := range routes {
		add(mux)
	}
	a.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
			a.mu.Lock()
			defer a.mu.Unlock()
			return context.WithValue(ctx, connGenKey{}, a.gen)
		},
	}
	go func() { _ = a.srv.Serve(quickAckListener{ln}) }()
	return a, nil
}

// notifyLocked wakes every /next waiting for a change. The caller holds a.mu.
func (a *runtimeAPI) notifyLocked() {
	close(a.changed)
	a.changed = make(chan struct{})
}

// begin starts a new generation and returns it; call it just before
// starting a process.
func (a *runtimeAPI) begin() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen++
	a.notifyLocked()
	return a.gen
}

// finishLocked ends the current invocation with res. The caller holds a.mu.
func (a *runtimeAPI) finishLocked(res invokeResult) {
	inv := a.current
	a.current = nil
	inv.done <- res
}

// invoke queues an event and waits until the function answered, the
// deadline of inv passed (an *invokeTimeout) or ctx was cancelled (the
// client went away; an event the process has keeps running and its
// answer is dropped).
func (a *runtimeAPI) invoke(ctx context.Context, inv *invocation) (invokeResult, error) {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return invokeResult{}, errAPIClosed
	}
	a.queue = append(a.queue, inv)
	a.notifyLocked()
	a.mu.Unlock()

	timer := time.NewTimer(time.Until(inv.deadline))
	defer timer.Stop()
	var cancelled error
	select {
	case res := <-inv.done:
		return res, nil
	case <-timer.C:
	case <-ctx.Done():
		cancelled = context.Cause(ctx)
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	if i := slices.Index(a.queue, inv); i >= 0 {
		a.queue = slices.Delete(a.queue, i, i+1)
		if cancelled != nil {
			return invokeResult{}, cancelled
		}
		return invokeResult{}, &invokeTimeout{}
	}
	if a.current == inv {
		if cancelled != nil {
			return invokeResult{}, cancelled
		}
		// The process is stuck in the handler and gets killed; until its
		// successor starts, no connection may take or answer events.
		a.current = nil
		a.gen++
		a.notifyLocked()
		return invokeResult{}, &invokeTimeout{running: true, gen: inv.gen}
	}
	// Answered meanwhile: the result is in the buffered channel.
	return <-inv.done, nil
}

// processExited fails the invocation the process had, if any, with why
// (Runtime.ExitError, or Runtime.OutOfMemory); the events still queued
// wait for its successor.
func (a *runtimeAPI) processExited(why *lambdaError) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen++
	if a.current != nil {
		a.finishLocked(invokeResult{err: why})
	}
	a.notifyLocked()
}

// close fails whatever is queued or running and stops serving.
func (a *runtimeAPI) close() {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	a.closed = true
	stopped := invokeResult{err: &lambdaError{Type: "Seedbed.FunctionStopped", Message: errAPIClosed.Error()}}
	for _, inv := range a.queue {
		inv.done <- stopped
	}
	a.queue = nil
	if a.current != nil {
		a.finishLocked(stopped)
	}
	a.notifyLocked()
	a.mu.Unlock()
	_ = a.srv.Close()
}

func connGen(r *http.Request) uint64 {
	gen, _ := r.Context().Value(connGenKey{}).(uint64)
	return gen
}

// next hands the process the next event, waiting as long as it takes.
func (a *runtimeAPI) next(w http.ResponseWriter, r *http.Request) {
	gen := connGen(r)
	for {
		a.mu.Lock()
		if a.closed {
			a.mu.Unlock()
			apiFault(w, http.StatusGone, "Seedbed.FunctionStopped", "this function was stopped")
			return
		}
		if gen == a.gen {
			a.readyOnce.Do(func() { close(a.ready) })
			if a.current != nil {
				a.finishLocked(invokeResult{err: &lambdaError{
					Type:    "Runtime.NoResponse",
					Message: "the runtime asked for the next event without answering this one",
				}})
			}
			if len(a.queue) > 0 {
				inv := a.queue[0]
				a.queue = a.queue[1:]
				a.current = inv
				inv.gen = gen
				a.mu.Unlock()
				a.deliver(w, gen, inv)
				return
			}
		}
		changed := a.changed
		a.mu.Unlock()
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		}
	}
}

// deliver writes the event; if the process cannot read it, the
// invocation fails at once rather than at its deadline.
func (a *runtimeAPI) deliver(w http.ResponseWriter, gen uint64, inv *invocation) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(inv.event)))
	h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
	h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
	h.Set("Lambda-Runtime-Invoked-Function-Arn", a.arn)
	h.Set("Lambda-Runtime-Trace-Id", inv.traceID)
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(inv.event)
	if err == nil {
		err = http.NewResponseController(w).Flush()
	}
	if err != nil {
		a.finish(gen, inv.id, invokeResult{err: &lambdaError{
			Type:    "Runtime.ExitError",
			Message: "the runtime went away before it read the event: " + err.Error(),
		}})
	}
}

// finish ends invocation id with res if it is the current one and the
// answer comes from the current generation.
func (a *runtimeAPI) finish(gen uint64, id string, res invokeResult) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if gen != a.gen || a.current == nil || a.current.id != id {
		return false
	}
	a.finishLocked(res)
	return true
}

// response takes the handler's result. A result over Lambda's 6 MB limit
// fails the invocation; the runtime is told all is well, so that it goes
// on with the next event instead of dying over it.
func (a *runtimeAPI) response(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPayload+1))
	if err != nil {
		apiFault(w, http.StatusBadRequest, "InvalidRequest", "read the response: "+err.Error())
		return
	}
	var res invokeResult
	switch {
	case len(body) > maxPayload:
		_, _ = io.Copy(io.Discard, r.Body)
		res.err = &lambdaError{Type: "Function.ResponseSizeTooLarge",
			Message: fmt.Sprintf("response payload size exceeded the maximum allowed payload size (%d bytes)", maxPayload)}
	case r.Trailer.Get("Lambda-Runtime-Function-Error-Type") != "":
		// A streamed response that failed half-way (aws-lambda-go sends
		// the error in trailers).
		doc, _ := base64.StdEncoding.DecodeString(r.Trailer.Get("Lambda-Runtime-Function-Error-Body"))
		res.err = a.masked(parseLambdaError(doc, r.Trailer.Get("Lambda-Runtime-Function-Error-Type")))
		if a.reported != nil {
			a.reported("invocation "+id, res.err)
		}
	default:
		res.payload = body
	}
	if !a.finish(connGen(r), id, res) {
		apiFault(w, http.StatusBadRequest, "InvalidRequestID", "no invocation "+id+" is waiting for an answer")
		return
	}
	accepted(w)
}

// invocationError takes the handler's error.
func (a *runtimeAPI) invocationError(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	body, err := io.ReadAll(io.LimitReader(r.Body, maxErrorDoc))
	if err != nil {
		apiFault(w, http.StatusBadRequest, "InvalidRequest", "read the error: "+err.Error())
		return
	}
	le := a.masked(parseLambdaError(body, r.Header.Get("Lambda-Runtime-Function-Error-Type")))
	if a.reported != nil {
		a.reported("invocation "+id, le)
	}
	if !a.finish(connGen(r), id, invokeResult{err: le}) {
		apiFault(w, http.StatusBadRequest, "InvalidRequestID", "no invocation "+id+" is waiting for an answer")
		return
	}
	accepted(w)
}

// initError records that the runtime could not load the handler; it
// fails the start of the instance (see waitLambdaReady) and is logged.
func (a *runtimeAPI) initError(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxErrorDoc))
	if err != nil {
		apiFault(w, http.StatusBadRequest, "InvalidRequest", "read the error: "+err.Error())
		return
	}
	le := a.masked(parseLambdaError(body, r.Header.Get("Lambda-Runtime-Function-Error-Type")))
	a.log.Error("function failed to initialise: "+le.String(), "stack", le.stack())
	if a.reported != nil {
		a.reported("init", le)
	}
	a.initOnce.Do(func() {
		a.initErr = le
		close(a.initFailed)
	})
	accepted(w)
}

func accepted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
}

// apiFault answers a runtime the way Lambda's Runtime API does.
func apiFault(w http.ResponseWriter, code int, typ, msg string) {
	b, _ := json.Marshal(lambdaError{Type: typ, Message: msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}
