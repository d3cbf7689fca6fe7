//go:build linux

package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seedbed/seedbed/testutil"
)

// testUID is the user the tests' sandboxes run as.
const testUID = 61001

func TestParseIsolation(t *testing.T) {
	tests := []struct {
		name, in string
		want     Isolation
		wantErr  bool
	}{
		{name: "empty is auto", in: "", want: IsolationAuto},
		{name: "auto", in: "auto", want: IsolationAuto},
		{name: "sandbox, any case", in: " Sandbox ", want: IsolationSandbox},
		{name: "none", in: "none", want: IsolationNone},
		{name: "unknown", in: "docker", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseIsolation(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ParseIsolation(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "auto, sandbox or none") {
				t.Errorf("error %q does not say what is valid", err)
			}
		})
	}
}

func TestSpecCheck(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{name: "root", spec: Spec{UID: 0, GID: 0}, want: "never runs as root"},
		{name: "relative bind", spec: Spec{UID: 1, GID: 1, ReadOnly: []Bind{{Src: "data"}}}, want: "absolute"},
		{name: "ports without own network", spec: Spec{UID: 1, GID: 1, Network: NetworkHost, Publish: []int{80}}, want: "need network"},
		{name: "bad port", spec: Spec{UID: 1, GID: 1, Publish: []int{70000}}, want: "not a TCP port"},
		{name: "bad network", spec: Spec{UID: 1, GID: 1, Network: "bridge"}, want: "use outbound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.spec.check()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("check() = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

// runner returns a Runner with network isolation, or skips (fails under
// CI=true) when bubblewrap or pasta do not work here.
func runner(t *testing.T) *Runner {
	t.Helper()
	if os.Geteuid() != 0 {
		testutil.Unavailable(t, "root (the sandbox tests switch users)", fmt.Errorf("euid %d", os.Geteuid()))
	}
	r, err := Detect(context.Background())
	if err != nil {
		testutil.Unavailable(t, "bubblewrap and pasta", err)
	}
	return r
}

// reachableDir makes a folder the sandbox's user can pass through but
// not list.
func reachableDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for p := dir; p != "/" && p != os.TempDir(); p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// run runs a bash script in a sandbox and returns its output.
func run(t *testing.T, r *Runner, spec Spec, script string) (string, error) {
	t.Helper()
	if spec.UID == 0 {
		spec.UID, spec.GID = testUID, testUID
	}
	if spec.Env == nil {
		spec.Env = []string{"PATH=/usr/bin:/bin"}
	}
	c, err := r.Command(spec, "/bin/bash", "-c", script)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Started(ctx); err != nil {
		_ = c.Kill()
		_ = c.Wait()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = c.Kill()
		err = <-done
	}
	return out.String(), err
}

// TestConfinement runs a command in the sandbox that tries what an
// attacker's function would, and checks that each attempt fails.
func TestConfinement(t *testing.T) {
	r := runner(t)
	host := reachableDir(t)
	task := filepath.Join(host, "task")
	home := filepath.Join(host, "home")
	data := filepath.Join(host, "data")
	for _, d := range []string{task, data} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, testUID, testUID); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(task, "handler"), []byte("code"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A root-only file inside a folder the sandbox sees, and the data dir
	// it does not see.
	if err := os.WriteFile(filepath.Join(task, "root-only"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "secret.key"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := Spec{
		ReadOnly: []Bind{{Src: task}},
		Writable: []Bind{{Src: home}},
		Dir:      task,
	}

	tests := []struct {
		name   string
		script string
		want   string // the output must contain it
	}{
		{name: "runs as its user", script: "id -u; id -g; id -G", want: fmt.Sprintf("%d\n%d\n%d\n", testUID, testUID, testUID)},
		{name: "reads its task", script: "cat handler", want: "code"},
		{name: "cannot read a root-only file", script: "cat root-only || echo refused", want: "refused"},
		{name: "cannot write its task", script: "echo x > handler || echo refused", want: "refused"},
		{name: "writes its home", script: "echo x > " + home + "/f && cat " + home + "/f", want: "x"},
		{name: "writes a private /tmp", script: "echo x > /tmp/f && cat /tmp/f", want: "x"},
		{name: "does not see the data dir", script: "ls " + data + " || echo absent", want: "absent"},
		{name: "does not see /etc/shadow", script: "cat /etc/shadow || echo absent", want: "absent"},
		{name: "does not see /root or /home", script: "ls /root /home /var 2>&1 | grep -c 'No such file'", want: "3"},
		// A pid of 10 or less (the test inside a container) may be one of
		// the sandbox's own: there the count alone tells.
		{name: "sees only its own processes", script: "[ $(ls -d /proc/[0-9]* | wc -l) -le 5 ] && echo few; pid=" + strconv.Itoa(os.Getpid()) + "; [ $pid -le 10 ] || ! test -e /proc/$pid && echo host-pid-hidden", want: "few\nhost-pid-hidden"},
		{name: "has no capability", script: "grep CapEff /proc/self/status", want: "0000000000000000"},
		{name: "made-up passwd", script: "cat /etc/passwd", want: fmt.Sprintf("sandbox:x:%d:%d", testUID, testUID)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(t, r, spec, tt.script)
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if !strings.Contains(out, tt.want) {
				t.Fatalf("output %q does not contain %q", out, tt.want)
			}
		})
	}
}

// TestNetwork checks what a sandbox with a network of its own reaches:
// not the host's loopback services (PostgreSQL, Redis, a port of
// Seedbed's), except a port listed in Reach; and the host reaches a port
// the sandbox publishes.
func TestNetwork(t *testing.T) {
	r := runner(t)
	hostLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("hello from the host")) })}
	go func() { _ = srv.Serve(hostLn) }()
	t.Cleanup(func() { srv.Close() })
	hostPort := hostLn.Addr().(*net.TCPAddr).Port

	other, err := net.Listen("tcp", "127.0.0.1:0") // stands for Seedbed's console
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	otherPort := other.Addr().(*net.TCPAddr).Port
	go func() {
		for {
			c, err := other.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	dial := func(port int) string {
		return fmt.Sprintf("timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d' 2>/dev/null && echo open-%d || echo closed-%d; ", port, port, port)
	}
	tests := []struct {
		name    string
		network Network
		reach   []int
		script  string
		want    []string
	}{
		{name: "own network: loopback services are out of reach", network: NetworkOutbound,
			script: dial(5432) + dial(6379) + dial(otherPort),
			want:   []string{"closed-5432", "closed-6379", fmt.Sprintf("closed-%d", otherPort)}},
		{name: "own network: a listed host port is reachable", network: NetworkOutbound, reach: []int{hostPort},
			script: fmt.Sprintf("exec 3<>/dev/tcp/127.0.0.1/%d; printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3; ", hostPort) + dial(otherPort),
			want:   []string{"hello from the host", fmt.Sprintf("closed-%d", otherPort)}},
		{name: "no network", network: NetworkNone, script: dial(otherPort), want: []string{fmt.Sprintf("closed-%d", otherPort)}},
		{name: "host network reaches loopback", network: NetworkHost, script: dial(otherPort), want: []string{fmt.Sprintf("open-%d", otherPort)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(t, r, Spec{Network: tt.network, Reach: tt.reach}, tt.script)
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output %q does not contain %q", out, w)
				}
			}
		})
	}
}

// TestPublish checks that the host reaches a server in the sandbox
// through a published port.
func TestPublish(t *testing.T) {
	r := runner(t)
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("needs /usr/bin/python3 for a server in the sandbox")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	c, err := r.Command(Spec{UID: testUID, GID: testUID, Publish: []int{port}, Dir: "/tmp", Env: []string{"PATH=/usr/bin:/bin"}},
		"/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1", strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := c.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Kill(); _ = c.Wait() })
	if err := c.Started(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the published port did not answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestKillEndsEverything checks that killing bwrap ends every process of
// the sandbox, including one that left the process group with setsid and
// one that ignores SIGTERM and SIGHUP.
func TestKillEndsEverything(t *testing.T) {
	r := runner(t)
	const uid = testUID + 7
	c, err := r.Command(Spec{UID: uid, GID: uid, Network: NetworkNone, Env: []string{"PATH=/usr/bin:/bin"}},
		"/bin/bash", "-c", "setsid sleep 1000 & trap '' TERM HUP; nohup sleep 1001 & echo ready; wait")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := c.Started(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for processesOf(uid) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the sandbox's processes did not start: %d of uid %d", processesOf(uid), uid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = c.Wait()
	deadline = time.Now().Add(5 * time.Second)
	for processesOf(uid) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d processes of uid %d survived the kill", processesOf(uid), uid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRun checks Run for commands that run to completion: it returns the
// command's result, and kills the whole sandbox when its context ends.
func TestRun(t *testing.T) {
	r := runner(t)
	const uid = testUID + 8
	tests := []struct {
		name    string
		script  string
		timeout time.Duration
		want    string // in the error; "" for success
	}{
		{name: "success", script: "exit 0"},
		{name: "failure", script: "exit 3", want: "exit status 3"},
		{name: "cancelled", script: "setsid sleep 1000 & sleep 1000", timeout: 300 * time.Millisecond, want: "deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			c, err := r.Command(Spec{UID: uid, GID: uid, Env: []string{"PATH=/usr/bin:/bin"}}, "/bin/bash", "-c", tt.script)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Run(ctx)
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Run = %v, want %q", err, tt.want)
			}
			deadline := time.Now().Add(5 * time.Second)
			for processesOf(uid) > 0 {
				if time.Now().After(deadline) {
					t.Fatalf("%d processes of uid %d outlived Run", processesOf(uid), uid)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// processesOf counts the live processes of uid on the host.
func processesOf(uid int) int {
	n := 0
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		var st syscall.Stat_t
		if syscall.Stat(d, &st) == nil && int(st.Uid) == uid {
			if b, err := os.ReadFile(d + "/stat"); err == nil && !strings.Contains(string(b), ") Z ") {
				n++
			}
		}
	}
	return n
}

// TestCheckReachable checks the message for a folder the sandbox's user
// cannot pass through.
func TestCheckReachable(t *testing.T) {
	dir := filepath.Join(reachableDir(t), "closed")
	inner := filepath.Join(dir, "inner")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(inner, 0o755); err != nil {
		t.Fatal(err)
	}
	err := CheckReachable(inner, testUID, testUID)
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "chmod o+x") {
		t.Fatalf("CheckReachable = %v, want an error naming %s", err, dir)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := CheckReachable(inner, testUID, testUID); err != nil {
		t.Fatalf("CheckReachable = %v after chmod", err)
	}
}

// TestManyAtOnce starts 160 sandboxes with a network of their own, 16 at a
// time. pasta brings the sandbox's loopback up as bwrap does; started
// before bwrap had, it made bwrap fail ("loopback: Failed RTM_NEWADDR")
// for 3–4 of these 160 on 2 busy cores, so a deploy, a build or the start
// check of serve failed now and then.
func TestManyAtOnce(t *testing.T) {
	r := runner(t)
	errs := make(chan error, 160)
	sem := make(chan struct{}, 16)
	for range 160 {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			errs <- r.try(context.Background(), NetworkOutbound)
		}()
	}
	failed := 0
	for range 160 {
		if err := <-errs; err != nil {
			if failed == 0 {
				t.Errorf("a sandbox did not start: %v", err)
			}
			failed++
		}
	}
	if failed > 0 {
		t.Errorf("%d of 160 sandboxes did not start", failed)
	}
}
