// Package stack reads seedbed.yml, the file at the root of an app's
// repository that declares its services, functions, routes and pipeline.
package stack

import "time"

// FileName is where the stack file lives in a repository.
const FileName = "seedbed.yml"

// Runtimes known to this version of Seedbed.
var Runtimes = []string{"go", "node", "python", "static", "process"}

// Stack is a parsed and validated seedbed.yml.
type Stack struct {
	Services []Service   // sorted by name
	Stages   []StageSpec // pipeline order; empty means the default dev → staging → prod
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
}
