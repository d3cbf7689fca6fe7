package handoff

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Supervise runs the program again as a child and stays as the first
// process of its container (pid 1) until no child is left. A container
// ends with its first process, so a server that is pid 1 cannot hand over
// and exit; under Supervise, the server is pid 1's child, and when it hands
// over and exits, the new process (its child) becomes pid 1's, as the
// kernel makes every orphan in a pid namespace. Supervise passes SIGTERM,
// SIGINT and SIGHUP to the newest of its children, the one that serves,
// reaps every child, and returns the exit code of the last.
func Supervise(path string, args, env []string) (int, error) {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	attr := &os.ProcAttr{Env: env, Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}}
	first, err := os.StartProcess(path, append([]string{path}, args...), attr)
	if err != nil {
		return 1, fmt.Errorf("start %s under pid 1: %w", path, err)
	}
	serving := first.Pid
	_ = first.Release() // reaped below, with every other child

	type exit struct {
		pid    int
		status syscall.WaitStatus
		err    error
	}
	exits := make(chan exit)
	go func() {
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, 0, nil)
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			exits <- exit{pid, ws, err}
			if err != nil {
				return
			}
		}
	}()
	code := 0
	for {
		select {
		case s := <-sigs:
			if pid := newestChild(); pid > 0 {
				serving = pid
			}
			_ = syscall.Kill(serving, s.(syscall.Signal)) // without /proc: the first
		case e := <-exits:
			if e.err != nil { // ECHILD: no child is left
				return code, nil
			}
			switch {
			case e.status.Exited():
				code = e.status.ExitStatus()
			case e.status.Signaled():
				code = 128 + int(e.status.Signal())
			}
		}
	}
}

// newestChild returns the child of this process that started last: after
// a handoff, the new process. 0 when there is none.
func newestChild() int {
	self := os.Getpid()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	best, bestStart := 0, uint64(0)
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:]) // state, ppid, … ; starttime is the 20th
		if len(fields) < 20 || fields[0] == "Z" {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		start, _ := strconv.ParseUint(fields[19], 10, 64)
		if ppid != self {
			continue
		}
		if pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f))); pid > 0 && (best == 0 || start >= bestStart) {
			best, bestStart = pid, start
		}
	}
	return best
}
