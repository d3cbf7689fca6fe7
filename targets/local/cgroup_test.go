package local

import (
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// needCgroups skips the test, saying why, when no cgroup is usable for
// hard memory limits. Under CI=true, as root, with /sys/fs/cgroup
// writable, that is a failure instead.
func needCgroups(t *testing.T) {
	t.Helper()
	c, err := detectCgroups(filepath.Join(t.TempDir(), "probe"), false, slog.New(slog.DiscardHandler))
	if err == nil {
		c.close()
		return
	}
	const wOK = 2 // access(2)'s W_OK
	if os.Getenv("CI") == "true" && os.Geteuid() == 0 && syscall.Access("/sys/fs/cgroup", wOK) == nil {
		t.Fatalf("CI=true, root and /sys/fs/cgroup is writable, yet no cgroup is usable for memory limits: %v", err)
	}
	t.Skipf("no cgroup is usable for hard memory limits (%v); set CI=true as root to make this a failure", err)
}

// Inputs as real machines print them.
const (
	// A Debian host with systemd and cgroup v2 only.
	v2ProcCgroup = "0::/system.slice/seedbed.service\n"
	v2MountInfo  = `22 28 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
26 28 0:23 / /run rw,nosuid,nodev,noexec,relatime shared:5 - tmpfs tmpfs rw,size=1608912k,mode=755
28 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`
	// A hybrid machine: v1 controllers, cgroup2 at unified without any
	// (this is how the machine these tests were written on looks).
	hybridProcCgroup = `9:name=systemd:/
8:pids:/
4:memory:/process_api/fa6a829910cfcaea18b612d3668473ab
2:cpuacct:/
1:cpu:/
0::/
`
	hybridMountInfo = `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	// A Docker container on a v1 host without a cgroup namespace: the
	// hierarchy's root is the container's cgroup, mounted read-only.
	dockerV1ProcCgroup = `12:memory:/docker/0123abcd
11:cpu,cpuacct:/docker/0123abcd
1:name=systemd:/docker/0123abcd
0::/system.slice/containerd.service
`
	dockerV1MountInfo = `690 689 0:64 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,mode=755
700 690 0:33 /docker/0123abcd /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime master:15 - cgroup cgroup rw,memory
701 690 0:34 /docker/0123abcd /sys/fs/cgroup/cpu,cpuacct ro,nosuid,nodev,noexec,relatime master:16 - cgroup cgroup rw,cpu,cpuacct
`
)

func TestParseProcCgroup(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []procCgroup
		wantErr string
	}{
		{name: "v2", in: v2ProcCgroup, want: []procCgroup{{id: 0, path: "/system.slice/seedbed.service"}}},
		{name: "hybrid", in: hybridProcCgroup, want: []procCgroup{
			{id: 9, controllers: []string{"name=systemd"}, path: "/"},
			{id: 8, controllers: []string{"pids"}, path: "/"},
			{id: 4, controllers: []string{"memory"}, path: "/process_api/fa6a829910cfcaea18b612d3668473ab"},
			{id: 2, controllers: []string{"cpuacct"}, path: "/"},
			{id: 1, controllers: []string{"cpu"}, path: "/"},
			{id: 0, path: "/"},
		}},
		{name: "v1 with joined controllers", in: dockerV1ProcCgroup, want: []procCgroup{
			{id: 12, controllers: []string{"memory"}, path: "/docker/0123abcd"},
			{id: 11, controllers: []string{"cpu", "cpuacct"}, path: "/docker/0123abcd"},
			{id: 1, controllers: []string{"name=systemd"}, path: "/docker/0123abcd"},
			{id: 0, path: "/system.slice/containerd.service"},
		}},
		{name: "colon in path", in: "0::/user.slice/a:b\n", want: []procCgroup{{id: 0, path: "/user.slice/a:b"}}},
		{name: "no trailing newline", in: "0::/", want: []procCgroup{{id: 0, path: "/"}}},
		{name: "empty", in: "", want: nil},
		{name: "too few fields", in: "0:/\n", wantErr: "is not ID:CONTROLLERS:PATH"},
		{name: "bad id", in: "x::/\n", wantErr: "invalid syntax"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseProcCgroup(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseMountInfo(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []mount
		wantErr string
	}{
		{name: "v2", in: v2MountInfo, want: []mount{
			{root: "/", point: "/proc", fsType: "proc", superOpts: []string{"rw"}},
			{root: "/", point: "/run", fsType: "tmpfs", superOpts: []string{"rw", "size=1608912k", "mode=755"}},
			{root: "/", point: "/", fsType: "ext4", superOpts: []string{"rw", "errors=remount-ro"}},
			{root: "/", point: "/sys/fs/cgroup", fsType: "cgroup2", superOpts: []string{"rw", "nsdelegate", "memory_recursiveprot"}},
		}},
		{name: "v1 without optional fields", in: "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n", want: []mount{
			{root: "/", point: "/sys/fs/cgroup/memory", fsType: "cgroup", superOpts: []string{"rw", "memory"}},
		}},
		{name: "several optional fields", in: "700 690 0:33 /docker/x /sys/fs/cgroup/memory ro master:15 shared:3 - cgroup cgroup rw,memory\n", want: []mount{
			{root: "/docker/x", point: "/sys/fs/cgroup/memory", fsType: "cgroup", superOpts: []string{"rw", "memory"}},
		}},
		{name: "escaped space", in: `50 28 0:40 /a\040b /mnt/my\040cgroups rw - cgroup2 none rw` + "\n", want: []mount{
			{root: "/a b", point: "/mnt/my cgroups", fsType: "cgroup2", superOpts: []string{"rw"}},
		}},
		{name: "no separator", in: "30 23 0:26 / /sys/fs/cgroup rw shared:9 cgroup2 cgroup2 rw\n", wantErr: "too few fields"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseMountInfo(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestLocateCgroups(t *testing.T) {
	tests := []struct {
		name      string
		procs     string
		mountinfo string
		want      cgroupPlaces
	}{
		{name: "v2", procs: v2ProcCgroup, mountinfo: v2MountInfo,
			want: cgroupPlaces{v2: "/sys/fs/cgroup/system.slice/seedbed.service"}},
		{name: "v2 in a cgroup namespace", procs: "0::/\n", mountinfo: v2MountInfo,
			want: cgroupPlaces{v2: "/sys/fs/cgroup", v2Top: true}},
		{name: "hybrid", procs: hybridProcCgroup, mountinfo: hybridMountInfo,
			want: cgroupPlaces{v2: "/sys/fs/cgroup/unified", v2Top: true, v1: "/sys/fs/cgroup/memory/process_api/fa6a829910cfcaea18b612d3668473ab"}},
		{name: "v1 mounted at the container's cgroup", procs: dockerV1ProcCgroup, mountinfo: dockerV1MountInfo,
			want: cgroupPlaces{v1: "/sys/fs/cgroup/memory"}},
		{name: "v1 below the mount's root", procs: "4:memory:/docker/0123abcd/inner\n", mountinfo: dockerV1MountInfo,
			want: cgroupPlaces{v1: "/sys/fs/cgroup/memory/inner"}},
		{name: "v1 outside the mount's root", procs: "4:memory:/other\n", mountinfo: dockerV1MountInfo,
			want: cgroupPlaces{}},
		{name: "outside the cgroup namespace", procs: "0::/../sibling\n", mountinfo: v2MountInfo,
			want: cgroupPlaces{}},
		{name: "nothing mounted", procs: hybridProcCgroup, mountinfo: "28 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n",
			want: cgroupPlaces{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			procs, err := parseProcCgroup(tc.procs)
			if err != nil {
				t.Fatal(err)
			}
			mounts, err := parseMountInfo(tc.mountinfo)
			if err != nil {
				t.Fatal(err)
			}
			if got := locateCgroups(procs, mounts); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseMemoryLimits(t *testing.T) {
	tests := []struct {
		in   string
		want MemoryLimits
		err  bool
	}{
		{in: "", want: MemoryLimitsAuto},
		{in: "auto", want: MemoryLimitsAuto},
		{in: " Cgroup ", want: MemoryLimitsCgroup},
		{in: "soft", want: MemoryLimitsSoft},
		{in: "hard", err: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseMemoryLimits(tc.in)
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("ParseMemoryLimits(%q) = %q, %v", tc.in, got, err)
			}
		})
	}
}

// TestOOMWatch checks how OOM kills are dated: whoever reads the grown
// count first, a look that began before it sees the kill.
func TestOOMWatch(t *testing.T) {
	var w oomWatch
	t0 := time.Now()
	if w.seen(0, t0) {
		t.Error("no kill yet, but seen")
	}
	if !w.seen(1, t0) {
		t.Error("the first kill was not seen")
	}
	if !w.seen(1, t0) {
		t.Error("a second look since t0 (the count read already) missed the kill")
	}
	t1 := time.Now().Add(time.Millisecond)
	if w.seen(1, t1) {
		t.Error("a look that began after the kill saw it")
	}
}
