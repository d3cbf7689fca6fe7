package local

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/seedbed/seedbed/gateway"
	"github.com/seedbed/seedbed/metrics/observe"
	"github.com/seedbed/seedbed/targets"
)

// InstanceUsage lists the instances the stages serve now with their
// requests in flight and resident memory (observe.InstanceSource): every
// running instance of every function, so that the count of a function's
// entries is its number of instances. It reads the live pools, never
// waiting for an Apply in progress.
// Memory is the instance's cgroup's (memory.current) with hard limits,
// else the resident set of its process as /proc tells it: for a
// sandboxed function that is bubblewrap's, not the function's, so it
// reads low.
func (t *Target) InstanceUsage() []observe.InstanceUsage {
	t.mu.Lock()
	stages := make([]*stageState, 0, len(t.stages))
	for _, st := range t.stages {
		stages = append(stages, st)
	}
	t.mu.Unlock()
	var out []observe.InstanceUsage
	for _, st := range stages {
		live := st.live.Load()
		if live == nil {
			continue
		}
		for _, p := range *live {
			if p.static != nil {
				continue
			}
			for _, in := range p.instances() {
				out = append(out, observe.InstanceUsage{App: st.ref.App, Stage: st.ref.Stage, Function: in.fn.Key(),
					Instance: in.name(), InFlight: in.inFlight(), MemoryBytes: in.memory()})
			}
		}
	}
	return out
}

// name tells instances apart in metrics: the run directory's name, which
// is unique per instance.
func (in *instance) name() string {
	if in.runDir == "" {
		return ""
	}
	return filepath.Base(in.runDir)
}

// memory reads the instance's resident memory in bytes; 0 when unknown.
func (in *instance) memory() int64 {
	if in.cg != nil {
		if n := in.cg.memoryCurrent(); n > 0 {
			return n
		}
	}
	in.mu.Lock()
	p := in.cur
	in.mu.Unlock()
	if p == nil || p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return rssOf(p.cmd.Process.Pid)
}

// rssOf reads VmRSS of a process from /proc.
func rssOf(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) >= 1 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// reportFailure tells the target's FailureRecorder about a process that
// failed between or during requests.
func (in *instance) reportFailure(kind, typ, msg string) {
	if in.t.cfg.Failures == nil {
		return
	}
	in.t.cfg.Failures.RecordFailure(observe.Failure{App: in.stage.App, Stage: in.stage.Stage, Function: in.fn.Key(), Instance: in.name(),
		Kind: kind, Type: typ, Message: msg, Excerpt: strings.Join(in.out.last(), "\n"), Restarted: true})
}

var _ observe.InstanceSource = (*Target)(nil)

// ClaimRequest names the instance serving a request and tells whether it
// is the first since the process (re)started (gateway.InstanceReporter).
func (in *instance) ClaimRequest() (string, bool) {
	return in.name(), !in.warm.Swap(true)
}

// noteFailure tells the gateway's observation of r why it failed, with
// the instance's last output lines when no stack is given: the sample an
// issue shows.
func (in *instance) noteFailure(r *http.Request, kind, typ, msg, excerpt string) {
	if excerpt == "" && in.out != nil {
		excerpt = strings.Join(in.out.last(), "\n")
	}
	observe.NoteFailure(r.Context(), observe.Failure{Instance: in.name(), Kind: kind, Type: typ, Message: msg, Excerpt: excerpt})
}

// noteServerErrors is the proxy's ModifyResponse: a 5xx a function
// answered itself is noted with its last output lines, then the console's
// cookies are dropped as always.
func noteServerErrors(resp *http.Response) error {
	pt, _ := resp.Request.Context().Value(proxyTargetKey{}).(*proxyTarget)
	return noteServerErrorsOf(pt, resp)
}

// noteServerErrorsOf is noteServerErrors for a request whose proxyTarget
// is pt (the lean path has it at hand, not in the request's context).
func noteServerErrorsOf(pt *proxyTarget, resp *http.Response) error {
	if resp.StatusCode >= 500 && pt != nil {
		pt.inst.noteFailure(resp.Request, observe.KindHTTP, "HTTP "+strconv.Itoa(resp.StatusCode), http.StatusText(resp.StatusCode), "")
	}
	return gateway.DropConsoleCookies(resp)
}

// InstanceCounts counts the running instances of each function of ref by
// function key (static sites, served by the target itself, are left out),
// for the stage map's "short of instances"; nil when this target runs
// nothing of ref (a stage on another target).
func (t *Target) InstanceCounts(ref targets.StageRef) map[string]int {
	t.mu.Lock()
	st := t.stages[ref]
	t.mu.Unlock()
	if st == nil {
		return nil
	}
	live := st.live.Load()
	if live == nil {
		return nil
	}
	out := map[string]int{}
	for _, p := range *live {
		if p.static == nil {
			out[p.fn.Key()] += len(p.instances())
		}
	}
	return out
}
