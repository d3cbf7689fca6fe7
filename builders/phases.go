package builders

import (
	"strconv"
	"time"
)

// Phases of a build, as recorded and shown on the build page. Checkout is
// the pipelines' fetch; the others are per service.
const (
	PhaseCheckout = "checkout"
	PhaseInstall  = "install"
	PhaseHooks    = "hooks"
	PhaseCompile  = "compile"
	PhasePackage  = "package"
)

// Phase is one timed step of a build.
type Phase struct {
	Name    string    `json:"name"`
	Service string    `json:"service,omitempty"` // empty for the checkout
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
}

// Duration is how long the phase took.
func (p Phase) Duration() time.Duration { return p.End.Sub(p.Start) }

// phaseTimer returns a function that starts a phase of service and
// returns the function that ends it, reporting it to report (which may
// be nil).
func phaseTimer(report func(Phase), service string) func(name string) func() {
	return func(name string) func() {
		start := time.Now().UTC()
		return func() {
			if report != nil {
				report(Phase{Name: name, Service: service, Start: start, End: time.Now().UTC()})
			}
		}
	}
}

// Vars are the SEEDBED_* variables every build command and hook sees,
// and deploy hooks too.
type Vars struct {
	App     string // SEEDBED_APP
	Stage   string // SEEDBED_STAGE: the stage the build deploys to first, or empty
	BuildID uint   // SEEDBED_BUILD_ID
	Commit  string // SEEDBED_COMMIT: the full SHA
	Branch  string // SEEDBED_BRANCH: the branch built, or empty for a tag or commit
}

// Environ renders the variables for service as KEY=value entries.
func (v Vars) Environ(service string) []string { return v.environ(service) }

func (v Vars) environ(service string) []string {
	id := ""
	if v.BuildID != 0 {
		id = strconv.FormatUint(uint64(v.BuildID), 10)
	}
	return []string{
		"SEEDBED_APP=" + v.App,
		"SEEDBED_STAGE=" + v.Stage,
		"SEEDBED_SERVICE=" + service,
		"SEEDBED_BUILD_ID=" + id,
		"SEEDBED_COMMIT=" + v.Commit,
		"SEEDBED_BRANCH=" + v.Branch,
	}
}
