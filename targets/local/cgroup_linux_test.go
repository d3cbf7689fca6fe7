//go:build linux

package local

import (
	"errors"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seedbed/seedbed/targets"
)

// instanceCgroup returns the cgroup of a stage's live instance of key.
func (b *bundle) instanceCgroup(t *testing.T, ref targets.StageRef, key string) *fnCgroup {
	t.Helper()
	st, _ := b.target.stage(ref, false)
	if st == nil {
		t.Fatalf("stage %s is not deployed", ref)
	}
	st.applyMu.Lock()
	defer st.applyMu.Unlock()
	in := st.instances[key].first()
	if in == nil || in.cg == nil {
		t.Fatalf("%s of %s has no cgroup", key, ref)
	}
	return in.cg
}

// memoryLimit reads a cgroup's memory limit in bytes.
func memoryLimit(t *testing.T, fc *fnCgroup) int64 {
	t.Helper()
	file := "memory.limit_in_bytes"
	if fc.parent.version == 2 {
		file = "memory.max"
	}
	b, err := os.ReadFile(filepath.Join(fc.dir, file))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return n
}

func inCgroup(t *testing.T, fc *fnCgroup, pid int) bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fc.dir, "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains("\n"+string(b), "\n"+strconv.Itoa(pid)+"\n")
}

// TestMemoryLimitStopsFunction has a function allocate far past its
// memory: the kernel stops it, the log and the gateway say so, and it is
// restarted in the same cgroup, which goes away with the stage.
func TestMemoryLimitStopsFunction(t *testing.T) {
	needCgroups(t)
	oom := "out of memory: function api/fn exceeded its 64 MiB memory limit and was stopped"
	tests := []struct {
		name     string
		fn       targets.Function
		pid      func(b *bundle, t *testing.T) (status, pid int) // asks the function its pid
		wantBody string                                          // of the failed request
		wantLogs []string
	}{
		{
			name: "http",
			fn: func() targets.Function {
				fn := goFn("fn", "v1", nil, "GET /hog", "GET /pid")
				fn.Memory = 64
				return fn
			}(),
			pid: func(b *bundle, t *testing.T) (int, int) {
				res := b.get(t, "/shop/dev/pid")
				return res.status, b.livePID("api/fn")
			},
			wantBody: oom + "\n",
			wantLogs: []string{"request failed: " + oom, oom + "; restarting"},
		},
		{
			name: "lambda",
			fn: func() targets.Function {
				fn := lambdaFn("go", "bootstrap", "go-lambda", nil)
				fn.Memory = 64
				return fn
			}(),
			pid: func(b *bundle, t *testing.T) (int, int) {
				a := b.call(t, call{path: "/shop/dev/echo"})
				return a.status, b.livePID("api/fn")
			},
			wantBody: `{"message":"Internal Server Error"}`,
			wantLogs: []string{"invocation failed: Runtime.OutOfMemory: " + oom, oom + "; restarting"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := setup(t, withTrees, func(c *Config) { c.MemoryLimits = MemoryLimitsCgroup })
			b.target.timing.backoffMin = 50 * time.Millisecond
			if logs := b.logs.String(); !strings.Contains(logs, "memory limits: cgroup v") {
				t.Errorf("the start log does not say which memory limits are used:\n%s", logs)
			}
			b.apply(t, shopDev, tc.fn)
			fc := b.instanceCgroup(t, shopDev, "api/fn")
			if got := memoryLimit(t, fc); got != 64<<20 {
				t.Errorf("cgroup memory limit %d, want %d", got, 64<<20)
			}
			status, before := tc.pid(b, t)
			if status != http.StatusOK || !inCgroup(t, fc, before) {
				t.Fatalf("status %d; pid %d in the cgroup: %v", status, before, inCgroup(t, fc, before))
			}

			a := b.call(t, call{path: "/shop/dev/hog?mb=300"})
			if a.status != http.StatusBadGateway || string(a.body) != tc.wantBody {
				t.Errorf("allocating 300 MiB: %d %q, want 502 %q", a.status, a.body, tc.wantBody)
			}

			deadline := time.Now().Add(10 * time.Second)
			for {
				status, pid := tc.pid(b, t)
				if status == http.StatusOK && pid != before {
					// On cgroup v1 a process is moved in right after it
					// started, and the move can wait while the kernel is
					// still reaping the killed one: it may answer first.
					in := inCgroup(t, fc, pid)
					for wait := time.Now().Add(2 * time.Second); !in && time.Now().Before(wait); in = inCgroup(t, fc, pid) {
						time.Sleep(20 * time.Millisecond)
					}
					if !in {
						t.Errorf("the restarted process %d is not in the cgroup", pid)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("not restarted within 10s; last answer %d from pid %d", status, pid)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if a := b.call(t, call{path: "/shop/dev/hog?mb=8"}); a.status != http.StatusOK {
				t.Errorf("allocating 8 MiB within 64: %d %s", a.status, a.body)
			}
			logs := b.logs.String()
			for _, want := range tc.wantLogs {
				if !strings.Contains(logs, want) {
					t.Errorf("logs lack %q:\n%s", want, logs)
				}
			}
			if strings.Contains(logs, "function crashed") {
				t.Errorf("the OOM kill was logged as a plain crash:\n%s", logs)
			}

			if err := b.target.Remove(t.Context(), shopDev); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(fc.dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the instance's cgroup is still there after Remove: %v", err)
			}
			if err := b.target.Close(t.Context()); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(fc.parent.dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the target's parent cgroup is still there after Close: %v", err)
			}
		})
	}
}

// TestCgroupsOfAnEarlierLife has a target die without stopping its
// functions; the next target with the same folder removes their cgroup
// and what runs in it.
func TestCgroupsOfAnEarlierLife(t *testing.T) {
	needCgroups(t)
	dir := t.TempDir()
	c, err := detectCgroups(dir, false, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	fc, err := c.create("fn-left-behind", 32)
	if err != nil {
		t.Fatal(err)
	}
	_, waited := sleepIn(t, fc)

	b := setup(t, func(cfg *Config) { cfg.Dir = dir; cfg.MemoryLimits = MemoryLimitsCgroup })
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		t.Fatal("the process in the cgroup left behind still runs")
	}
	if _, err := os.Stat(fc.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the cgroup left behind is still there: %v", err)
	}
	if logs := b.logs.String(); !strings.Contains(logs, "removing a cgroup a previous run of Seedbed left behind") {
		t.Errorf("the removal is not logged:\n%s", logs)
	}
}

// TestMemoryLimitsSoft: where cgroups are turned off, runtimes get the
// soft limits only, GOMEMLIMIT at the full memory.
func TestMemoryLimitsSoft(t *testing.T) {
	b := setup(t, withTrees, func(c *Config) { c.MemoryLimits = MemoryLimitsSoft })
	if b.target.cgroups != nil {
		t.Fatal("soft memory limits, yet the target has cgroups")
	}
	if logs := b.logs.String(); !strings.Contains(logs, "memory limits: soft (as configured)") {
		t.Errorf("start log:\n%s", logs)
	}
	fn := lambdaFn("go", "bootstrap", "go-lambda", nil)
	fn.Memory = 100
	b.apply(t, shopDev, fn)
	if got := b.call(t, call{path: "/shop/dev/echo"}).echo.Env["GOMEMLIMIT"]; got != "100MiB" {
		t.Errorf("GOMEMLIMIT = %q, want 100MiB", got)
	}
	if _, err := New(Config{Dir: t.TempDir(), Artifacts: b.artifacts, MemoryLimits: "hard"}); err == nil ||
		!strings.Contains(err.Error(), `memory limits "hard": use auto, cgroup or soft`) {
		t.Errorf("New with memory limits hard: %v", err)
	}
}

// v2TestCgroup makes an empty cgroup for t below the test's own cgroup v2
// (a hybrid machine's unified hierarchy, without controllers, will do),
// and returns it and how /proc/PID/cgroup names it. It skips the test
// where cgroup v2 is not mounted or not writable.
func v2TestCgroup(t *testing.T) (dir, name string) {
	t.Helper()
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Skip(err)
	}
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Skip(err)
	}
	procs, err := parseProcCgroup(string(self))
	if err != nil {
		t.Fatal(err)
	}
	mounts, err := parseMountInfo(string(info))
	if err != nil {
		t.Fatal(err)
	}
	base := locateCgroups(procs, mounts).v2
	if base == "" {
		t.Skip("cgroup v2 is not mounted")
	}
	dir, err = os.MkdirTemp(base, "seedbed-test-")
	if err != nil {
		t.Skipf("cgroup v2 at %s is not writable: %v", base, err)
	}
	t.Cleanup(func() {
		if err := syscall.Rmdir(dir); err != nil {
			t.Errorf("remove test cgroup: %v", err)
		}
	})
	for _, pc := range procs {
		if pc.id == 0 {
			name = path.Join(pc.path, filepath.Base(dir))
		}
	}
	return dir, name
}

// sleepIn starts sleep 60 in the cgroup fc, with clone3 where the kernel
// can, and kills it when the test ends.
func sleepIn(t *testing.T, fc *fnCgroup) (*exec.Cmd, <-chan error) {
	t.Helper()
	sleeper := func() *exec.Cmd {
		cmd := exec.Command("sleep", "60")
		// In a session of its own, as a function's child that escaped
		// its process group would be.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		return cmd
	}
	cmd := sleeper()
	err := fc.start(cmd)
	if errors.Is(err, errRetryStart) {
		cmd = sleeper()
		err = fc.start(cmd)
	}
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd, waited
}

func procCgroupV2(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "0::"); ok {
			return p
		}
	}
	t.Fatalf("/proc/%d/cgroup has no cgroup v2 line: %q", pid, b)
	return ""
}

// TestCgroupV2StartsInside starts a process inside a cgroup v2 child with
// clone3 and removes the cgroup with it still running.
func TestCgroupV2StartsInside(t *testing.T) {
	parent, name := v2TestCgroup(t)
	c := &cgroups{version: 2, dir: parent, log: slog.New(slog.DiscardHandler)}
	fc, err := c.create("fn-x", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fc.remove() })

	cmd, waited := sleepIn(t, fc)
	if c.noCloneInto.Load() {
		t.Error("the kernel could not start the process inside its cgroup")
	}
	if got, want := procCgroupV2(t, cmd.Process.Pid), name+"/fn-x"; got != want {
		t.Errorf("the process is in cgroup %q, want %q", got, want)
	}
	if err := fc.remove(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		t.Fatal("the process still runs after its cgroup was removed")
	}
}

// TestCgroupV2MoveProcesses empties a cgroup into its seedbed-self child,
// as setupV2 does when the no-internal-processes rule stands in its way:
// all of its processes in a cgroup namespace's root, only Seedbed's
// elsewhere.
func TestCgroupV2MoveProcesses(t *testing.T) {
	base, name := v2TestCgroup(t)
	// base stands for Seedbed's cgroup; a sleep in it for another process.
	c := &cgroups{version: 2, dir: filepath.Dir(base), log: slog.New(slog.DiscardHandler)}
	holder := &fnCgroup{parent: c, dir: base}
	cmd, _ := sleepIn(t, holder)
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = (&fnCgroup{parent: c, dir: filepath.Join(base, selfLeaf)}).remove()
	})

	if _, err := moveProcesses(base, false); err == nil || !strings.Contains(err.Error(), "holds 1 processes besides Seedbed") {
		t.Errorf("moving only Seedbed out of a cgroup it shares: %v", err)
	}
	moved, err := moveProcesses(base, true)
	if err != nil {
		t.Fatal(err)
	}
	if moved != 1 {
		t.Errorf("moved %d processes, want 1", moved)
	}
	if got, want := procCgroupV2(t, cmd.Process.Pid), name+"/"+selfLeaf; got != want {
		t.Errorf("the process is in cgroup %q, want %q", got, want)
	}
	if procs, err := cgroupProcs(base); err != nil || len(procs) != 0 {
		t.Errorf("%s still holds %v (%v)", base, procs, err)
	}
}
