package local

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/seedbed/seedbed/sandbox"
)

// Functions run confined when the target has a sandbox (Config.Sandbox):
// each process is started by bubblewrap as the host user of its app (see
// appUsers), never as Seedbed's own, and sees
//
//   - its unpacked artifact, read-only, at the same path as on the host
//     (so LAMBDA_TASK_ROOT and the handler's path are unchanged);
//   - its run dir (HOME, TMPDIR), writable, owned by its user, mode 0700;
//   - a private /tmp, its own /proc and a minimal /dev;
//   - the system's programs and libraries read-only, and the parts of /etc
//     that DNS and TLS need;
//   - a network of its own with outbound access only (pasta): the host's
//     loopback services (an embedded queue, PostgreSQL, Redis, Seedbed's
//     console) are out of reach; Seedbed reaches an HTTP function through
//     its port, forwarded from the host's 127.0.0.1, and a Lambda-style
//     function reaches its Runtime API through that one port, forwarded
//     the other way. Without pasta, functions share the host's network.
//
// It sees no other process (a pid namespace of its own), not Seedbed's
// data dir, not /etc/shadow, not another app's artifacts or run dirs:
// these are not in its file system, and on the host they are closed to
// its user (artifacts of one app are owned by root and that app's group,
// 0750/0640). Killing bwrap, as stopping the instance does, ends every
// process of the sandbox, including one that called setsid.
//
// Node and python run from the system's folders inside the sandbox
// (/usr/local/bin, /usr/bin, /bin), not from Seedbed's PATH.

// sandboxPath is the PATH of a sandboxed function.
const sandboxPath = "/usr/local/bin:/usr/bin:/bin"

// interpreter finds a runtime's program where a sandboxed function sees
// it.
func interpreter(runtime, name string) (string, error) {
	for _, dir := range filepath.SplitList(sandboxPath) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("runtime %s runs sandboxed and needs %s in %s (install it there, for example apt-get install %s)", runtime, name, sandboxPath, map[string]string{"node": "nodejs", "python3": "python3"}[name])
}

// sandboxed wraps the command name args of the instance in its sandbox.
func (in *instance) sandboxed(port int, name string, args []string, env []string) (*sandbox.Cmd, error) {
	spec := sandbox.Spec{
		UID:      in.uid,
		GID:      in.uid,
		ReadOnly: []sandbox.Bind{{Src: in.dir}},
		Writable: []sandbox.Bind{{Src: in.runDir}},
		Dir:      in.dir,
		Env:      env,
		Network:  sandbox.NetworkHost,
		Hostname: "function",
	}
	if in.t.cfg.Sandbox.Network() {
		spec.Network = sandbox.NetworkOutbound
		if in.api != nil {
			_, p, err := splitPort(in.api.addr)
			if err != nil {
				return nil, err
			}
			spec.Reach = []int{p}
		} else {
			spec.Publish = []int{port}
			if in.sapi != nil {
				_, p, err := splitPort(in.sapi.addr)
				if err != nil {
					return nil, err
				}
				spec.Reach = []int{p}
			}
		}
	}
	return in.t.cfg.Sandbox.Command(spec, name, args...)
}

// splitPort returns the host and port of "host:port".
func splitPort(addr string) (string, int, error) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return "", 0, fmt.Errorf("address %q has no port", addr)
	}
	p, err := strconv.Atoi(addr[i+1:])
	if err != nil {
		return "", 0, fmt.Errorf("address %q: %w", addr, err)
	}
	return addr[:i], p, nil
}

// startSandboxed finishes the sandbox of a started process, which runs
// at once or, with hold, once sb.Release is called; on failure the process
// is killed and reaped.
func startSandboxed(cmd *exec.Cmd, sb *sandbox.Cmd, hold bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	finish := sb.Started
	if hold {
		finish = sb.Prepared
	}
	if err := finish(ctx); err != nil {
		_ = sb.Kill()
		_ = cmd.Wait()
		sb.Close()
		return err
	}
	return nil
}

// shareWithGroup gives an unpacked artifact to root and the app's group
// gid: folders 0750, files 0640 or 0750 when executable; nothing for
// others.
func shareWithGroup(root string, gid int) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, 0, gid); err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := fs.FileMode(0o640)
		if d.IsDir() || info.Mode()&0o111 != 0 {
			mode = 0o750
		}
		return os.Chmod(p, mode)
	})
}

// envMasker hides the values of a function's secrets (the Env keys its
// Secrets names) in what Seedbed keeps of its output, each line of a
// multi-line value on its own, replaced by "••••••" as in build logs.
// Values under four characters are left: masking them would garble the
// output (Seedbed refuses such secrets). It returns nil when there is
// nothing to mask.
func envMasker(env map[string]string, secrets []string) *strings.Replacer {
	var vals []string
	for _, k := range secrets {
		v, ok := env[k]
		if !ok {
			continue
		}
		for line := range strings.Lines(v) {
			line = strings.TrimRight(line, "\r\n")
			if len(line) >= 4 && !slices.Contains(vals, line) {
				vals = append(vals, line)
			}
		}
	}
	if len(vals) == 0 {
		return nil
	}
	// Longest first, so that a value is not half-masked by a shorter one
	// it contains.
	slices.SortFunc(vals, func(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) })
	pairs := make([]string, 0, 2*len(vals))
	for _, v := range vals {
		pairs = append(pairs, v, "••••••")
	}
	return strings.NewReplacer(pairs...)
}
