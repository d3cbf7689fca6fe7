// Package stack reads seedbed.yml, the file at the root of an app's
// repository that declares its services, functions, routes and pipeline.
package stack

import (
	"fmt"
	"time"
)

// FileName is where the stack file lives in a repository.
const FileName = "seedbed.yml"

// Runtimes known to this version of Seedbed.
var Runtimes = []string{"go", "node", "python", "static", "process"}

// Stack is a parsed and validated seedbed.yml.
type Stack struct {
	Services []Service   // sorted by name
	Stages   []StageSpec // pipeline order; empty means the default dev → staging → prod
	// Queues are declared once; every stage gets queues of its own by
	// these names. Sorted by name.
	Queues []Queue
}

// Service is a folder of the repository with its own build and functions.
type Service struct {
	Name    string
	Path    string // clean, relative, never escaping the repository
	Runtime string
	Build   string // shell command; empty means the runtime's default
	Output  string // static only: the folder the build leaves the site in, relative to Path ("" is Path)
	Hooks   Hooks
	// DependsOn names the services this one builds and deploys after;
	// a rebuild of one of them rebuilds this one too.
	DependsOn []string
	Functions []Function // sorted by name
}

// Hooks are shell commands run around a service's build and deploy.
type Hooks struct {
	BeforeBuild  []string
	AfterBuild   []string
	BeforeDeploy []string
	AfterDeploy  []string
	// BeforeRemove and AfterRemove run when a deploy removes the
	// service's last function from a stage; they are taken from the
	// release the stage served until then.
	BeforeRemove []string
	AfterRemove  []string
}

// Function kinds: how the target talks to a function.
const (
	KindHTTP   = "http"   // the process listens on $PORT and serves HTTP
	KindLambda = "lambda" // an unchanged AWS Lambda handler behind the Lambda Runtime API
)

// Function is one deployable unit of a service.
//
// What Handler means depends on the service's runtime and the function's
// Kind:
//
//	runtime  http (serves HTTP on $PORT)         lambda (an AWS Lambda handler)
//	go       the binary the build produced       the same (aws-lambda-go)
//	         ("bootstrap" when left out)
//	node     the entry file, e.g. server.js or   "file.export", e.g. index.handler
//	         src/server.ts; bundled, run by node (index.js or index.ts exporting handler)
//	python   the entry file, e.g. app.py, run    "module.function", e.g. app.handler
//	         by python3 from the artifact root   (app.py defining handler(event, context))
//	static   none: the files are served          not allowed
//	process  a shell command, e.g. ./server      not allowed
//
// Node handlers name the source; the artifact holds the bundle, see
// NodeEntry. Lambda handlers follow AWS's rules; SplitLambdaHandler
// takes them apart.
type Function struct {
	Name    string
	Kind    string // KindHTTP (the default) or KindLambda; yaml key "type"
	Handler string // what the runtime starts; see above
	Routes  []Route
	Env     map[string]string
	// Timeout bounds how long the function may take to start answering
	// a request; zero means the default (30s).
	Timeout time.Duration
	// IdleTimeout bounds how long an answer under way (a download, a
	// stream, a WebSocket) may go without a byte either way; zero means
	// the default (60s). HTTP functions only.
	IdleTimeout time.Duration
	// BodyLimit is the largest request body the function accepts, in MiB;
	// zero means the default (10). Lambda-style functions keep Lambda's
	// 6 MB.
	BodyLimit int
	Memory    int // MiB; zero means no limit
	// Instances bounds how many instances of the function run at once
	// and when idle ones stop; nil means exactly one, always (min 1,
	// max 1). Not for static functions.
	Instances *Instances
	// Concurrency is how many requests one instance takes at once;
	// zero means the default: 1 for Lambda-style handlers (as Lambda
	// does, and the only value they accept), and for HTTP functions 80
	// as the level past which another instance starts, without a hard
	// cap (see docs/scaling.md). Set, it is a hard cap for HTTP
	// functions too: further requests wait for a free instance.
	Concurrency int
	// Events start the function besides its routes: schedules and queue
	// subscriptions, in the order the file lists them.
	Events []Event
	// Async says how invocations of the function that do not wait for
	// an answer are retried; nil means the defaults (see Async).
	Async *Async
}

// Instances is a function's `instances: {min, max, scale_down_after}`.
type Instances struct {
	// Min instances always run; 0 lets the function scale to zero,
	// and the first request then waits while one starts.
	Min int `json:"min"`
	// Max is the most instances that run at once (at least 1, at least
	// Min).
	Max int `json:"max"`
	// ScaleDownAfter is how long an instance above Min may stay without
	// a request before it is stopped; zero means DefaultScaleDownAfter.
	ScaleDownAfter time.Duration `json:"scale_down_after,omitempty"`
}

// Route is one "METHOD /path" a function answers. Method "ANY" matches
// every method. Path segments may be "{name}" (one segment) or, last,
// "{name+}" (the rest of the path).
type Route struct {
	Method string
	Path   string
}

// String renders the route the way the stack file writes it.
func (r Route) String() string { return r.Method + " " + r.Path }

// StageSpec declares one stage of the pipeline.
type StageSpec struct {
	Name     string
	Branch   string // pushes to this branch deploy here automatically
	Approval bool   // promotions into this stage wait for a person
	// Schedules turns the schedules of the stage's functions on or off;
	// nil means on (preview stages, which are not declared here, have
	// them off).
	Schedules *bool
}

// Event is one thing besides an HTTP route that starts a function: a
// schedule (Schedule is set) or a queue subscription (Queue is set).
// It is stored in release manifests, hence the JSON names.
type Event struct {
	// Schedule is the expression as the file wrote it: rate(…), cron(…)
	// or a 5-field cron line; see ParseSchedule.
	Schedule string `json:"schedule,omitempty"`
	// TimeZone is the IANA zone cron fields are read in; "" is UTC.
	TimeZone string `json:"time_zone,omitempty"`
	// Overlap lets a tick run while the previous tick's run has not
	// finished; by default such a tick is skipped.
	Overlap bool `json:"overlap,omitempty"`

	// Queue names a queue of the stack's queues the function consumes.
	Queue string `json:"queue,omitempty"`
	// Batch is the most messages one invocation gets (1 to MaxBatch).
	Batch int `json:"batch,omitempty"`
	// Concurrency is how many batches may run at once.
	Concurrency int `json:"concurrency,omitempty"`

	// Path is where an HTTP function receives the event, as a POST with
	// the event as a JSON body. Lambda-style functions get the event
	// itself and have no path.
	Path string `json:"path,omitempty"`
}

// IsSchedule reports whether the event is a schedule.
func (e Event) IsSchedule() bool { return e.Schedule != "" }

// String describes the event the way change sets and pages show it:
// `schedule "rate(5 minutes)"`, `queue orders (batch 10)`.
func (e Event) String() string {
	var s string
	if e.IsSchedule() {
		s = fmt.Sprintf("schedule %q", e.Schedule)
		if e.TimeZone != "" {
			s += " in " + e.TimeZone
		}
	} else {
		s = fmt.Sprintf("queue %s (batch %d, concurrency %d)", e.Queue, e.Batch, e.Concurrency)
	}
	if e.Path != "" {
		s += " → POST " + e.Path
	}
	return s
}

// Async says how an invocation that does not wait for an answer (an
// async invocation, or a schedule's tick) is retried when it fails.
type Async struct {
	// Retries after the first attempt; 0 to MaxRetries.
	Retries int `json:"retries"`
	// Backoff is the wait before the first retry; it doubles each time.
	Backoff time.Duration `json:"backoff"`
	// OnFailure is "service/function" of the stack, invoked with the
	// failed invocation's record once the retries are spent; "" keeps the
	// record in the stage's dead letters only.
	OnFailure string `json:"on_failure,omitempty"`
}

// Defaults and limits of events.
const (
	// DefaultRetries is how often a failed async invocation is tried again
	// when the function says nothing, as AWS Lambda does.
	DefaultRetries = 2
	// MaxRetries bounds retries of async invocations.
	MaxRetries = 10
	// DefaultBackoff is the wait before the first retry.
	DefaultBackoff = time.Second
	// MaxBatch is the most messages one queue invocation gets, as in SQS.
	MaxBatch = 10
	// MaxInstances bounds a function's instances.max.
	MaxInstances = 100
	// MaxFunctionConcurrency bounds a function's concurrency.
	MaxFunctionConcurrency = 1000
	// DefaultScaleDownAfter is how long an idle instance above min runs
	// on when instances.scale_down_after is not set.
	DefaultScaleDownAfter = 5 * time.Minute
	// MaxScaleDownAfter bounds instances.scale_down_after.
	MaxScaleDownAfter = 24 * time.Hour
	// MaxConcurrency bounds how many batches of one subscription run at once.
	MaxConcurrency = 100
	// DefaultVisibilityTimeout is how long a received message stays hidden.
	DefaultVisibilityTimeout = 30 * time.Second
	// DefaultMaxReceives is how often a message is received before it goes
	// to the queue's dead letters.
	DefaultMaxReceives = 5
)

// AsyncOf returns fn's async settings, defaults filled in.
func AsyncOf(a *Async) Async {
	if a == nil {
		return Async{Retries: DefaultRetries, Backoff: DefaultBackoff}
	}
	return *a
}

// Queue is a queue declared by the stack. Every stage has its own.
type Queue struct {
	Name string `json:"name"`
	// VisibilityTimeout is how long a message given to a consumer stays
	// hidden from others; a consumer that outlives it may see the message
	// again elsewhere.
	VisibilityTimeout time.Duration `json:"visibility_timeout"`
	// MaxReceives is how often a message is handed to a consumer before it
	// moves to the queue's dead letters.
	MaxReceives int `json:"max_receives"`
}
