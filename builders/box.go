package builders

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// Isolation settings: whether build commands and hooks run in a sandbox.
const (
	// IsolationAuto sandboxes commands where bubblewrap is installed, and
	// runs them as today where it is not, saying so in every build log.
	IsolationAuto = "auto"
	// IsolationSandbox always sandboxes commands; without bubblewrap,
	// Check fails.
	IsolationSandbox = "sandbox"
	// IsolationNone never sandboxes commands.
	IsolationNone = "none"
)

// box is the sandbox one build or hook run's commands run in (bubblewrap):
// a pid namespace of their own, whose end (the command ending, being
// cancelled or timing out) kills every process they started, setsid or
// not; the system's folders read-only; a private /tmp; and of the data
// dir only the folders in writable, read-write. Every folder in hide
// (the data dir, the caches and workspaces of every app) is covered
// first, so that what is not given back is not there at all.
type box struct {
	bwrap    string   // path of bwrap
	hide     []string // covered with an empty tmpfs
	writable []string // bound read-write, at the same path, after hide
}

// systemDirs are bound read-only into every box, where they exist.
var systemDirs = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt"}

// args returns bwrap's arguments to run argv in dir inside the box, for
// env's PATH (its folders are bound read-only too, so that tools
// installed elsewhere still run).
//
// u is who runs them: a PATH folder u cannot reach is left out (bwrap,
// started as u, would refuse to bind it).
func (x *box) args(u *User, dir string, env []string, argv []string) []string {
	a := []string{
		"--die-with-parent", "--new-session",
		"--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
		"--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/var/tmp",
	}
	ro := slices.Clone(systemDirs)
	if path, ok := lookupEnv(env, "PATH"); ok {
		for _, p := range filepath.SplitList(path) {
			if filepath.IsAbs(p) && !x.hidden(p) && u.CheckReach(p) == nil {
				ro = append(ro, filepath.Clean(p))
			}
		}
	}
	bound := map[string]bool{}
	for _, p := range ro {
		if bound[p] || coveredBy(p, ro, bound) {
			continue
		}
		fi, err := os.Lstat(p)
		switch {
		case err != nil:
			continue
		case fi.Mode()&fs.ModeSymlink != 0 && filepath.Dir(p) == "/":
			// /bin -> usr/bin: the same link inside.
			if target, err := os.Readlink(p); err == nil {
				a = append(a, "--symlink", target, p)
				bound[p] = true
			}
			continue
		case !fi.IsDir() && fi.Mode()&fs.ModeSymlink == 0:
			continue
		}
		a = append(a, "--ro-bind", p, p)
		bound[p] = true
	}
	for _, h := range x.hide {
		a = append(a, "--tmpfs", h)
	}
	for _, w := range x.writable {
		a = append(a, "--bind", w, w)
	}
	a = append(a, "--chdir", dir, "--")
	return append(a, argv...)
}

// coveredBy says whether p lies in a folder of dirs already bound.
func coveredBy(p string, dirs []string, bound map[string]bool) bool {
	for _, d := range dirs {
		if bound[d] && d != p && within2(d, p) {
			return true
		}
	}
	return false
}

// hidden says whether p is, or lies in, a folder the box hides.
func (x *box) hidden(p string) bool {
	return slices.ContainsFunc(x.hide, func(h string) bool { return within2(h, p) })
}

// within2 says whether p is dir or lies in it, lexically.
func within2(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && (rel == "." || filepath.IsLocal(rel))
}

// command makes the command that runs argv in dir in the box, as u.
func (x *box) command(ctx context.Context, u *User, dir string, env []string, argv []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, x.bwrap, x.args(u, dir, env, argv)...)
	cmd.Dir = dir
	return cmd
}

// give adds dir to the folders the box's commands may write. A folder
// that is or holds one the box hides (the data dir) is refused.
func (x *box) give(dir string) error {
	dir = filepath.Clean(dir)
	for _, h := range x.hide {
		if within2(dir, h) {
			return fmt.Errorf("%s would show the sandbox %s, which is kept from it", dir, h)
		}
	}
	if !slices.Contains(x.writable, dir) {
		x.writable = append(x.writable, dir)
	}
	return nil
}

// findBwrap finds bubblewrap in Seedbed's PATH.
func findBwrap() (string, error) {
	p, err := exec.LookPath("bwrap")
	if err != nil {
		return "", errors.New("bubblewrap (bwrap) is not installed: install it (Debian and Ubuntu: apt-get install bubblewrap)")
	}
	return p, nil
}

// resolveIsolation reads an isolation setting; "" is IsolationNone.
func resolveIsolation(setting string) (string, error) {
	switch strings.TrimSpace(setting) {
	case "", IsolationNone:
		return IsolationNone, nil
	case IsolationAuto, IsolationSandbox:
		return setting, nil
	}
	return "", fmt.Errorf("isolation %q is not valid: use auto, sandbox or none", setting)
}
