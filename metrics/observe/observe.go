// Package observe is what the gateway and the targets report about each
// request to a function and each failure, for package metrics to count:
// small types and a ResponseWriter wrapper, with no dependency on storage,
// so that the request path imports nothing of the database.
package observe

import (
	"context"
	"time"
)

// Request is one request the gateway answered for a function.
type Request struct {
	App, Stage, Function string // Function is the key, "service/name"
	Instance             string // which instance served it; "" if unknown
	Method, Path         string // Path as the function sees it, without the query
	Status               int
	Duration             time.Duration
	Bytes                int64  // response body bytes written
	Client               string // the client's address, as the gateway believes it
	// ColdStart says the instance was started for this request or had
	// served none since it (re)started.
	ColdStart bool
	// At is when the request arrived; zero means Duration before now.
	At time.Time
	// Failure says why the request failed, when the target knew more
	// than the status (a Lambda handler error, an OOM kill, a timeout);
	// nil otherwise. See NoteFailure.
	Failure *Failure
}

// Observer receives every request the gateway answers for a function. It
// must not block: the gateway calls it on the request's goroutine.
type Observer interface {
	Observe(Request)
}

// Failure kinds.
const (
	KindHTTP         = "5xx"           // a function answered 5xx, or the gateway did for it
	KindCrash        = "crash"         // the process exited on its own
	KindOOM          = "oom"           // the kernel killed it for its memory
	KindTimeout      = "timeout"       // it did not answer within its timeout
	KindHandlerError = "handler_error" // a Lambda handler returned an error
)

// Failure is one failed invocation or one process failure.
type Failure struct {
	App, Stage, Function string
	Instance             string
	Kind                 string // one of the Kind constants
	Type                 string // errorType of a Lambda error, "HTTP 502", "exit status 2"…
	Message              string
	// Excerpt is what shows what happened: a stack trace, the process's
	// last output lines.
	Excerpt string
	// Restarted says the instance was (or is being) started again.
	Restarted bool
	At        time.Time // zero: now
}

// FailureRecorder receives failures that are no request's answer: a
// crash or OOM kill between requests. targets/local calls it.
type FailureRecorder interface {
	RecordFailure(Failure)
}

// InstanceUsage is what a target knows of one running instance now.
type InstanceUsage struct {
	App, Stage, Function string
	Instance             string
	InFlight             int
	MemoryBytes          int64 // resident memory; 0 when unknown
}

// ScaleObserver hears how many instances of a function run whenever a
// target starts or stops one to scale, so that the instances chart sees
// changes between the collector's samples. It must not block.
type ScaleObserver interface {
	InstancesChanged(app, stage, function string, instances int)
}

// InstanceSource lists the running instances with their usage; the
// collector samples it for the in-flight and memory gauges.
type InstanceSource interface {
	InstanceUsage() []InstanceUsage
}

// failureNote carries a failure from the target to the gateway's
// observation of the same request.
type failureNote struct {
	f *Failure
	// instance and cold are what NoteInstance left: which instance
	// served the request, for upstreams that choose it while serving.
	instance string
	cold     bool
}

type failureNoteKey struct{}

// WithFailureNote returns a context in which NoteFailure leaves a failure
// for the caller to read back with NotedFailure. Start makes one per
// request it observes.
func WithFailureNote(ctx context.Context) context.Context {
	return &noteContext{Context: ctx}
}

// noteContext is a context that carries a failure note: what
// context.WithValue and a separate note would be, in one allocation.
type noteContext struct {
	context.Context
	note failureNote
}

// Value answers the note for its key and asks the parent otherwise.
func (c *noteContext) Value(key any) any {
	if key == (failureNoteKey{}) {
		return &c.note
	}
	return c.Context.Value(key)
}

// NoteFailure tells the gateway's observation of the request in ctx why
// it failed. Without WithFailureNote (no observer) it does nothing. Only
// the request's own goroutines may call it.
func NoteFailure(ctx context.Context, f Failure) {
	if n, ok := ctx.Value(failureNoteKey{}).(*failureNote); ok {
		n.f = &f
	}
}

// NoteInstance tells the gateway's observation of the request in ctx
// which instance serves it and whether that is the instance's first
// request since it started (a cold start): for an upstream that picks
// one of several instances only once it serves the request. Without
// WithFailureNote it does nothing; only the request's own goroutines may
// call it.
func NoteInstance(ctx context.Context, instance string, cold bool) {
	if n, ok := ctx.Value(failureNoteKey{}).(*failureNote); ok {
		n.instance, n.cold = instance, cold
	}
}

// notedInstance reads what NoteInstance left in ctx.
func notedInstance(ctx context.Context) (instance string, cold bool) {
	if n, ok := ctx.Value(failureNoteKey{}).(*failureNote); ok {
		return n.instance, n.cold
	}
	return "", false
}

// NotedFailure reads what NoteFailure left in ctx, or nil.
func NotedFailure(ctx context.Context) *Failure {
	if n, ok := ctx.Value(failureNoteKey{}).(*failureNote); ok {
		return n.f
	}
	return nil
}
