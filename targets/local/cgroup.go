package local

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/seedbed/seedbed/targets"
)

// MemoryLimits says how the target holds a function to its memory (the
// stack's `memory`, in MiB).
//
// Hard limits put every function instance in a cgroup of its own whose
// memory limit is the function's memory (no swap): a process that
// allocates past it is stopped by the kernel's OOM killer, the log and the
// gateway say so, and it is restarted like a crashed one. The cgroups live
// under Seedbed's own cgroup (see cgroup_linux.go), in cgroup v2 or in the
// memory hierarchy of cgroup v1, whichever is writable.
//
// Soft limits are the knobs runtimes offer, which the target sets in both
// modes: GOMEMLIMIT for go, V8's --max-old-space-size for node and, for
// python Lambda handlers without hard limits only, RLIMIT_AS.
type MemoryLimits string

const (
	// MemoryLimitsAuto uses hard limits where a cgroup is usable and soft
	// ones elsewhere; it is what an empty Config.MemoryLimits means.
	MemoryLimitsAuto MemoryLimits = "auto"
	// MemoryLimitsCgroup uses hard limits; New fails when no cgroup is
	// usable.
	MemoryLimitsCgroup MemoryLimits = "cgroup"
	// MemoryLimitsSoft uses the runtimes' knobs only.
	MemoryLimitsSoft MemoryLimits = "soft"
)

// ParseMemoryLimits reads a MemoryLimits setting; empty means auto.
func ParseMemoryLimits(s string) (MemoryLimits, error) {
	switch m := MemoryLimits(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return MemoryLimitsAuto, nil
	case MemoryLimitsAuto, MemoryLimitsCgroup, MemoryLimitsSoft:
		return m, nil
	}
	return "", fmt.Errorf("memory limits %q: use auto, cgroup or soft", s)
}

// ErrNoCgroup is what New returns (wrapped, with the reason) when
// Config.MemoryLimits is MemoryLimitsCgroup and no cgroup is usable.
var ErrNoCgroup = errors.New("hard memory limits need a writable cgroup with the memory controller")

// cgroupName names an instance's cgroup after its run directory, which is
// unique, keeping the name within what a file system allows.
func cgroupName(runDir string) string {
	base := filepath.Base(runDir)
	if len(base) > 200 {
		base = base[len(base)-200:]
	}
	return "fn-" + base
}

// outOfMemory returns what to say when the OOM killer stopped a process of
// the instance at or after since; "" when it did not, or when the instance
// has no cgroup. sigkilled says the process is known to have died of
// SIGKILL, as OOM kills do.
func (in *instance) outOfMemory(since time.Time, sigkilled bool) string {
	if in.cg == nil || !in.cg.oomSince(since, sigkilled) {
		return ""
	}
	return oomMessage(in.fn)
}

// oomMessage is what the log and the gateway say when the kernel's OOM
// killer stopped a process of fn.
func oomMessage(fn targets.Function) string {
	if fn.Memory <= 0 {
		return fmt.Sprintf("out of memory: function %s was stopped by the kernel's OOM killer (it sets no memory limit; the machine or Seedbed's own cgroup ran out)", fn.Key())
	}
	return fmt.Sprintf("out of memory: function %s exceeded its %d MiB memory limit and was stopped", fn.Key(), fn.Memory)
}

// oomWatch dates the OOM kills of one instance's cgroup. The kernel only
// counts them; a kill is dated when Seedbed first reads the grown count,
// which the supervisor does as soon as the process is gone and the gateway
// as soon as a request to it failed, so each can tell whether a kill
// happened while it was looking.
type oomWatch struct {
	mu    sync.Mutex
	kills uint64    // the count last read
	last  time.Time // when the count was last seen to grow
}

// seen records a count read from the kernel and reports whether a kill
// was first seen at since or later.
func (w *oomWatch) seen(kills uint64, since time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if kills > w.kills {
		w.kills = kills
		w.last = time.Now()
	}
	return !w.last.IsZero() && !w.last.Before(since)
}

// procCgroup is one line of /proc/self/cgroup: "ID:CONTROLLERS:PATH".
type procCgroup struct {
	id          int
	controllers []string // empty for cgroup v2 (ID 0)
	path        string   // relative to the hierarchy's root (or cgroup namespace)
}

// parseProcCgroup reads /proc/self/cgroup.
func parseProcCgroup(s string) ([]procCgroup, error) {
	var out []procCgroup
	for line := range strings.Lines(s) {
		line = strings.TrimRight(line, "\n")
		if line == "" {
			continue
		}
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("parse /proc/self/cgroup: line %q is not ID:CONTROLLERS:PATH", line)
		}
		id, err := strconv.Atoi(parts[0])
		if err != nil {
			return nil, fmt.Errorf("parse /proc/self/cgroup: line %q: %w", line, err)
		}
		pc := procCgroup{id: id, path: parts[2]}
		if parts[1] != "" {
			pc.controllers = strings.Split(parts[1], ",")
		}
		out = append(out, pc)
	}
	return out, nil
}

// mount is what cgroups need of a line of /proc/self/mountinfo.
type mount struct {
	root      string   // the folder of the file system that is mounted (field 4)
	point     string   // where it is mounted (field 5)
	fsType    string   // the first field after the "-" separator
	superOpts []string // the super block's options: a v1 hierarchy's controllers
}

// parseMountInfo reads /proc/self/mountinfo (see proc(5)).
func parseMountInfo(s string) ([]mount, error) {
	var out []mount
	for line := range strings.Lines(s) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		sep := slices.Index(fields, "-")
		if sep < 6 || len(fields) < sep+3 {
			return nil, fmt.Errorf("parse /proc/self/mountinfo: line %q has too few fields", strings.TrimSpace(line))
		}
		m := mount{root: unescapeMount(fields[3]), point: unescapeMount(fields[4]), fsType: fields[sep+1]}
		if len(fields) > sep+3 {
			m.superOpts = strings.Split(fields[sep+3], ",")
		}
		out = append(out, m)
	}
	return out, nil
}

// unescapeMount undoes the octal escapes (\040 for a space) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cgroupPlaces says where Seedbed's own cgroup is in each hierarchy that
// can limit memory; "" where there is none.
type cgroupPlaces struct {
	v2    string // in the cgroup2 hierarchy
	v2Top bool   // v2 is the root of the hierarchy as Seedbed sees it
	v1    string // in the memory hierarchy of cgroup v1
}

// locateCgroups finds the folders of Seedbed's own cgroups from what
// /proc/self/cgroup and /proc/self/mountinfo say. A hierarchy mounted
// several times is found through a mount whose root holds the cgroup.
func locateCgroups(self []procCgroup, mounts []mount) cgroupPlaces {
	var places cgroupPlaces
	for _, pc := range self {
		var want func(mount) bool
		var dst *string
		switch {
		case pc.id == 0 && len(pc.controllers) == 0:
			want = func(m mount) bool { return m.fsType == "cgroup2" }
			dst = &places.v2
		case slices.Contains(pc.controllers, "memory"):
			want = func(m mount) bool { return m.fsType == "cgroup" && slices.Contains(m.superOpts, "memory") }
			dst = &places.v1
		default:
			continue
		}
		if *dst != "" || !strings.HasPrefix(pc.path, "/") || slices.Contains(strings.Split(pc.path, "/"), "..") {
			continue // a cgroup outside our cgroup namespace cannot be reached
		}
		for _, m := range mounts {
			if !want(m) {
				continue
			}
			rel, ok := within(m.root, pc.path)
			if !ok {
				continue
			}
			*dst = path.Join(m.point, rel)
			if dst == &places.v2 {
				places.v2Top = rel == "/"
			}
			break
		}
	}
	return places
}

// within returns p relative to root when root is p or one of its
// ancestors.
func within(root, p string) (string, bool) {
	root, p = path.Clean(root), path.Clean(p)
	if root == "/" {
		return p, true
	}
	if p == root {
		return "/", true
	}
	if rest, ok := strings.CutPrefix(p, root+"/"); ok {
		return "/" + rest, true
	}
	return "", false
}
