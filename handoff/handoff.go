// Package handoff restarts a server without refusing a connection: the
// running process starts a new process of the program (the binary at the
// same path, so an upgrade is a new file there and a signal), passes it its
// listening sockets, and keeps serving until the new process says it is
// ready. Only then does the old one stop accepting, finish the requests it
// holds and exit. The kernel queues connections on the shared sockets
// meanwhile, so a client never meets a closed port.
//
// This is the pattern of nginx's binary upgrade and of Cloudflare's
// tableflip, reduced to what one server needs: named listeners and a
// readiness pipe, both passed as inherited file descriptors and described
// by one environment variable.
package handoff

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// EnvVar describes what a process inherits: "NAME=FD,…,ready=FD,parent=PID".
// Only Start sets it; a value from anywhere else is ignored unless its
// descriptors are open sockets and its parent is this process's parent.
const EnvVar = "SEEDBED_HANDOFF"

const (
	readyKey  = "ready"
	parentKey = "parent"
	readyLine = "ready\n"
)

// Inherited is what a process started by Start received: the listeners of
// the process before it, by name, and the pipe to tell it when this one is
// ready.
type Inherited struct {
	// Parent is the process that handed over; it exits once told Ready.
	Parent    int
	listeners map[string]net.Listener
	ready     *os.File
}

// FromEnv returns what this process inherited, or nil when it was started
// the usual way. getenv is os.Getenv outside tests.
func FromEnv(getenv func(string) string) (*Inherited, error) {
	spec := getenv(EnvVar)
	if spec == "" {
		return nil, nil
	}
	h := &Inherited{listeners: map[string]net.Listener{}}
	fail := func(err error) (*Inherited, error) {
		h.Close()
		return nil, fmt.Errorf("take over from the previous process (%s=%q): %w", EnvVar, spec, err)
	}
	for _, part := range strings.Split(spec, ",") {
		name, value, ok := strings.Cut(part, "=")
		n, err := strconv.Atoi(value)
		if !ok || err != nil || n < 1 || (n < 3 && name != parentKey) {
			return fail(fmt.Errorf("%q is not NAME=NUMBER (a descriptor from 3 on)", part))
		}
		switch name {
		case parentKey:
			h.Parent = n
		case readyKey:
			// Inherited descriptors stay open across exec: without this,
			// every function this process starts before it is ready would
			// hold the pipe, and could say "ready" in its name.
			syscall.CloseOnExec(n)
			h.ready = os.NewFile(uintptr(n), "handoff-ready")
		default:
			f := os.NewFile(uintptr(n), "listener-"+name)
			ln, err := net.FileListener(f)
			f.Close() // FileListener made its own copy
			if err != nil {
				return fail(fmt.Errorf("listener %s (fd %d): %w", name, n, err))
			}
			h.listeners[name] = ln
		}
	}
	if h.Parent != os.Getppid() {
		// The variable leaked into the environment of a process that
		// was not started by a handoff: its numbers name nothing of ours.
		return fail(fmt.Errorf("it names process %d as the one handing over, but this process's parent is %d", h.Parent, os.Getppid()))
	}
	if h.ready == nil {
		return fail(errors.New("no readiness pipe"))
	}
	return h, nil
}

// Listener returns the inherited listener called name and removes it from
// h, so that Close leaves it open; nil when there was none.
func (h *Inherited) Listener(name string) net.Listener {
	if h == nil {
		return nil
	}
	ln := h.listeners[name]
	delete(h.listeners, name)
	return ln
}

// Ready tells the process that handed over that this one serves: it stops
// accepting and exits once its requests are done.
func (h *Inherited) Ready() error {
	if h == nil || h.ready == nil {
		return nil
	}
	_, err := io.WriteString(h.ready, readyLine)
	if cerr := h.ready.Close(); err == nil {
		err = cerr
	}
	h.ready = nil
	if err != nil {
		return fmt.Errorf("tell process %d that this one is ready: %w", h.Parent, err)
	}
	return nil
}

// Close closes the listeners nobody took (a listener the new process's
// settings no longer have) and the readiness pipe, if Ready was not called:
// the old process then sees the new one fail and keeps serving.
func (h *Inherited) Close() {
	if h == nil {
		return
	}
	for name, ln := range h.listeners {
		ln.Close()
		delete(h.listeners, name)
	}
	if h.ready != nil {
		h.ready.Close()
		h.ready = nil
	}
}

// Spec is the new process Start starts.
type Spec struct {
	Path string   // the binary; the same path as the running one's, for an upgrade a new file there
	Args []string // without the program name
	Env  []string // EnvVar is replaced
	// Stdout and Stderr are the new process's; the old one's are right
	// for a service whose output a supervisor collects.
	Stdout, Stderr *os.File
	// Listeners are passed by name; nil ones are left out.
	Listeners map[string]net.Listener
	// Timeout bounds the wait for the new process to be ready.
	Timeout time.Duration
}

// Start starts the new process and waits until it is ready. On any error
// (it could not start, it exited, it was not ready in time and was
// killed), the caller still holds its listeners and should go on serving.
// The returned process is no longer the caller's to wait for: it runs on
// when the caller exits.
func Start(ctx context.Context, s Spec) (*os.Process, error) {
	names := make([]string, 0, len(s.Listeners))
	for name, ln := range s.Listeners {
		if ln != nil {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	parts := []string{}
	for _, name := range names {
		if strings.ContainsAny(name, "=,") || name == readyKey || name == parentKey {
			return nil, fmt.Errorf("hand over: %q cannot name a listener", name)
		}
		fl, ok := s.Listeners[name].(interface{ File() (*os.File, error) })
		if !ok {
			return nil, fmt.Errorf("hand over: listener %s (%T) has no file descriptor to pass", name, s.Listeners[name])
		}
		f, err := fl.File()
		if err != nil {
			return nil, fmt.Errorf("hand over listener %s: %w", name, err)
		}
		files = append(files, f)
		parts = append(parts, fmt.Sprintf("%s=%d", name, 2+len(files)))
	}
	readR, readW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("hand over: %w", err)
	}
	defer readR.Close()
	files = append(files, readW)
	parts = append(parts, fmt.Sprintf("%s=%d", readyKey, 2+len(files)), fmt.Sprintf("%s=%d", parentKey, os.Getpid()))

	env := slices.DeleteFunc(slices.Clone(s.Env), func(kv string) bool { return strings.HasPrefix(kv, EnvVar+"=") })
	env = append(env, EnvVar+"="+strings.Join(parts, ","))
	// Not os/exec: it calls Fd() on every file it passes, which puts the
	// descriptor in blocking mode, and that mode belongs to the socket
	// both processes share. A blocking accept cannot be interrupted: the
	// old process would hang in Close until one more connection came.
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, fmt.Errorf("hand over: %w", err)
	}
	defer devNull.Close()
	stdout, stderr := s.Stdout, s.Stderr
	if stdout == nil {
		stdout = devNull
	}
	if stderr == nil {
		stderr = devNull
	}
	var fds []uintptr
	for _, f := range append([]*os.File{devNull, stdout, stderr}, files...) {
		fd, err := rawFd(f)
		if err != nil {
			return nil, fmt.Errorf("hand over: %w", err)
		}
		fds = append(fds, fd)
	}
	pid, err := syscall.ForkExec(s.Path, append([]string{s.Path}, s.Args...), &syscall.ProcAttr{Env: env, Files: fds})
	if err != nil {
		return nil, fmt.Errorf("hand over: start %s: %w", s.Path, err)
	}
	proc, err := os.FindProcess(pid)
	if err != nil {
		return nil, fmt.Errorf("hand over: %w", err)
	}
	// Only the new process holds the pipe's write end now: if it dies
	// before it is ready, the read below ends.
	readW.Close()
	files = files[:len(files)-1]

	exited := make(chan error, 1)
	go func() {
		st, err := proc.Wait()
		if err == nil && !st.Success() {
			err = errors.New(st.String())
		}
		exited <- err
	}()
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(readR).ReadString('\n')
		switch {
		case line == readyLine:
			ready <- nil
		case err != nil:
			ready <- err
		default:
			ready <- fmt.Errorf("unexpected %q on the readiness pipe", line)
		}
	}()
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	stop := func(why error) (*os.Process, error) {
		_ = proc.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = proc.Kill()
			<-exited
		}
		return nil, why
	}
	select {
	case err := <-ready:
		if err != nil {
			// The pipe closed without a word: the process is exiting.
			select {
			case werr := <-exited:
				return nil, fmt.Errorf("the new process (pid %d) exited before it was ready: %v", proc.Pid, werr)
			case <-time.After(10 * time.Second):
				return stop(fmt.Errorf("the new process (pid %d) closed its readiness pipe without being ready: %w", proc.Pid, err))
			}
		}
		return proc, nil
	case err := <-exited:
		return nil, fmt.Errorf("the new process (pid %d) exited before it was ready: %v", proc.Pid, err)
	case <-timer.C:
		return stop(fmt.Errorf("the new process (pid %d) was not ready within %s; it was stopped", proc.Pid, timeout))
	case <-ctx.Done():
		return stop(fmt.Errorf("hand over: %w", ctx.Err()))
	}
}

// rawFd is f's descriptor, read without Fd's side effect of making it
// blocking.
func rawFd(f *os.File) (uintptr, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var fd uintptr
	if err := rc.Control(func(d uintptr) { fd = d }); err != nil {
		return 0, err
	}
	return fd, nil
}
