// Package targets defines where a stage's functions run. A Target is told the
// whole set of functions a stage must serve and makes it so; the local target
// (package local) runs them as supervised processes on this machine.
package targets

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/seedbed/seedbed/stack"
)

// StageRef names one stage of one app.
type StageRef struct {
	App   string
	Stage string
}

// String renders the reference as "app/stage".
func (s StageRef) String() string { return s.App + "/" + s.Stage }

// Function is everything a target needs to run one function of a release.
type Function struct {
	Service string            `json:"service"`
	Name    string            `json:"name"`
	Runtime string            `json:"runtime"`
	Kind    string            `json:"kind,omitempty"` // stack.KindHTTP ("" means http) or stack.KindLambda
	Handler string            `json:"handler"`
	Digest  string            `json:"digest"` // artifact sha256, "sha256:<hex>"
	Routes  []stack.Route     `json:"routes"`
	Env     map[string]string `json:"env,omitempty"`
	// Secrets names the keys of Env whose values hold a stage secret: a
	// target masks those values in whatever it keeps of the function's
	// output (error messages, its own log). Plain values stay readable.
	Secrets     []string      `json:"secrets,omitempty"`
	Timeout     time.Duration `json:"timeout,omitempty"`      // to start answering
	IdleTimeout time.Duration `json:"idle_timeout,omitempty"` // an answer under way, without a byte
	BodyLimit   int           `json:"body_limit,omitempty"`   // MiB
	Memory      int           `json:"memory,omitempty"`
	// Instances and Concurrency are the stack's (see stack.Function);
	// nil and 0 mean its defaults.
	Instances   *stack.Instances `json:"instances,omitempty"`
	Concurrency int              `json:"concurrency,omitempty"`
	// Release is the release the function is deployed from, which its
	// instances' log lines name; 0 when unknown. Not part of a change
	// set: an unchanged function keeps running, and logging as, the
	// release that started it.
	Release uint `json:"-"`
	// Events and Async are the function's schedules and queue
	// subscriptions and its retry settings; targets run the function the
	// same whatever starts it, the events package reads these.
	Events []stack.Event `json:"events,omitempty"`
	Async  *stack.Async  `json:"async,omitempty"`
}

// Key identifies the function within a stage: "service/name".
func (f Function) Key() string { return f.Service + "/" + f.Name }

// Logger receives progress lines of an apply, shown in the deploy's log.
type Logger interface {
	Printf(format string, args ...any)
}

// Target runs the functions of stages.
//
// The order of calls: Apply any number of times per stage, each call with the
// complete set of functions the stage must serve afterwards; Remove when the
// stage goes away. Calls for one stage are never made concurrently by the
// pipelines package (it holds the stage's deploy lock), calls for different
// stages may be.
type Target interface {
	// Apply makes stage serve exactly fns. It starts every new or changed
	// function, waits until each is healthy, then switches the stage's routes
	// to the new set in one step, and only then stops what is no longer
	// needed. If any function fails to start, nothing is switched, the stage
	// keeps serving what it served, and the error names the function and the
	// cause (with its last output lines).
	Apply(ctx context.Context, stage StageRef, fns []Function, log Logger) error
	// Remove stops every function of stage; its routes answer 404.
	Remove(ctx context.Context, stage StageRef) error
	// Running returns the functions stage serves now, sorted by Key.
	Running(stage StageRef) []Function
}

// Invoker delivers one event to one function of a stage and waits for its
// answer: what schedules, async invocations and queues use to run a
// function without an HTTP client waiting. A target that can run events
// implements it beside Target.
type Invoker interface {
	// Invoke runs function (a Key, "service/name") of stage with ev and
	// returns what it answered. The error is non-nil when the invocation
	// failed for any reason: the stage or function is not running here
	// (ErrNotRunning), the function timed out, failed (a Lambda error, an
	// HTTP status of 400 or more) or could not be reached. The Result
	// holds what is known even then (the output excerpt, the status).
	Invoke(ctx context.Context, stage StageRef, function string, ev Event) (Result, error)
}

// ErrNotRunning is wrapped by Invoke's error when this target does not
// run the function: another process may, or the stage moved on.
var ErrNotRunning = errors.New("function is not running here")

// Event is the input of one invocation.
type Event struct {
	// ID identifies the invocation; a Lambda-style function sees it as
	// its request id, an HTTP function in X-Seedbed-Invocation-Id.
	ID string
	// Payload is the event: a Lambda-style function receives it as is
	// through the Runtime API; an HTTP function receives it as the body
	// of the request below.
	Payload []byte
	// The request an HTTP function receives. Method "" is POST; Path is
	// the function's own path (no /APP/STAGE prefix); Header "" sends
	// Content-Type: application/json.
	Method string
	Path   string
	Header http.Header
}

// Result is what a function answered to an Event.
type Result struct {
	// Payload is a Lambda-style function's response, or an HTTP
	// function's response body (both capped by the target).
	Payload []byte
	// Status is the HTTP status an HTTP function answered; 0 for Lambda.
	Status int
	// Output is the last lines the function printed (secrets masked),
	// for the invocation's log excerpt.
	Output string
}

// DriftDetector is implemented beside Target by a target whose stages can
// be changed behind Seedbed's back (objects in a cluster edited or deleted
// by hand): it tells how what runs differs from what the target applied.
// The local target runs its stages as its own child processes, so it has
// none to tell and does not implement it.
type DriftDetector interface {
	// Drift describes each difference between the live objects of stage's
	// live release and what the target applied, one sentence each, sorted;
	// none means no drift. The next Apply of the stage repairs every one.
	// The error is non-nil when the target could not be reached or read:
	// then nothing is known about drift, which is not "none".
	Drift(ctx context.Context, stage StageRef) ([]string, error)
}
