//go:build !linux

package sandbox

import (
	"context"
	"fmt"
	"os/exec"
	"syscall"
)

// Runner starts sandboxed commands; bubblewrap is Linux only.
type Runner struct{}

// Cmd is a sandboxed command; see the Linux implementation.
type Cmd struct {
	*exec.Cmd
	BeforeRun func(pids []int) error
}

// Detect always fails outside Linux.
func Detect(context.Context) (*Runner, error) {
	return nil, fmt.Errorf("%w: bubblewrap runs on Linux only", ErrUnavailable)
}

// Network reports false outside Linux.
func (*Runner) Network() bool { return false }

// Command always fails outside Linux.
func (*Runner) Command(Spec, string, ...string) (*Cmd, error) {
	return nil, fmt.Errorf("%w: bubblewrap runs on Linux only", ErrUnavailable)
}

// Started does nothing outside Linux.
func (*Cmd) Started(context.Context) error { return nil }

// Prepared does nothing outside Linux.
func (*Cmd) Prepared(context.Context) error { return nil }

// Release does nothing outside Linux.
func (*Cmd) Release() error { return nil }

// Run always fails outside Linux.
func (*Cmd) Run(context.Context) error {
	return fmt.Errorf("%w: bubblewrap runs on Linux only", ErrUnavailable)
}

// Signal does nothing outside Linux.
func (*Cmd) Signal(syscall.Signal) {}

// Kill does nothing outside Linux.
func (*Cmd) Kill() error { return nil }

// Close does nothing outside Linux.
func (*Cmd) Close() {}

// CheckReachable does nothing outside Linux.
func CheckReachable(string, int, int) error { return nil }
