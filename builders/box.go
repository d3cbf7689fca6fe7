package builders

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/seedbed/seedbed/sandbox"
)

// Isolation settings: whether build commands and hooks run in a sandbox
// (see the sandbox package).
const (
	// IsolationAuto sandboxes commands where bubblewrap works, and runs
	// them unconfined where it does not, saying so in every build log.
	IsolationAuto = sandbox.IsolationAuto
	// IsolationSandbox always sandboxes commands; without a working
	// bubblewrap, Check fails.
	IsolationSandbox = sandbox.IsolationSandbox
	// IsolationNone never sandboxes commands.
	IsolationNone = sandbox.IsolationNone
)

// box is the sandbox of one build's or hook run's commands: a
// sandbox.Spec in the making. Its commands run in a pid namespace of their
// own, whose end (the command ending, being cancelled or timing out)
// kills every process they started, setsid or not; see the sandbox
// package for the rest (the system read-only, a private /tmp, a made-up
// /etc/passwd, no /home or /root). Of Seedbed's data dir they see only the
// folders given (the workspace, the app's caches): the folders in hide
// (the data dir, CacheDir, WorkDir) are covered by empty ones first,
// wherever they lie.
type box struct {
	runner   *sandbox.Runner
	network  sandbox.Network
	hide     []string // covered by an empty tmpfs
	writable []string // bound read-write at the same path, after hide
}

// give adds dir to the folders the box's commands may write. A folder
// that is or holds one the box hides (the data dir) is refused.
func (x *box) give(dir string) error {
	dir = filepath.Clean(dir)
	for _, h := range x.hide {
		if inside(dir, h) {
			return fmt.Errorf("%s would show the sandbox %s, which is kept from it", dir, h)
		}
	}
	if !slices.Contains(x.writable, dir) {
		x.writable = append(x.writable, dir)
	}
	return nil
}

// command prepares argv to run in dir inside the box, as u, with env as
// its whole environment. The folders of env's PATH outside the system's
// are bound read-only where u may reach them, so that tools installed
// elsewhere (/opt/node/bin) still run.
func (x *box) command(u *User, dir string, env []string, argv []string) (*sandbox.Cmd, error) {
	spec := sandbox.Spec{UID: u.UID, GID: u.GID, Dir: dir, Env: env, Network: x.network, Tmpfs: []string{"/var/tmp"}}
	for _, h := range x.hide {
		if !slices.ContainsFunc(x.hide, func(o string) bool { return o != h && inside(o, h) }) {
			spec.Tmpfs = append(spec.Tmpfs, h)
		}
	}
	if path, ok := lookupEnv(env, "PATH"); ok {
		var seen []string
		for _, p := range filepath.SplitList(path) {
			p = filepath.Clean(p)
			if !filepath.IsAbs(p) || x.hidden(p) || slices.Contains(seen, p) || systemPath(p) {
				continue
			}
			seen = append(seen, p)
			if fi, err := os.Stat(p); err != nil || !fi.IsDir() || sandbox.CheckReachable(p, u.UID, u.GID) != nil {
				continue
			}
			spec.ReadOnly = append(spec.ReadOnly, sandbox.Bind{Src: p})
		}
	}
	for _, w := range x.writable {
		spec.Writable = append(spec.Writable, sandbox.Bind{Src: w})
	}
	c, err := x.runner.Command(spec, argv[0], argv[1:]...)
	if err != nil {
		return nil, err
	}
	if x.network == sandbox.NetworkOutbound {
		c.BeforeRun = loopbackReady
	}
	return c, nil
}

// loopbackReady waits, at most loopbackWait, until bwrap has set up the
// loopback of the sandbox whose init is pids[1] (127.0.0.1 is in its
// routing table then). pasta, which connects the sandbox's network right
// after, must not configure the namespace at the same time: bwrap then
// fails with "loopback: Failed RTM_NEWADDR: No child processes" (3 of
// 180 sandboxes started six at a time on a loaded machine; none with
// this wait, none without pasta). The sandbox package is the better
// place for it; until it waits there, builds wait here.
func loopbackReady(pids []int) error {
	if len(pids) < 2 {
		return nil
	}
	trie := fmt.Sprintf("/proc/%d/net/fib_trie", pids[1])
	deadline := time.Now().Add(loopbackWait)
	for {
		b, err := os.ReadFile(trie)
		if err != nil {
			return fmt.Errorf("wait for the sandbox's loopback: %w", err)
		}
		if strings.Contains(string(b), "127.0.0.1") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the sandbox's loopback was not set up within %s", loopbackWait)
		}
		time.Sleep(time.Millisecond)
	}
}

// loopbackWait bounds loopbackReady.
const loopbackWait = 10 * time.Second

// systemPath says whether p lies in a folder the sandbox always shows.
func systemPath(p string) bool {
	for _, d := range []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"} {
		if inside(d, p) {
			return true
		}
	}
	return false
}

// hidden says whether p is, or lies in, a folder the box hides.
func (x *box) hidden(p string) bool {
	return slices.ContainsFunc(x.hide, func(h string) bool { return inside(h, p) })
}

// inside says whether p is dir or lies in it, lexically.
func inside(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && (rel == "." || filepath.IsLocal(rel))
}

// sandboxState is what the Builder found out about the sandbox, once.
type sandboxState struct {
	once   sync.Once
	runner *sandbox.Runner // nil: commands are not sandboxed
	// network is the sandbox's network: outbound only where pasta
	// works, else the host's (netWhy says why).
	network sandbox.Network
	netWhy  string
	why     string // why commands are not sandboxed
	err     error  // IsolationSandbox without a working sandbox
}

// sandbox detects, the first time, whether commands can run in a sandbox
// here, as Config.Isolation asks.
func (b *Builder) sandbox(ctx context.Context) *sandboxState {
	s := b.box
	s.once.Do(func() {
		iso := b.cfg.Isolation
		if iso == "" {
			iso = IsolationNone
		}
		iso, err := sandbox.ParseIsolation(string(iso))
		if err != nil {
			s.err = fmt.Errorf("SEEDBED_ISOLATION: %w", err)
			return
		}
		if iso == IsolationNone {
			s.why = "isolation is none (SEEDBED_ISOLATION)"
			return
		}
		runner, err := sandbox.Detect(ctx)
		switch {
		case runner == nil:
			s.why = err.Error()
		case err != nil:
			// bwrap works, pasta does not: the host's network.
			s.runner, s.network, s.netWhy = runner, sandbox.NetworkHost, err.Error()
		default:
			s.runner, s.network = runner, sandbox.NetworkOutbound
		}
		if s.runner == nil && iso == IsolationSandbox {
			s.err = fmt.Errorf("builds must run in a sandbox (SEEDBED_ISOLATION=sandbox), but %s; or set SEEDBED_ISOLATION=auto to build without one where it does not work", s.why)
		}
	})
	return s
}

// Sandboxed says whether commands run in a sandbox, and when they do not,
// why. ctx bounds the detection, which runs once.
func (b *Builder) Sandboxed(ctx context.Context) (bool, string) {
	s := b.sandbox(ctx)
	if s.err != nil {
		return false, s.err.Error()
	}
	return s.runner != nil, s.why
}

// newBox returns an empty sandbox for one build or hook run of u's, or
// nil, with why, when its commands are not sandboxed.
func (b *Builder) newBox(ctx context.Context, u *User) (*box, string) {
	s := b.sandbox(ctx)
	if s.runner == nil {
		return nil, s.why
	}
	if u.UID == 0 || u.GID == 0 {
		return nil, "commands run as root (Seedbed's own user), and the sandbox never runs anything as root; run builds as another user (SEEDBED_BUILD_USER=auto)"
	}
	hide := append(slices.Clone(b.cfg.Hide), b.cfg.CacheDir, b.cfg.WorkDir)
	return &box{runner: s.runner, network: s.network, hide: hide}, ""
}

// describeBox is the build log's line about the sandbox.
func (b *Builder) describeBox(x *box, why string) string {
	if x == nil {
		return "Build commands are NOT sandboxed: " + why + "; they see every process and every file their user may read, and a process they start with setsid outlives the build"
	}
	net := "a network of their own with outbound access only"
	if x.network == sandbox.NetworkHost {
		net = "the machine's network, loopback services included (" + b.box.netWhy + ")"
	}
	return "Running build commands in a sandbox (bubblewrap): processes of their own, ended with the command; the system read-only; a private /tmp; " + net + "; of Seedbed's data only this build's workspace and its app's caches"
}

// errNotSandboxed wraps a box that Isolation requires and that cannot be
// made for these commands.
var errNotSandboxed = errors.New("not sandboxed")

// requireBox fails when Isolation is IsolationSandbox and x is nil.
func (b *Builder) requireBox(x *box, why string) error {
	if x == nil && b.cfg.Isolation == IsolationSandbox {
		return fmt.Errorf("%w: builds must run in a sandbox (SEEDBED_ISOLATION=sandbox), but %s", errNotSandboxed, strings.TrimSuffix(why, "."))
	}
	return nil
}
