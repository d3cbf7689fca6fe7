//go:build linux

package local

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Hard memory limits with cgroups. The layout is
//
//	<Seedbed's own cgroup>/seedbed-<8 hex of Config.Dir>/fn-<run dir name>
//
// The parent is named after the target's folder, so that two targets in
// the same cgroup (two Seedbeds, or tests) never touch each other's
// instances, while a Seedbed started again with the same data dir removes
// what its previous life left there. Each instance gets a child of it for
// its life, across restarts of its process; the child is removed once its
// processes are gone.
//
// With cgroup v2 a process starts inside its cgroup (clone3 with
// CLONE_INTO_CGROUP), so nothing it does escapes the limit. Controllers
// can only be enabled below a cgroup that holds no process (the "no
// internal processes" rule). To make that so, Seedbed moves itself into a
// child, seedbed-self, when its own cgroup holds it alone; when its cgroup
// is the root of a cgroup namespace (a container's), it moves every
// process there, as Docker-in-Docker does, since the whole cgroup is the
// container's. With cgroup v1 a process is moved into its cgroup right
// after it started.

const (
	// selfLeaf is the cgroup v2 child Seedbed moves itself into.
	selfLeaf = "seedbed-self"
	// probeCgroup is made and removed at start to prove limits can be set.
	probeCgroup = "probe"
)

// cgroups is the parent cgroup of a target's instances.
type cgroups struct {
	version int    // 1 or 2
	dir     string // the parent's folder
	log     *slog.Logger
	// keep leaves the children found at the start: those of the process
	// this one takes over from (Config.TakeOver).
	keep bool
	// noCloneInto is set once starting a process inside its cgroup
	// failed (a kernel before 5.7, or a seccomp filter that refuses
	// clone3): processes are then moved in right after they started.
	noCloneInto atomic.Bool
}

// fnCgroup is the cgroup of one instance.
type fnCgroup struct {
	parent *cgroups
	dir    string
	oom    oomWatch
}

// errRetryStart asks spawn to build the command again and start it once
// more (see fnCgroup.start).
var errRetryStart = errors.New("start again without CLONE_INTO_CGROUP")

func (c *cgroups) String() string { return "cgroup v" + strconv.Itoa(c.version) }

// detectCgroups sets up the parent cgroup of the target whose folder is
// dir, in cgroup v2 if it can limit memory there, else in cgroup v1's
// memory hierarchy, and removes the instance cgroups an earlier life of
// the target left. The error says why neither is usable.
func detectCgroups(dir string, keep bool, log *slog.Logger) (*cgroups, error) {
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	procs, err := parseProcCgroup(string(self))
	if err != nil {
		return nil, err
	}
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	mounts, err := parseMountInfo(string(info))
	if err != nil {
		return nil, err
	}
	places := locateCgroups(procs, mounts)
	sum := sha256.Sum256([]byte(dir))
	name := "seedbed-" + hex.EncodeToString(sum[:4])

	var reasons []string
	if places.v2 == "" {
		reasons = append(reasons, "cgroup v2 is not mounted")
	} else if c, err := setupV2(places.v2, places.v2Top, name, keep, log); err != nil {
		reasons = append(reasons, "cgroup v2: "+err.Error())
	} else {
		return c, nil
	}
	if places.v1 == "" {
		reasons = append(reasons, "no cgroup v1 memory hierarchy is mounted")
	} else if c, err := setupV1(places.v1, name, keep, log); err != nil {
		reasons = append(reasons, "cgroup v1: "+err.Error())
	} else {
		return c, nil
	}
	return nil, errors.New(strings.Join(reasons, "; "))
}

// setupV2 makes the parent cgroup below base, Seedbed's own cgroup, with
// the memory controller enabled for its children. top says base is the
// root of the hierarchy as Seedbed sees it.
func setupV2(base string, top bool, name string, keep bool, log *slog.Logger) (*cgroups, error) {
	if filepath.Base(base) == selfLeaf {
		base = filepath.Dir(base) // moved there by an earlier target
		top = false
	}
	controllers, err := os.ReadFile(filepath.Join(base, "cgroup.controllers"))
	if err != nil {
		return nil, err
	}
	if !slices.Contains(strings.Fields(string(controllers)), "memory") {
		return nil, fmt.Errorf("the memory controller is not available in %s (cgroup.controllers: %q)", base, strings.TrimSpace(string(controllers)))
	}
	if err := enableMemory(base); err != nil {
		if !errors.Is(err, syscall.EBUSY) {
			return nil, err
		}
		// The real root takes no part in the rule, so a top cgroup that
		// is busy is a cgroup namespace's.
		moved, err := moveProcesses(base, top)
		if err != nil {
			return nil, err
		}
		if err := enableMemory(base); err != nil {
			return nil, err
		}
		log.Info("moved Seedbed into a child cgroup, so that memory limits can be set for its functions", "cgroup", filepath.Join(base, selfLeaf), "processes", moved)
	}
	c := &cgroups{version: 2, dir: filepath.Join(base, name), log: log, keep: keep}
	if err := os.Mkdir(c.dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, err
	}
	if err := enableMemory(c.dir); err != nil {
		_ = syscall.Rmdir(c.dir)
		return nil, err
	}
	if err := c.prepare(); err != nil {
		_ = syscall.Rmdir(c.dir)
		return nil, err
	}
	return c, nil
}

// setupV1 makes the parent cgroup below base, Seedbed's own cgroup in the
// memory hierarchy.
func setupV1(base, name string, keep bool, log *slog.Logger) (*cgroups, error) {
	c := &cgroups{version: 1, dir: filepath.Join(base, name), log: log, keep: keep}
	if err := os.Mkdir(c.dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, err
	}
	if err := c.prepare(); err != nil {
		_ = syscall.Rmdir(c.dir)
		return nil, err
	}
	return c, nil
}

// prepare removes what an earlier life left in the parent, unless it is
// kept (a process taking over from one that still runs them), and proves
// that a limit can be set on a child.
func (c *cgroups) prepare() error {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() || (c.keep && e.Name() != probeCgroup) {
			continue
		}
		stale := &fnCgroup{parent: c, dir: filepath.Join(c.dir, e.Name())}
		if e.Name() != probeCgroup {
			c.log.Warn("removing a cgroup a previous run of Seedbed left behind", "cgroup", stale.dir)
		}
		if err := stale.remove(); err != nil {
			return err
		}
	}
	probe, err := c.create(probeCgroup, 16)
	if err != nil {
		return err
	}
	return probe.remove()
}

// close removes the parent once the target stopped every instance.
func (c *cgroups) close() {
	// Busy: the process that took over from this one runs functions in it.
	if err := syscall.Rmdir(c.dir); err != nil && !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.EBUSY) {
		c.log.Warn("remove the functions' parent cgroup", "cgroup", c.dir, "err", err)
	}
}

// create makes an instance's cgroup, limited to memMiB MiB without swap
// when memMiB is above zero.
func (c *cgroups) create(name string, memMiB int) (*fnCgroup, error) {
	fc := &fnCgroup{parent: c, dir: filepath.Join(c.dir, name)}
	if err := os.Mkdir(fc.dir, 0o755); err != nil {
		return nil, err
	}
	if memMiB > 0 {
		if err := fc.limit(int64(memMiB) << 20); err != nil {
			_ = fc.remove()
			return nil, err
		}
	}
	return fc, nil
}

// limit sets the memory limit. Swap would let a process go far past it
// before anything stops it, so none is allowed.
func (fc *fnCgroup) limit(bytes int64) error {
	n := strconv.FormatInt(bytes, 10)
	if fc.parent.version == 2 {
		if err := writeCgroup(fc.dir, "memory.max", n); err != nil {
			return err
		}
		// Absent without swap accounting.
		if err := writeCgroup(fc.dir, "memory.swap.max", "0"); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		// One OOM kill stops every process of the function, as a
		// crash of the whole function; absent before Linux 4.19.
		if err := writeCgroup(fc.dir, "memory.oom.group", "1"); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	if err := writeCgroup(fc.dir, "memory.limit_in_bytes", n); err != nil {
		return err
	}
	// memsw (memory plus swap) is absent without swap accounting; then
	// swappiness 0 keeps the function's memory out of swap.
	err := writeCgroup(fc.dir, "memory.memsw.limit_in_bytes", n)
	if errors.Is(err, os.ErrNotExist) {
		_ = writeCgroup(fc.dir, "memory.swappiness", "0")
		return nil
	}
	return err
}

// start starts cmd inside the cgroup. With cgroup v2 the process is born
// there; with v1 it is moved in right after it started, and killed if that
// fails. It returns errRetryStart when the kernel cannot start a process
// inside a cgroup: the caller builds the command again and calls start
// once more, which then moves the process in after the start.
func (fc *fnCgroup) start(cmd *exec.Cmd) error {
	if fc.parent.version == 2 && !fc.parent.noCloneInto.Load() {
		f, err := os.Open(fc.dir)
		if err != nil {
			return fmt.Errorf("open cgroup: %w", err)
		}
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = int(f.Fd())
		err = cmd.Start()
		f.Close()
		if err != nil && cloneIntoRefused(err) {
			if !fc.parent.noCloneInto.Swap(true) {
				fc.parent.log.Warn("the kernel cannot start processes inside a cgroup (clone3 with CLONE_INTO_CGROUP); functions are moved into theirs right after they start", "err", err)
			}
			return errRetryStart
		}
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	pid := cmd.Process.Pid
	if err := writeCgroup(fc.dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = cmd.Wait()
		return fmt.Errorf("move the process into cgroup %s: %w", fc.dir, err)
	}
	return nil
}

// add moves a running process into the cgroup.
func (fc *fnCgroup) add(pid int) error {
	if err := writeCgroup(fc.dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
		return fmt.Errorf("move process %d into cgroup %s: %w", pid, fc.dir, err)
	}
	return nil
}

// cloneIntoRefused reports whether starting a process failed because
// clone3 or CLONE_INTO_CGROUP is not available, rather than because of
// what was started.
func cloneIntoRefused(err error) bool {
	return errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.EPERM) ||
		errors.Is(err, syscall.EOPNOTSUPP)
}

// oomSince reports whether the kernel's OOM killer stopped a process of
// the cgroup at or after since (as dated by oomWatch). Where the kernel
// does not count OOM kills (cgroup v1 before Linux 4.13), hitting the
// limit (memory.failcnt) counts when the process was killed by SIGKILL.
func (fc *fnCgroup) oomSince(since time.Time, sigkilled bool) bool {
	kills, exact, err := fc.oomKills()
	if err != nil {
		return false
	}
	return fc.oom.seen(kills, since) && (exact || sigkilled)
}

// oomKills reads how many processes the OOM killer stopped in the cgroup;
// exact is false when the count is memory.failcnt, how often the limit
// was hit.
func (fc *fnCgroup) oomKills() (kills uint64, exact bool, err error) {
	if fc.parent.version == 2 {
		n, err := readCounter(filepath.Join(fc.dir, "memory.events"), "oom_kill")
		return n, true, err
	}
	n, err := readCounter(filepath.Join(fc.dir, "memory.oom_control"), "oom_kill")
	if err == nil {
		return n, true, nil
	}
	b, err := os.ReadFile(filepath.Join(fc.dir, "memory.failcnt"))
	if err != nil {
		return 0, false, err
	}
	n, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n, false, err
}

// remove kills what is left in the cgroup and removes it, trying again
// for a while when the kernel still counts dying processes in it.
func (fc *fnCgroup) remove() error {
	for attempt := 1; ; attempt++ {
		err := syscall.Rmdir(fc.dir)
		if err == nil || errors.Is(err, syscall.ENOENT) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) || attempt == 100 {
			return fmt.Errorf("remove cgroup %s: %w", fc.dir, err)
		}
		fc.kill()
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL to every process in the cgroup: what escaped the
// function's process group, or what an earlier life of Seedbed left.
func (fc *fnCgroup) kill() {
	if fc.parent.version == 2 && writeCgroup(fc.dir, "cgroup.kill", "1") == nil {
		return // Linux 5.14 and later
	}
	procs, err := cgroupProcs(fc.dir)
	if err != nil {
		return
	}
	for _, f := range procs {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// enableMemory makes the memory controller available to dir's children.
func enableMemory(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return err
	}
	if slices.Contains(strings.Fields(string(b)), "memory") {
		return nil
	}
	return writeCgroup(dir, "cgroup.subtree_control", "+memory")
}

// moveProcesses empties base into base/seedbed-self, so that controllers
// can be enabled for base's children, and says how many processes it
// moved. Unless all is set, it refuses when base holds processes besides
// Seedbed, which Seedbed has no business moving.
func moveProcesses(base string, all bool) (int, error) {
	procs, err := cgroupProcs(base)
	if err != nil {
		return 0, err
	}
	others := len(slices.DeleteFunc(slices.Clone(procs), func(pid string) bool { return pid == strconv.Itoa(os.Getpid()) }))
	if !all && others > 0 {
		return 0, fmt.Errorf("%s holds %d processes besides Seedbed, and cgroup v2 enables no controller below a cgroup that holds processes: run Seedbed in a cgroup of its own (systemd: Delegate=yes)", base, others)
	}
	leaf := filepath.Join(base, selfLeaf)
	if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return 0, err
	}
	moved := 0
	for range 10 { // processes may start meanwhile
		if len(procs) == 0 {
			return moved, nil
		}
		for _, pid := range procs {
			err := writeCgroup(leaf, "cgroup.procs", pid)
			if err != nil && !errors.Is(err, syscall.ESRCH) { // gone meanwhile
				return moved, err
			}
			moved++
		}
		if procs, err = cgroupProcs(base); err != nil {
			return moved, err
		}
	}
	if len(procs) > 0 {
		return moved, fmt.Errorf("processes keep starting in %s", base)
	}
	return moved, nil
}

// cgroupProcs lists the processes of a cgroup.
func cgroupProcs(dir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(b)), nil
}

// writeCgroup writes a cgroup control file, which must exist.
func writeCgroup(dir, file, value string) error {
	f, err := os.OpenFile(filepath.Join(dir, file), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, filepath.Join(dir, file), err)
	}
	return nil
}

// readCounter reads "key N" from a flat-keyed cgroup file such as
// memory.events.
func readCounter(file, key string) (uint64, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+" "); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s has no %s", file, key)
}

// memoryCurrent reads the memory the cgroup's processes use now, in
// bytes; 0 when it cannot be read.
func (fc *fnCgroup) memoryCurrent() int64 {
	file := "memory.current"
	if fc.parent.version == 1 {
		file = "memory.usage_in_bytes"
	}
	b, err := os.ReadFile(filepath.Join(fc.dir, file))
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}
