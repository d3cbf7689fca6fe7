package builders

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/seedbed/seedbed/sandbox"
)

// MaxLineBytes is the longest output line passed to a Log; the rest of a
// longer line is dropped and the line marked as truncated.
const MaxLineBytes = 1 << 20

// runAs is how the commands of one build or hook run run: as whom, and
// in what sandbox.
type runAs struct {
	user *User // nil: Seedbed's own user
	box  *box  // nil: not sandboxed
}

// runShell runs command with sh -c in dir, as r.user and in r.box,
// streaming its output line by line to log as it comes. Cancelling ctx
// kills the command and everything it started; so does the command
// ending, so that a hook cannot leave a background process running. In a
// box that is every process (the box's pid namespace ends); outside one,
// the command's process group, which a process leaves with setsid. what
// ("before_build hook", "build command") names the command in errors.
// The command's stdin is empty.
func runShell(ctx context.Context, r runAs, dir string, env []string, what, command string, log Log) error {
	log.Line("seedbed", "$ "+command)
	var (
		cmd *exec.Cmd
		box *sandbox.Cmd
	)
	if r.box != nil {
		var err error
		box, err = r.box.command(r.user, dir, env, []string{"sh", "-c", command})
		if err != nil {
			return fmt.Errorf("%s %q: %w", what, command, err)
		}
		defer box.Close()
		cmd = box.Cmd
	} else {
		cmd = exec.CommandContext(ctx, "sh", "-c", command)
		cmd.Dir, cmd.Env = dir, env
		setProcessGroup(cmd, r.user)
	}

	// Our own pipes rather than io.Writers: exec would then wait for every
	// process holding the pipes, and a hook's background process would
	// hold the build. Here the group is killed as soon as the shell exits,
	// which closes the pipes.
	var mu sync.Mutex
	readers := []*lineWriter{
		{mu: &mu, log: log, stream: "stdout"},
		{mu: &mu, log: log, stream: "stderr"},
	}
	var ends [2]struct{ r, w *os.File }
	for i := range ends {
		r, w, err := os.Pipe()
		if err != nil {
			if i > 0 {
				ends[0].w.Close()
			}
			return fmt.Errorf("%s %q: %w", what, command, err)
		}
		ends[i].r, ends[i].w = r, w
		defer r.Close()
	}
	cmd.Stdout, cmd.Stderr = ends[0].w, ends[1].w
	start := time.Now()
	err := cmd.Start()
	ends[0].w.Close()
	ends[1].w.Close()
	if err != nil {
		return fmt.Errorf("%s %q: start: %w", what, command, err)
	}
	if box != nil {
		if err := box.Started(ctx); err != nil {
			_ = box.Kill()
			_ = cmd.Wait()
			if ctx.Err() != nil {
				return fmt.Errorf("%s %q stopped: %w", what, command, ctx.Err())
			}
			return fmt.Errorf("%s %q: start the sandbox: %w", what, command, err)
		}
		// Killing bwrap ends the sandbox and every process in it.
		stop := context.AfterFunc(ctx, func() { _ = box.Kill() })
		defer stop()
	}
	var wg sync.WaitGroup
	for i, lw := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = io.Copy(lw, ends[i].r)
			lw.Flush()
		}()
	}
	err = cmd.Wait()
	if box == nil {
		killProcessGroup(cmd)
	}
	copied := make(chan struct{})
	go func() { wg.Wait(); close(copied) }()
	select {
	case <-copied:
	case <-time.After(outputGrace):
		// Something that left the process group still holds the pipes.
		ends[0].r.Close()
		ends[1].r.Close()
		<-copied
	}

	took := time.Since(start).Round(time.Millisecond)
	if ctx.Err() != nil {
		return fmt.Errorf("%s %q stopped after %s: %w", what, command, took, ctx.Err())
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if code := exitErr.ExitCode(); code >= 0 {
			return fmt.Errorf("%s %q failed with exit code %d", what, command, code)
		}
		return fmt.Errorf("%s %q was killed (%s)", what, command, exitErr.ProcessState)
	}
	if err != nil {
		return fmt.Errorf("%s %q: %w", what, command, err)
	}
	return nil
}

// outputGrace is how long output may still arrive after a command and its
// process group are gone.
const outputGrace = 5 * time.Second

// lineWriter turns a stream of output into Log lines. Writers of one
// command share a mutex, so a Log is never called concurrently.
type lineWriter struct {
	mu        *sync.Mutex
	log       Log
	stream    string
	buf       []byte
	truncated bool
}

func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		chunk, rest, found := bytes.Cut(p, []byte{'\n'})
		if room := MaxLineBytes - len(w.buf); len(chunk) > room {
			chunk = chunk[:max(room, 0)]
			w.truncated = true
		}
		w.buf = append(w.buf, chunk...)
		if !found {
			break
		}
		w.emit()
		p = rest
	}
	return n, nil
}

// Flush emits a last line that did not end in a newline.
func (w *lineWriter) Flush() {
	if len(w.buf) > 0 || w.truncated {
		w.emit()
	}
}

func (w *lineWriter) emit() {
	line := strings.TrimSuffix(string(w.buf), "\r")
	// Progress bars redraw with \r; show what a terminal would.
	if i := strings.LastIndexByte(line, '\r'); i >= 0 {
		line = line[i+1:]
	}
	line = strings.ToValidUTF8(line, "\uFFFD")
	if w.truncated {
		line += fmt.Sprintf(" … [line cut at %d bytes]", MaxLineBytes)
	}
	w.buf, w.truncated = w.buf[:0], false
	w.mu.Lock()
	defer w.mu.Unlock()
	w.log.Line(w.stream, line)
}
