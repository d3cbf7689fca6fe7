package local

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A Seedbed killed with SIGKILL leaves the children of its functions behind
// (Pdeathsig reaches only the function's own process). The next New stops
// them.
func TestNewStopsWhatAKilledRunLeftBehind(t *testing.T) {
	dir := t.TempDir()
	runDir := filepath.Join(dir, "run", "shop-dev-api-web-123")
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A "function": a shell that started a child, in its own group.
	cmd := exec.Command("/bin/sh", "-c", "sleep 300 & echo $! > child; wait")
	cmd.Dir = runDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := recordGroup(runDir, cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	var child int
	for deadline := time.Now().Add(5 * time.Second); child == 0; {
		b, _ := os.ReadFile(filepath.Join(runDir, "child"))
		child, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		if time.Now().After(deadline) {
			t.Fatal("the child did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Seedbed dies: the kernel kills the function's own process only.
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if syscall.Kill(child, 0) != nil {
		t.Fatal("the child died with its parent; the test shows nothing")
	}
	t.Cleanup(func() { _ = syscall.Kill(child, syscall.SIGKILL) })

	tgt, err := New(Config{Dir: dir, Artifacts: &fakeArtifacts{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tgt.Close(context.Background()) })
	for deadline := time.Now().Add(5 * time.Second); ; {
		if !processRunning(child) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d, left by the killed run, is still running", child)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processRunning tells a live process from one that is gone or a zombie.
func processRunning(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z"
}
