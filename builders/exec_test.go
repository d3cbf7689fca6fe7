package builders

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestLineWriter(t *testing.T) {
	long := strings.Repeat("x", MaxLineBytes+10)
	tests := []struct {
		name   string
		writes []string
		want   []string
	}{
		{"one line per newline", []string{"a\nb\n"}, []string{"a", "b"}},
		{"line split across writes", []string{"hel", "lo\nwor", "ld"}, []string{"hello", "world"}},
		{"CRLF", []string{"a\r\nb\r\n"}, []string{"a", "b"}},
		{"progress bar keeps the last state", []string{"10%\r50%\r100%\n"}, []string{"100%"}},
		{"empty lines kept", []string{"a\n\nb\n"}, []string{"a", "", "b"}},
		{"invalid UTF-8 replaced", []string{"a\xffb\n"}, []string{"a\uFFFDb"}},
		{"long line cut", []string{long[:MaxLineBytes/2], long[MaxLineBytes/2:] + "\nnext\n"}, []string{
			strings.Repeat("x", MaxLineBytes) + " … [line cut at 1048576 bytes]", "next",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &testLog{}
			w := &lineWriter{mu: &sync.Mutex{}, log: log, stream: "stdout"}
			for _, s := range tt.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(s))
				}
			}
			w.Flush()
			var got []string
			for _, l := range log.lines {
				got = append(got, l.text)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("lines = %.80q, want %.80q", got, tt.want)
			}
		})
	}
}

func TestRunShellStreamsAndFails(t *testing.T) {
	log := &testLog{}
	err := runShell(context.Background(), runAs{}, t.TempDir(), []string{"PATH=" + os.Getenv("PATH"), "WHO=seedbed"}, "before_build hook",
		`echo "hi $WHO"; echo "oops" >&2; printf 'no newline'; exit 4`, log)
	if err == nil || err.Error() != `before_build hook "echo \"hi $WHO\"; echo \"oops\" >&2; printf 'no newline'; exit 4" failed with exit code 4` {
		t.Errorf("runShell error = %v", err)
	}
	mustLog(t, log, "seedbed", `$ echo "hi $WHO"`)
	mustLog(t, log, "stdout", "hi seedbed")
	mustLog(t, log, "stderr", "oops")
	mustLog(t, log, "stdout", "no newline")
}

// processGone says whether pid has exited (a zombie counts).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return os.IsNotExist(err)
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] == "Z"
}

func waitForPID(t *testing.T, file string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(file); err == nil && strings.HasSuffix(string(b), "\n") {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no pid in %s", file)
	return 0
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("process %d still runs", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunShellCancelKillsTheGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		done <- runShell(ctx, runAs{}, t.TempDir(), []string{"PATH=" + os.Getenv("PATH")}, "build command",
			"sleep 60 & echo $! > "+pidFile+"; wait", &testLog{})
	}()
	pid := waitForPID(t, pidFile)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), `build command "sleep 60 &`) {
			t.Errorf("runShell error = %v, want the command named and context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("runShell did not return after cancel")
	}
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("runShell took %s after cancel", took)
	}
	waitGone(t, pid)
}

func TestRunShellKillsLeftovers(t *testing.T) {
	// A hook that starts a background process and exits: the build goes
	// on at once, and the process does not outlive the hook.
	pidFile := filepath.Join(t.TempDir(), "pid")
	start := time.Now()
	err := runShell(context.Background(), runAs{}, t.TempDir(), []string{"PATH=" + os.Getenv("PATH")}, "before_build hook",
		"sleep 60 & echo $! > "+pidFile, &testLog{})
	if err != nil {
		t.Fatalf("runShell: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("runShell waited %s for a background process", took)
	}
	waitGone(t, waitForPID(t, pidFile))
}
