//go:build linux

package local

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSandboxedMemoryLimit checks that a sandboxed function is held to its
// memory: bwrap and every process in the sandbox are in the instance's
// cgroup, the kernel stops the function when it allocates past its limit,
// the gateway says so, and it is restarted in the same cgroup.
func TestSandboxedMemoryLimit(t *testing.T) {
	needCgroups(t)
	b := setup(t, withSandbox(t), func(c *Config) { c.MemoryLimits = MemoryLimitsCgroup })
	b.target.timing.backoffMin = 50 * time.Millisecond
	fn := goFn("fn", "v1", nil, "GET /hog", "GET /who")
	fn.Memory = 64
	b.apply(t, shopDev, fn)
	fc := b.instanceCgroup(t, shopDev, "api/fn")
	hostPid := func() int {
		in := b.instanceOf(t, shopDev, "api/fn")
		in.mu.Lock()
		defer in.mu.Unlock()
		return in.cur.cmd.Process.Pid
	}
	before := hostPid()
	if !inCgroup(t, fc, before) {
		t.Fatalf("bwrap (pid %d) is not in the instance's cgroup", before)
	}
	res := b.get(t, "/shop/dev/who")
	wantStatus(t, res, http.StatusOK)
	if n := processesOf(res.reply.UID); n < 2 {
		t.Fatalf("%d processes of the function's user", n)
	}

	a := b.call(t, call{path: "/shop/dev/hog?mb=300"})
	oom := "out of memory: function api/fn exceeded its 64 MiB memory limit and was stopped"
	if a.status != http.StatusBadGateway || !strings.Contains(string(a.body), oom) {
		t.Errorf("allocating 300 MiB: %d %q, want 502 saying %q", a.status, a.body, oom)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		res := b.do(t, http.MethodGet, "", "/shop/dev/who")
		if res.status == http.StatusOK && hostPid() != before {
			if !inCgroup(t, fc, hostPid()) {
				t.Errorf("the restarted bwrap %d is not in the cgroup", hostPid())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not restarted within 10s; last answer %d", res.status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if a := b.call(t, call{path: "/shop/dev/hog?mb=8"}); a.status != http.StatusOK {
		t.Errorf("allocating 8 MiB within 64: %d %s", a.status, a.body)
	}
}
