//go:build unix

package builders

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// holderEnv makes the test binary a process that claims a scratch folder
// in the work dir it names, makes a workspace there, prints its path and
// waits to be killed: a Seedbed in the middle of a build.
const holderEnv = "SEEDBED_TEST_SCRATCH_HOLDER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(holderEnv); dir != "" {
		b := New(Config{WorkDir: dir})
		ws, err := b.TempDir("service-api-")
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		if err := os.WriteFile(filepath.Join(ws, "main.go"), []byte("package main\n"), 0o600); err != nil {
			os.Exit(1)
		}
		os.Stdout.WriteString(ws + "\n")
		time.Sleep(time.Hour)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startHolder starts a process holding a workspace in workDir and
// returns it with the workspace's path.
func startHolder(t *testing.T, workDir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holderEnv+"="+workDir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("the holder printed no workspace: %v", err)
	}
	return cmd, strings.TrimSpace(line)
}

// A Seedbed killed with -9 in the middle of a build leaves its workspace
// behind; the next start removes it, and leaves alone the workspaces of
// another Seedbed running on the same work dir, its own, and whatever
// else is in the work dir.
func TestRemoveStale(t *testing.T) {
	workDir := t.TempDir()
	killed, staleWS := startHolder(t, workDir)
	_, liveWS := startHolder(t, workDir)
	other := filepath.Join(workDir, "seedbed-api-12345") // not a scratch folder
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := killed.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed.Wait()
	if _, err := os.Stat(staleWS); err != nil {
		t.Fatalf("the killed process's workspace is already gone: %v", err)
	}

	b := New(Config{WorkDir: workDir})
	t.Cleanup(func() { b.Close() })
	own, err := b.TempDir("build-7-")
	if err != nil {
		t.Fatal(err)
	}
	removed, err := b.RemoveStale()
	if err != nil {
		t.Fatalf("RemoveStale: %v", err)
	}
	if want := []string{filepath.Dir(staleWS)}; !slices.Equal(removed, want) {
		t.Errorf("RemoveStale removed %q, want %q", removed, want)
	}
	if _, err := os.Stat(filepath.Dir(staleWS)); !os.IsNotExist(err) {
		t.Errorf("the killed process's scratch folder is still there (%v)", err)
	}
	for _, keep := range []string{liveWS, own, other} {
		if _, err := os.Stat(keep); err != nil {
			t.Errorf("RemoveStale removed %s, which is not stale: %v", keep, err)
		}
	}

	// Closing removes the process's own folder with what is left in it.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(own)); !os.IsNotExist(err) {
		t.Errorf("Close left %s behind", filepath.Dir(own))
	}
}
