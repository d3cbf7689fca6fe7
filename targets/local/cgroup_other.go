//go:build !linux

package local

import (
	"errors"
	"log/slog"
	"os/exec"
	"time"
)

// Hard memory limits need Linux cgroups; elsewhere the target uses soft
// limits only, and these are never called.

type cgroups struct{ dir string }

type fnCgroup struct{}

var errRetryStart = errors.New("start again")

func (*cgroups) String() string { return "none" }

func detectCgroups(string, bool, *slog.Logger) (*cgroups, error) {
	return nil, errors.New("cgroups are a Linux feature")
}

func (*cgroups) close() {}

func (*cgroups) create(string, int) (*fnCgroup, error) {
	return nil, errors.New("cgroups are a Linux feature")
}

func (*fnCgroup) start(cmd *exec.Cmd) error { return cmd.Start() }

func (*fnCgroup) add(int) error { return nil }

func (*fnCgroup) oomSince(time.Time, bool) bool { return false }

func (*fnCgroup) remove() error { return nil }

func (*fnCgroup) memoryCurrent() int64 { return 0 }
