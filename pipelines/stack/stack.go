// Package stack reads seedbed.yml, the file at the root of an app's
// repository that declares its services, functions, routes and pipeline.
package stack

import "time"

// FileName is where the stack file lives in a repository.
const FileName = "seedbed.yml"

// Runtimes known to this version of Seedbed.
var Runtimes = []string{"go", "process"}

// Stack is a parsed and validated seedbed.yml.
type Stack struct {
	Services []Service   // sorted by name
	Stages   []StageSpec // pipeline order; empty means the default dev → staging → prod
}

// Service is a folder of the repository with its own build and functions.
type Service struct {
	Name      string
	Path      string // clean, relative, never escaping the repository
	Runtime   string
	Build     string // shell command; empty means the runtime's default
	Hooks     Hooks
	Functions []Function // sorted by name
}

// Hooks are shell commands run around a service's build and deploy.
type Hooks struct {
	BeforeBuild  []string
	AfterBuild   []string
	BeforeDeploy []string
	AfterDeploy  []string
}

// Function kinds: how the target talks to a function.
const (
	KindHTTP   = "http"   // the process listens on $PORT and serves HTTP
	KindLambda = "lambda" // an unchanged AWS Lambda handler behind the Lambda Runtime API
)

// Function is one deployable unit of a service.
type Function struct {
	Name    string
	Kind    string // KindHTTP (the default) or KindLambda; yaml key "type"
	Handler string // what the runtime starts; for go, the binary's name
	Routes  []Route
	Env     map[string]string
	Timeout time.Duration // per request; zero means the default
	Memory  int           // MiB; zero means no limit
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
