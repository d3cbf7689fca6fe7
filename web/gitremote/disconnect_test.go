//go:build unix

package gitremote

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestPushPusherDisconnects kills git push while OnPush waits (the user's
// Ctrl-C): OnPush's context ends, no ref changes, and the spool and git's
// quarantine are cleaned up.
func TestPushPusherDisconnects(t *testing.T) {
	f := setup(t)
	work := f.workRepo(t)
	ended := make(chan error, 1)
	f.setRespond(func(ctx context.Context, _ Push, progress io.Writer) error {
		fmt.Fprintln(progress, "Seedbed: waiting for build 3")
		select {
		case <-ctx.Done():
			ended <- ctx.Err()
			return ctx.Err()
		case <-time.After(20 * time.Second):
			ended <- nil
			return nil
		}
	})
	cmd := f.command(work, "push", f.url("app", testToken), "main")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // git push and git-remote-http
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForLine(t, stderr, "Seedbed: waiting for build 3", 10*time.Second)
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	select {
	case err := <-ended:
		if err == nil {
			t.Fatal("OnPush's context was not canceled when the pusher went away")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnPush still running 10 s after the pusher went away")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		spools, _ := filepath.Glob(filepath.Join(f.reposDir, spoolPattern))
		quarantines, _ := filepath.Glob(filepath.Join(f.repoDir("app"), "objects", "tmp_objdir-*"))
		if len(spools)+len(quarantines) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("left behind: %v %v", spools, quarantines)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := f.bareRef(t, "app", "refs/heads/main"); got != "" {
		t.Errorf("main = %s after an abandoned push", got)
	}
}
