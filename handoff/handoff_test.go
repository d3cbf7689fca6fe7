package handoff

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// helperEnv makes the test binary act as the new process: "serve" takes
// the listener "web" and answers "new", "exit" exits at once, "hang"
// never says it is ready.
const helperEnv = "HANDOFF_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode))
	}
	os.Exit(m.Run())
}

func helper(mode string) int {
	switch mode {
	case "exit":
		return 3
	case "hang":
		time.Sleep(time.Minute)
		return 0
	}
	h, err := FromEnv(os.Getenv)
	if err != nil || h == nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	ln := h.Listener("web")
	if ln == nil {
		fmt.Fprintln(os.Stderr, "helper: no listener web")
		return 1
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "new") }))
	if err := h.Ready(); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	time.Sleep(20 * time.Second)
	return 0
}

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name, spec, want string
	}{
		{"not set", "", ""},
		{"not a number", "web=x", `"web=x" is not NAME=NUMBER`},
		{"a standard stream", "web=1", `"web=1" is not NAME=NUMBER`},
		{"another parent", "parent=" + strconv.Itoa(os.Getppid()+1), "this process's parent is " + strconv.Itoa(os.Getppid())},
		{"no readiness pipe", "parent=" + strconv.Itoa(os.Getppid()), "no readiness pipe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := FromEnv(func(k string) string {
				if k == EnvVar {
					return tt.spec
				}
				return ""
			})
			if tt.want == "" {
				if h != nil || err != nil {
					t.Fatalf("FromEnv = %v, %v; want nothing inherited", h, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("FromEnv(%q) error = %v, want it to say %q", tt.spec, err, tt.want)
			}
		})
	}
}

// The new process serves on the old one's socket: once Start returns and
// the old process closes its listener, connections reach the new one.
func TestStartHandsOverTheListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "old") }))
	p, err := Start(context.Background(), Spec{Path: os.Args[0], Args: []string{"-test.run=^$"},
		Env: append(os.Environ(), helperEnv+"=serve", EnvVar+"=web=99"), Stderr: os.Stderr,
		Listeners: map[string]net.Listener{"web": ln, "none": nil}, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Kill() })
	// The socket both processes share stays non-blocking: a blocking one
	// leaves the old process's accept in a system call that Close cannot
	// end (this test hung in CI, with os/exec, until a connection came).
	checkNonBlocking(t, ln)
	closed := make(chan struct{})
	go func() { ln.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("closing the old process's listener hangs")
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + addr)
	if err != nil {
		t.Fatalf("after the handoff, %s refused: %v", addr, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "new" {
		t.Fatalf("after the handoff, %s answered %q, want the new process's answer", addr, body)
	}
}

func TestStartFails(t *testing.T) {
	tests := []struct {
		mode    string
		timeout time.Duration
		want    string
	}{
		{"exit", time.Minute, "exited before it was ready: exit status 3"},
		{"hang", 300 * time.Millisecond, "was not ready within 300ms; it was stopped"},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			_, err = Start(context.Background(), Spec{Path: os.Args[0], Args: []string{"-test.run=^$"},
				Env: append(os.Environ(), helperEnv+"="+tt.mode), Listeners: map[string]net.Listener{"web": ln}, Timeout: tt.timeout})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Start error = %v, want it to say %q", err, tt.want)
			}
			// The caller still holds its listener, non-blocking (a
			// child that never took it did not set it back).
			checkNonBlocking(t, ln)
			if c, err := net.Dial("tcp", ln.Addr().String()); err != nil {
				t.Fatalf("the listener after a failed handoff: %v", err)
			} else {
				c.Close()
			}
		})
	}
}

// Notify sends systemd's datagram: READY=1, and the new main pid after a
// handoff.
func TestNotify(t *testing.T) {
	path := t.TempDir() + "/notify"
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	getenv := func(k string) string {
		if k == "NOTIFY_SOCKET" {
			return path
		}
		return ""
	}
	for _, tt := range []struct {
		h    *Inherited
		want string
	}{
		{nil, "READY=1"},
		{&Inherited{Parent: 1}, "MAINPID=" + strconv.Itoa(os.Getpid()) + "\nREADY=1"},
	} {
		if err := Notify(getenv, ReadyState(tt.h)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 256)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(buf[:n]); got != tt.want {
			t.Errorf("systemd got %q, want %q", got, tt.want)
		}
	}
	if err := Notify(func(string) string { return "" }, "READY=1"); err != nil {
		t.Errorf("without NOTIFY_SOCKET: %v, want nothing done", err)
	}
}

// checkNonBlocking fails the test unless ln's socket is non-blocking.
func checkNonBlocking(t *testing.T, ln net.Listener) {
	t.Helper()
	rc, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var flags int
	rc.Control(func(fd uintptr) { flags, _ = unix.FcntlInt(fd, unix.F_GETFL, 0) })
	if flags&unix.O_NONBLOCK == 0 {
		t.Fatal("the handed-over socket is in blocking mode")
	}
}
