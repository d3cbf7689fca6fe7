//go:build linux

package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Runner starts sandboxed commands with the bwrap (and pasta) it found.
type Runner struct {
	bwrap string // absolute path
	pasta string // absolute path; "" when pasta is missing

	// pastaLoopback is pasta's option that delivers connections to a
	// published port on the sandbox's loopback (--host-lo-to-ns-lo);
	// empty for a pasta that does so by default. Newer pastas (Debian
	// trixie's) send them to the namespace's public address unless asked, and a
	// function listening on 127.0.0.1 had its connections reset.
	pastaLoopback []string
}

// systemDirs are the top-level folders of the system's programs and
// libraries: bound read-only when folders, recreated when symbolic links
// (/bin -> usr/bin on a merged-/usr system).
var systemDirs = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}

// etcFiles are the parts of /etc that programs need for name resolution,
// TLS, time zones and the dynamic loader; nothing with a secret in it.
// /etc/passwd and /etc/group are made up (see identity).
var etcFiles = []string{
	"/etc/resolv.conf", "/etc/hosts", "/etc/host.conf", "/etc/nsswitch.conf", "/etc/gai.conf",
	"/etc/ssl", "/etc/ca-certificates", "/etc/pki", "/etc/crypto-policies",
	"/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
	"/etc/localtime", "/etc/timezone", "/etc/mime.types", "/etc/protocols", "/etc/services",
}

// probeUID is the user Detect runs its trial sandbox as: nobody.
const probeUID = 65534

// Detect finds bwrap and pasta on the PATH and proves that they work here
// by running a sandboxed command as nobody with a network of its own. The
// error wraps ErrUnavailable and says what is missing or failing; a Runner
// is returned (without network isolation, see Runner.Network) when bwrap
// works but pasta does not.
func Detect(ctx context.Context) (*Runner, error) {
	bwrap, err := exec.LookPath("bwrap")
	if err != nil {
		return nil, fmt.Errorf("%w: bwrap is not installed (%s)", ErrUnavailable, InstallHint)
	}
	if bwrap, err = filepath.Abs(bwrap); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	r := &Runner{bwrap: bwrap}
	if err := r.try(ctx, NetworkNone); err != nil {
		return nil, fmt.Errorf("%w: bwrap does not work here: %v", ErrUnavailable, err)
	}
	pasta, err := exec.LookPath("pasta")
	if err != nil {
		return r, fmt.Errorf("%w: pasta is not installed, so sandboxed commands cannot get a network of their own (%s)", ErrUnavailable, InstallHint)
	}
	r.pasta, _ = filepath.Abs(pasta)
	r.pastaLoopback = loopbackOption(ctx, r.pasta)
	if err := r.try(ctx, NetworkOutbound); err != nil {
		r.pasta = ""
		return r, fmt.Errorf("%w: pasta does not work here: %v", ErrUnavailable, err)
	}
	return r, nil
}

// loopbackOption returns the option that makes pasta deliver published
// ports to the sandbox's loopback, where this pasta knows it: its --help
// does not list it, so it is asked to print its version with the option
// before, which a pasta that does not know it refuses.
func loopbackOption(ctx context.Context, pasta string) []string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	opt := []string{"--host-lo-to-ns-lo"}
	if exec.CommandContext(ctx, pasta, append(opt, "--version")...).Run() == nil {
		return opt
	}
	return nil
}

// Network reports whether the runner can give commands a network of their
// own with outbound access (NetworkOutbound).
func (r *Runner) Network() bool { return r.pasta != "" }

// try runs `true` in a sandbox as nobody.
func (r *Runner) try(ctx context.Context, network Network) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := r.Command(Spec{UID: probeUID, GID: probeUID, Network: network, Env: []string{"PATH=/usr/bin:/bin"}}, "/bin/sh", "-c", "exit 0")
	if err != nil {
		return err
	}
	defer c.Close()
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Cmd.Start(); err != nil {
		return err
	}
	if err := c.Started(ctx); err != nil {
		_ = c.Kill()
		_ = c.Cmd.Wait()
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(out.String()))
	}
	if err := c.Cmd.Wait(); err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}

// Cmd is a sandboxed command. Start Cmd (the exec.Cmd of bwrap) as any
// exec.Cmd, for instance inside a cgroup, then call Started, which
// finishes the sandbox (its network) and lets the command run; after
// Cmd.Wait returned, call Close. Cmd.SysProcAttr is set (the sandbox's
// user, a process group of its own, SIGKILL when the parent dies); add to
// it, do not replace it. Killing bwrap kills everything in the sandbox.
type Cmd struct {
	*exec.Cmd

	// BeforeRun, when set, is called by Started before the command runs,
	// with the host pids of bwrap and of the sandbox's init: the only
	// processes of the sandbox then, whose children inherit what they
	// have. Move them into a cgroup there, not while bwrap sets the
	// sandbox up: moved right after it started (cgroup v1), bwrap failed
	// to set up the sandbox's loopback ("Failed RTM_NEWADDR").
	BeforeRun func(pids []int) error

	r       *Runner
	spec    Spec
	infoR   *os.File // bwrap's --info-fd, read end
	blockW  *os.File // bwrap's --block-fd, write end: the command runs once written
	parentW []*os.File

	mu       sync.Mutex
	childPid int       // the sandbox's init, as the host sees it; 0 until Started
	pasta    *exec.Cmd // nil without NetworkOutbound
	pastaOut *bytes.Buffer
	// pastaDone is closed once pasta has been reaped: its ports are
	// free again from then on.
	pastaDone chan struct{}
	closed    bool
}

// Command prepares name with args to run confined as spec says. name is
// looked up inside the sandbox unless it holds a slash.
func (r *Runner) Command(spec Spec, name string, args ...string) (*Cmd, error) {
	if err := spec.check(); err != nil {
		return nil, err
	}
	if spec.Network == "" {
		spec.Network = NetworkOutbound
	}
	if spec.Network == NetworkOutbound && r.pasta == "" {
		return nil, fmt.Errorf("sandbox: network %q needs pasta: %s", NetworkOutbound, InstallHint)
	}
	c := &Cmd{r: r, spec: spec}
	var files []*os.File // the child's ends, fd 3 onwards
	fail := func(err error) (*Cmd, error) {
		for _, f := range files {
			f.Close()
		}
		c.Close()
		return nil, err
	}
	infoR, infoW, err := os.Pipe()
	if err != nil {
		return fail(fmt.Errorf("sandbox: pipe: %w", err))
	}
	c.infoR = infoR
	files = append(files, infoW)
	blockR, blockW, err := os.Pipe()
	if err != nil {
		return fail(fmt.Errorf("sandbox: pipe: %w", err))
	}
	c.blockW = blockW
	files = append(files, blockR)

	home := spec.Dir
	if home == "" {
		home = "/"
	}
	hostname := spec.Hostname
	if hostname == "" {
		hostname = "sandbox"
	}
	a := []string{
		"--unshare-all", "--unshare-user", "--disable-userns",
		"--uid", strconv.Itoa(spec.UID), "--gid", strconv.Itoa(spec.GID),
		"--hostname", hostname,
		"--die-with-parent", "--new-session",
		"--info-fd", "3", "--block-fd", "4",
	}
	if spec.Network == NetworkHost {
		a = append(a, "--share-net")
	}
	for _, d := range systemDirs {
		fi, err := os.Lstat(d)
		switch {
		case err != nil:
		case fi.Mode()&os.ModeSymlink != 0:
			if target, err := os.Readlink(d); err == nil {
				a = append(a, "--symlink", target, d)
			}
		case fi.IsDir():
			a = append(a, "--ro-bind", d, d)
		}
	}
	for _, f := range etcFiles {
		a = append(a, "--ro-bind-try", f, f)
	}
	// A made-up passwd and group name the sandbox's user, for programs
	// that ask who they are, without the host's accounts.
	for _, data := range []struct{ path, text string }{
		{"/etc/passwd", fmt.Sprintf("root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:%d:%d:sandbox:%s:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n", spec.UID, spec.GID, home)},
		{"/etc/group", fmt.Sprintf("root:x:0:\nsandbox:x:%d:\nnogroup:x:65534:\n", spec.GID)},
	} {
		pr, pw, err := os.Pipe()
		if err != nil {
			return fail(fmt.Errorf("sandbox: pipe: %w", err))
		}
		_, werr := pw.WriteString(data.text) // far below a pipe's buffer
		pw.Close()
		files = append(files, pr)
		if werr != nil {
			return fail(fmt.Errorf("sandbox: write %s: %w", data.path, werr))
		}
		a = append(a, "--ro-bind-data", strconv.Itoa(2+len(files)), data.path)
	}
	a = append(a, "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp")
	for _, t := range spec.Tmpfs {
		a = append(a, "--tmpfs", t)
	}
	for _, b := range spec.ReadOnly {
		a = append(a, "--ro-bind", b.Src, cmpOr(b.Dst, b.Src))
	}
	for _, b := range spec.Writable {
		a = append(a, "--bind", b.Src, cmpOr(b.Dst, b.Src))
	}
	a = append(a, "--chdir", home, "--", name)
	a = append(a, args...)

	cmd := exec.Command(r.bwrap, a...)
	cmd.Env = slices.Clone(spec.Env)
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Dir = "/" // bwrap runs as the sandbox's user, who may not enter ours
	cmd.ExtraFiles = files
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: uint32(spec.UID), Gid: uint32(spec.GID), Groups: []uint32{}},
		Setpgid:    true,
		Pdeathsig:  syscall.SIGKILL,
	}
	c.Cmd = cmd
	c.parentW = files
	return c, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Started finishes the sandbox of a command whose Cmd was started: it
// learns the sandbox's processes, connects its network (NetworkOutbound)
// and lets the command run. On error the caller kills and waits for Cmd.
func (c *Cmd) Started(ctx context.Context) error {
	if err := c.Prepared(ctx); err != nil {
		return err
	}
	return c.Release()
}

// Prepared does what Started does but let the command run: the sandbox
// is set up, its network connected, and the command waits, not yet
// executed, until Release. A sandbox kept ready this way makes a later
// start cost only the command's own. On error the caller kills and waits
// for Cmd.
func (c *Cmd) Prepared(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range c.parentW { // the child has its copies
		f.Close()
	}
	c.parentW = nil
	if c.Process == nil {
		return errors.New("sandbox: Started before the command was started")
	}
	pid, err := readChildPid(ctx, c.infoR)
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	c.childPid = pid
	if c.BeforeRun != nil {
		if err := c.BeforeRun([]int{c.Process.Pid, pid}); err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
	}
	if c.spec.Network == NetworkOutbound {
		if err := c.connect(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Release lets the command of a Prepared sandbox run.
func (c *Cmd) Release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.blockW == nil {
		return errors.New("sandbox: Release without Prepared, or twice")
	}
	if _, err := c.blockW.Write([]byte{1}); err != nil {
		return fmt.Errorf("sandbox: release the command: %w", err)
	}
	c.blockW.Close()
	c.blockW = nil
	return nil
}

// Run starts the command, finishes its sandbox and waits for it to end,
// for commands that run to completion (a build, a hook). When ctx is done
// first, the whole sandbox is killed and Run returns ctx's cause. It
// releases everything (Close) before it returns.
func (c *Cmd) Run(ctx context.Context) error {
	defer c.Close()
	if err := c.Cmd.Start(); err != nil {
		return fmt.Errorf("sandbox: start bwrap: %w", err)
	}
	if err := c.Started(ctx); err != nil {
		_ = c.Kill()
		_ = c.Cmd.Wait()
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = c.Kill() })
	err := c.Cmd.Wait()
	if !stop() && ctx.Err() != nil {
		return fmt.Errorf("sandbox: %w", context.Cause(ctx))
	}
	return err
}

// readChildPid reads the pid of the sandbox's first process from bwrap's
// --info-fd.
func readChildPid(ctx context.Context, r *os.File) (int, error) {
	deadline := time.Now().Add(10 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = r.SetReadDeadline(deadline)
	var info struct {
		ChildPid int `json:"child-pid"`
	}
	if err := json.NewDecoder(r).Decode(&info); err != nil {
		return 0, fmt.Errorf("bwrap did not set up the sandbox: %w", err)
	}
	if info.ChildPid <= 0 {
		return 0, errors.New("bwrap did not say the sandbox's pid")
	}
	return info.ChildPid, nil
}

// connect gives the sandbox's network namespace outbound access with
// pasta, forwarding the ports of the spec, and waits until it is ready.
//
// pasta is started by Seedbed's own user and joins only the network
// namespace, passed as its standard input: newer pastas (Debian trixie's) close every
// other inherited file before it reads its options ("Couldn't open
// network namespace /proc/self/fd/3"), and a path in /proc/PID/ns could
// name another process's namespace once the sandbox's pid is reused.
// pasta reads nothing from its standard input. --no-map-gw keeps the host's
// loopback out of reach through the gateway address; -t and -T list the
// only ports forwarded in either direction (their default, "auto", would
// forward every port bound on the host).
func (c *Cmd) connect(ctx context.Context) error {
	if err := c.waitLoopback(ctx); err != nil {
		return err
	}
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", c.childPid))
	if err != nil {
		return fmt.Errorf("sandbox: open the network namespace: %w", err)
	}
	defer ns.Close()
	args := []string{"--foreground", "--quiet", "--config-net", "--no-map-gw", "--runas", "0:0",
		"-u", "none", "-U", "none", "--netns", "/proc/self/fd/0"}
	args = append(args, c.r.pastaLoopback...)
	args = append(args, portArgs("-t", "127.0.0.1/", c.spec.Publish)...)
	args = append(args, portArgs("-T", "", c.spec.Reach)...)
	p := exec.Command(c.r.pasta, args...)
	p.Stdin = ns
	c.pastaOut = &bytes.Buffer{}
	p.Stdout, p.Stderr = c.pastaOut, c.pastaOut
	p.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.Start(); err != nil {
		return fmt.Errorf("sandbox: start pasta: %w", err)
	}
	c.pasta = p
	var waitErr error
	done := make(chan struct{})
	go func() { waitErr = p.Wait(); close(done) }() // reaps pasta when Close kills it
	c.pastaDone = done
	gap := 2 * time.Millisecond
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		if c.networkReady() {
			return nil
		}
		select {
		case <-done:
			c.pasta = nil
			return fmt.Errorf("sandbox: pasta exited (%v) before the network was ready: %s", waitErr, pastaOutput(c.pastaOut))
		case <-deadline.C:
			return fmt.Errorf("sandbox: pasta did not connect the network within 10s: %s", pastaOutput(c.pastaOut))
		case <-ctx.Done():
			return fmt.Errorf("sandbox: %w", context.Cause(ctx))
		case <-time.After(gap):
			gap = min(gap*2, 50*time.Millisecond)
		}
	}
}

// waitLoopback waits until bwrap has set up the sandbox's loopback, which
// it does in the sandbox after it reported the child's pid. pasta
// (--config-net) brings the loopback up too, and when it got there first
// bwrap failed its own setup ("loopback: Failed RTM_NEWADDR: No child
// processes") and the sandbox did not start: 3–4 of 160 probes run 16 at
// a time on 2 busy cores. The loopback has its address once 127.0.0.1
// shows in the namespace's routing table.
func (c *Cmd) waitLoopback(ctx context.Context) error {
	gap := 500 * time.Microsecond
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		trie, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/fib_trie", c.childPid))
		if err != nil {
			return fmt.Errorf("sandbox: read the sandbox's routes: %w", err)
		}
		if bytes.Contains(trie, []byte("127.0.0.1")) {
			return nil
		}
		select {
		case <-deadline.C:
			return errors.New("sandbox: bwrap did not set up the sandbox's loopback within 10s")
		case <-ctx.Done():
			return fmt.Errorf("sandbox: %w", context.Cause(ctx))
		case <-time.After(gap):
			gap = min(gap*2, 20*time.Millisecond)
		}
	}
}

// portArgs renders ports as pasta options; "none" when there are none.
func portArgs(flag, prefix string, ports []int) []string {
	if len(ports) == 0 {
		return []string{flag, "none"}
	}
	var out []string
	for _, p := range ports {
		out = append(out, flag, prefix+strconv.Itoa(p))
	}
	return out
}

// networkReady reports whether pasta configured the sandbox's network (a
// default route) and bound the forwarded ports on both sides.
func (c *Cmd) networkReady() bool {
	routes, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/route", c.childPid))
	if err != nil || !hasDefaultRoute(string(routes)) {
		return false
	}
	for _, p := range c.spec.Publish {
		if !listening("/proc/self/net/tcp", p) {
			return false
		}
	}
	for _, p := range c.spec.Reach {
		inside := fmt.Sprintf("/proc/%d/net/", c.childPid)
		if !listening(inside+"tcp", p) && !listening(inside+"tcp6", p) {
			return false
		}
	}
	return true
}

// hasDefaultRoute reads /proc/net/route for a route to 0.0.0.0/0.
func hasDefaultRoute(table string) bool {
	for line := range strings.Lines(table) {
		f := strings.Fields(line)
		if len(f) > 7 && f[1] == "00000000" && f[7] == "00000000" {
			return true
		}
	}
	return false
}

// listening reports whether a socket listens on TCP port in a
// /proc/net/tcp-style table.
func listening(table string, port int) bool {
	f, err := os.Open(table)
	if err != nil {
		return false
	}
	defer f.Close()
	want := fmt.Sprintf(":%04X", port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// sl local_address rem_address st ...; st 0A is LISTEN
		if len(fields) > 3 && strings.HasSuffix(fields[1], want) && fields[3] == "0A" {
			return true
		}
	}
	return false
}

// pastaOutput is what pasta said, without its complaints about syslog.
func pastaOutput(b *bytes.Buffer) string {
	var keep []string
	for line := range strings.Lines(b.String()) {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "Failed to send") {
			keep = append(keep, line)
		}
	}
	if len(keep) == 0 {
		return "it printed nothing"
	}
	return strings.Join(keep, "; ")
}

// Signal sends sig to the command inside the sandbox (the children of the
// sandbox's init), for a graceful stop: the sandbox's init itself ignores
// signals it has no handler for. It does nothing before Started.
func (c *Cmd) Signal(sig syscall.Signal) {
	c.mu.Lock()
	pid := c.childPid
	c.mu.Unlock()
	if pid == 0 {
		return
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(b)) {
		if child, err := strconv.Atoi(f); err == nil && child > 1 {
			_ = syscall.Kill(child, sig)
		}
	}
}

// Kill kills bwrap's process group and so the whole sandbox: the sandbox's
// init dies with bwrap (--die-with-parent), and every process of its pid
// namespace with the init, whatever session or group it made itself.
func (c *Cmd) Kill() error {
	if c.Process == nil {
		return errors.New("sandbox: not started")
	}
	return syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
}

// Close releases what the sandbox holds besides the command: pasta (it
// returns once pasta is gone) and the pipes to bwrap. Call it once
// Cmd.Wait returned (or when Cmd was never started); it is safe to call
// more than once.
func (c *Cmd) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	for _, f := range c.parentW {
		f.Close()
	}
	c.parentW = nil
	if c.infoR != nil {
		c.infoR.Close()
	}
	if c.blockW != nil {
		c.blockW.Close()
	}
	if c.pasta != nil && c.pasta.Process != nil {
		_ = syscall.Kill(-c.pasta.Process.Pid, syscall.SIGKILL)
		// Reaped before Close returns, so the ports it bound are free
		// when the caller looks: a start that found its port still held
		// by a dying pasta took it for another process's.
		select {
		case <-c.pastaDone:
		case <-time.After(2 * time.Second):
		}
	}
}

// PastaOutput returns what pasta printed, for error messages.
func (c *Cmd) PastaOutput() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pastaOut == nil {
		return ""
	}
	return pastaOutput(c.pastaOut)
}

// CheckReachable reports which folder on the way to path uid (in group
// gid) cannot pass through, for the binds of a Spec: bwrap runs as that
// user and must reach what it binds. It reads the mode bits only (no
// ACLs) and ignores that root passes everywhere.
func CheckReachable(path string, uid, gid int) error {
	path = filepath.Clean(path)
	for p := path; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		mode := fi.Mode().Perm()
		var bit os.FileMode = 0o001
		switch {
		case int(st.Uid) == uid:
			bit = 0o100
		case int(st.Gid) == gid:
			bit = 0o010
		}
		if fi.IsDir() && mode&bit == 0 {
			return fmt.Errorf("uid %d cannot pass through %s (mode %04o, owner %d:%d): give others search permission (chmod o+x %s) or keep Seedbed's data dir elsewhere (for example /var/lib/seedbed)", uid, p, mode, st.Uid, st.Gid, p)
		}
		if p == "/" || p == "." {
			return nil
		}
	}
}
