package local

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seedbed/seedbed/targets"
)

func TestPortHeldByGroup(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc here")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	// A wildcard listener (the IPv6 table: Go's ":PORT") receives
	// connections to 127.0.0.1 too.
	wild, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer wild.Close()
	wildPort := wild.Addr().(*net.TCPAddr).Port

	other := exec.Command("sleep", "30")
	other.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })

	free, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name              string
		port, pgid        int
		wantHeld, wantKnw bool
	}{
		{"the test's own listener, asked for its own group", port, syscall.Getpgrp(), true, true},
		{"the test's listener, asked for another group", port, other.Process.Pid, false, true},
		{"a wildcard listener of the test", wildPort, syscall.Getpgrp(), true, true},
		{"a wildcard listener, asked for another group", wildPort, other.Process.Pid, false, true},
		{"nobody listens", free, syscall.Getpgrp(), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			held, known := portHeldByGroup(tc.port, tc.pgid)
			if held != tc.wantHeld || known != tc.wantKnw {
				t.Errorf("portHeldByGroup(%d, %d) = %v, %v; want %v, %v", tc.port, tc.pgid, held, known, tc.wantHeld, tc.wantKnw)
			}
		})
	}
}

// Another process binds the port the target picked before the function
// does: the start must not take that process's answers for the function's,
// and must start the function again on a fresh port.
func TestStartRetriesWhenItsPortIsTaken(t *testing.T) {
	if os.Getenv("SEEDBED_TEST_ISOLATION") == "sandbox" {
		t.Skip("sandboxed functions are reached through pasta, which fails the start itself")
	}
	squatter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "squatter", http.StatusNotFound)
	}))
	defer squatter.Close()
	startsOnAnotherPort(t, squatter.Listener.Addr().(*net.TCPAddr).Port)
}

// TestStartRetriesWhenItCannotBindItsPort: another process holds the port
// the target picks first, on every address, and answers nothing; the
// function exits on "address already in use", and starts again on a
// fresh port instead of failing the deploy (seen in CI when a parallel
// test package took the port between freePort and the bind). Sandboxed,
// pasta fails to bind it, and the start picks another port the same way.
func TestStartRetriesWhenItCannotBindItsPort(t *testing.T) {
	squatter, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer squatter.Close()
	startsOnAnotherPort(t, squatter.Addr().(*net.TCPAddr).Port)
}

// startsOnAnotherPort deploys a function whose first port is taken, and
// checks that the start said so and the function answers from a fresh
// port, not whatever holds taken.
func startsOnAnotherPort(t *testing.T, taken int) {
	t.Helper()
	b := setup(t)
	picks := 0
	b.target.pickPort = func() (int, error) {
		picks++
		if picks == 1 {
			return taken, nil
		}
		return freePort()
	}
	log := b.apply(t, shopDev, goFn("hello", "v1", map[string]string{"GREETING": "hi"}, "GET /hello"))
	if want := "port " + strconv.Itoa(taken) + " was taken by another process"; !strings.Contains(log.String(), want) {
		t.Errorf("apply log lacks %q:\n%s", want, log.String())
	}
	res := b.get(t, "/shop/dev/hello")
	if res.status != http.StatusOK || res.reply.Greeting != "hi" || res.reply.Env["PORT"] == strconv.Itoa(taken) {
		t.Fatalf("GET /hello = %d %q (port %s); want the function's answer on a port other than %d", res.status, res.body, res.reply.Env["PORT"], taken)
	}
}

// BenchmarkPortHeldByGroup is what the check adds to a start of an
// unconfined function: the kernel's list of TCP listeners (sock_diag), then
// the group leader's descriptors ("leader"), or, when another process of
// the group holds the socket, the stat of every process on the host too
// ("scan"). Measured 2026-12-07 on 2 cores, 82 processes: leader 0.19 ms,
// scan 1.3 ms; reading /proc/net/tcp{,6} instead took 9.1 ms and 10.3 ms.
func BenchmarkPortHeldByGroup(b *testing.B) {
	leader := exec.Command("python3", "-c", `import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True); time.sleep(600)`)
	leader.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := leader.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := leader.Start(); err != nil {
		b.Skipf("python3: %v", err)
	}
	b.Cleanup(func() { leader.Process.Kill(); leader.Wait() })
	var leaderPort int
	if _, err := fmt.Fscan(out, &leaderPort); err != nil {
		b.Fatal(err)
	}
	// The test binary is not its group's leader: its own listener is found
	// by the scan.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	for _, bc := range []struct {
		name       string
		port, pgid int
	}{
		{"leader", leaderPort, leader.Process.Pid},
		{"scan", ln.Addr().(*net.TCPAddr).Port, syscall.Getpgrp()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if held, known := portHeldByGroup(bc.port, bc.pgid); !held || !known {
					b.Fatalf("portHeldByGroup = %v, %v", held, known)
				}
			}
		})
	}
}

// TestPortTakenWhileTheFunctionIsDown: a process that takes a crashed
// function's port during the back-off gets none of its requests; the
// gateway answers 502 until the function runs again, on another port.
func TestPortTakenWhileTheFunctionIsDown(t *testing.T) {
	b := setup(t)
	b.target.timing.backoffMin = time.Second // long enough to take the port
	b.apply(t, shopDev, goFn("hello", "v1", map[string]string{"GREETING": "hi"}, "GET /hello"))
	before := b.get(t, "/shop/dev/hello").reply

	pid := b.target.pids(shopDev)["api/hello"] // the host's, sandboxed or not
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Take the port once Seedbed knows the process is gone. (Between the
	// kernel closing a dead process's sockets and Seedbed reaping it
	// there is a window too short to test for; docs/security.md.)
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(b.logs.String(), "function crashed; restarting"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("crash not noticed within 5s:\n%s", b.logs.String())
		}
	}
	var ln net.Listener
	for deadline := time.Now().Add(5 * time.Second); ; {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:"+before.Env["PORT"]); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %s not let go within 5s: %v", before.Env["PORT"], err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	squatter := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "squatter", http.StatusTeapot)
	})}
	go squatter.Serve(ln)
	defer squatter.Close()

	var saw502 bool
	for deadline := time.Now().Add(10 * time.Second); ; {
		res := b.get(t, "/shop/dev/hello")
		switch {
		case strings.Contains(res.body, "squatter"):
			t.Fatalf("the gateway sent the function's request to the process on its old port: %d %q", res.status, res.body)
		case res.status == http.StatusBadGateway:
			saw502 = true
		case res.status == http.StatusOK && b.target.pids(shopDev)["api/hello"] != pid:
			if res.reply.Env["PORT"] == before.Env["PORT"] {
				t.Errorf("restarted on the taken port %s", before.Env["PORT"])
			}
			if !saw502 {
				t.Error("no 502 while the function was down")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not restarted within 10s; last answer %d %s", res.status, res.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestExitBeforeListeningIsNotATakenPort: a function that ends before it
// listens fails its start with its own cause, unconfined and sandboxed.
// A sandboxed function's port stays bound by its pasta until the sandbox
// is closed, and the start once took that for another process's and
// started the function again on other ports, so an out-of-memory kill at
// start was reported as "port … was taken by another process".
func TestExitBeforeListeningIsNotATakenPort(t *testing.T) {
	for _, tt := range []struct {
		name    string
		sandbox bool
	}{{"unconfined", false}, {"sandboxed", true}} {
		t.Run(tt.name, func(t *testing.T) {
			var mutate []func(*Config)
			if tt.sandbox {
				mutate = append(mutate, withSandbox(t))
			}
			b := setup(t, mutate...)
			log := &progress{}
			err := b.target.Apply(t.Context(), shopDev, []targets.Function{goFn("hello", "v1", map[string]string{"CRASH": "1"}, "GET /hello")}, log)
			if err == nil {
				t.Fatal("Apply of a function that exits at start succeeded")
			}
			if want := "function api/hello exited with status 1 before listening on $PORT"; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
			if strings.Contains(log.String(), "taken by another process") {
				t.Errorf("the start blamed another process for the port:\n%s", log.String())
			}
		})
	}
}
