//go:build unix

package builders

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seedbed/seedbed/builders/artifact"
	"github.com/seedbed/seedbed/sandbox"
	"github.com/seedbed/seedbed/testutil"
)

// needBwrap skips the test where bubblewrap is missing, unless CI=true.
func needBwrap(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("bwrap"); err != nil {
		testutil.Unavailable(t, "bubblewrap (bwrap)", err)
	}
}

// needRoot skips the test unless it runs as root: only root switches
// users.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("builds switch users only when Seedbed runs as root; this test runs as uid %d", os.Geteuid())
	}
}

// dataDir makes a stand-in for Seedbed's data dir, as serve lays it out
// for builds that switch users: root's, passable (0711) but not
// listable, with a secret.key only root may read, and cache/ and work/.
// It lies right in the temp dir: t.TempDir()'s parent is closed to other
// users.
func dataDir(t *testing.T) (dir, secretKey string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "seedbed-sandbox-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeAll(dir) })
	mustChmod(t, dir, 0o711)
	secretKey = filepath.Join(dir, "secret.key")
	writeFile(t, secretKey, "sealing key", 0o600)
	for _, sub := range []string{"cache", "work"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return dir, secretKey
}

// sandboxBuilder makes a Builder on the data dir data, with commands run
// as user (ResolveUser's setting) and isolation as given, checked as
// serve checks it at start.
func sandboxBuilder(t *testing.T, data, user string, isolation sandbox.Isolation) (*Builder, *artifact.Store) {
	t.Helper()
	u, err := ResolveUser(user)
	if err != nil {
		t.Fatal(err)
	}
	arts, err := artifact.New(filepath.Join(t.TempDir(), "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	b := New(Config{Artifacts: arts, CacheDir: filepath.Join(data, "cache"), WorkDir: filepath.Join(data, "work"),
		Env: env, User: u, Isolation: isolation, Hide: []string{data}})
	t.Cleanup(func() { b.Close() })
	if err := b.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if boxed, why := b.Sandboxed(context.Background()); boxed != (isolation == IsolationSandbox) {
		t.Fatalf("Sandboxed() = %v (%s) with isolation %s", boxed, why, isolation)
	}
	return b, arts
}

// Two apps' builds, the first still running while the second runs: the
// second cannot read or write the first's HOME, Go cache or workspace,
// nor the data dir's secret.key, whether or not commands run in the
// sandbox (per-app users keep them out; the sandbox does not even show
// them), nor with one user for every app in the sandbox (which alone
// keeps them apart then). The build log shows each attempt refused.
func TestBuildsKeepAppsApart(t *testing.T) {
	needRoot(t)
	tests := []struct {
		name      string
		user      string
		isolation sandbox.Isolation
		refusal   string // what the log says of a refused attempt
	}{
		{name: "per-app users, no sandbox", user: UserAuto, isolation: IsolationNone, refusal: "Permission denied"},
		{name: "per-app users in the sandbox", user: UserAuto, isolation: IsolationSandbox, refusal: "No such file or directory"},
		{name: "one user for every app, in the sandbox", user: "nobody", isolation: IsolationSandbox, refusal: "No such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.isolation == IsolationSandbox {
				needBwrap(t)
			}
			data, secretKey := dataDir(t)
			b, arts := sandboxBuilder(t, data, tt.user, tt.isolation)

			// App 1 ("first") writes its HOME and cache, then waits in
			// its workspace until the test says go on.
			first := newRepo(t, map[string]string{
				"seedbed.yml": `services:
  probe:
    path: probe
    runtime: go
    build: >-
      echo mine > "$HOME/note" && echo mine > "$GOCACHE/entry" && echo mine > workspace.txt &&
      id -u > bootstrap && touch started &&
      for i in $(seq 600); do [ -e go-on ] && break; sleep 0.05; done
    functions:
      ids:
        handler: bootstrap
        routes: ["GET /ids"]
`,
				"probe/README": "probe\n",
			})
			firstDone := make(chan error, 1)
			var firstOuts []Output
			go func() {
				var err error
				firstOuts, err = buildApp(t, b, first, 1, "first", &testLog{})
				firstDone <- err
			}()
			ws := waitForFile(t, filepath.Join(data, "work", "seedbed.scratch-*", "service-probe-*", "src", "probe", "started"), firstDone)
			ws = filepath.Dir(ws)
			firstHome := filepath.Join(data, "cache", "home", "first")
			firstCache := filepath.Join(data, "cache", "go", "first", "build")

			attempt := func(name, cmd string) string {
				return `{ ` + cmd + ` && echo "` + name + ` done" || echo "` + name + ` denied"; } >> bootstrap`
			}
			second := newRepo(t, map[string]string{
				"seedbed.yml": `services:
  probe:
    path: probe
    runtime: go
    build: >-
      id -u > bootstrap &&
      ` + attempt("read home", "cat "+filepath.Join(firstHome, "note")) + ` &&
      ` + attempt("read cache", "cat "+filepath.Join(firstCache, "entry")) + ` &&
      ` + attempt("spoil cache", "echo evil > "+filepath.Join(firstCache, "entry")) + ` &&
      ` + attempt("read workspace", "cat "+filepath.Join(ws, "workspace.txt")) + ` &&
      ` + attempt("write workspace", "touch "+filepath.Join(ws, "go-on")) + ` &&
      ` + attempt("read secret.key", "cat "+secretKey) + `
    functions:
      ids:
        handler: bootstrap
        routes: ["GET /ids"]
`,
				"probe/README": "probe\n",
			})
			log := &testLog{}
			outs, err := buildApp(t, b, second, 2, "second", log)
			if err != nil {
				t.Fatalf("second build: %v\n%s", err, log)
			}
			// Let the first build end.
			if err := os.WriteFile(filepath.Join(ws, "go-on"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := <-firstDone; err != nil {
				t.Fatalf("first build: %v", err)
			}

			report := strings.Split(strings.TrimSpace(extractFile(t, arts, outs[0].Digest, "bootstrap")), "\n")
			firstUID := strings.TrimSpace(extractFile(t, arts, firstOuts[0].Digest, "bootstrap"))
			wantUIDs := [2]string{strconv.Itoa(AppIDBase + 1), strconv.Itoa(AppIDBase + 2)}
			if tt.user == "nobody" {
				wantUIDs = [2]string{"65534", "65534"}
			}
			if firstUID != wantUIDs[0] || report[0] != wantUIDs[1] {
				t.Errorf("the builds ran as uids %s and %s, want %s and %s", firstUID, report[0], wantUIDs[0], wantUIDs[1])
			}
			want := []string{"read home denied", "read cache denied", "spoil cache denied", "read workspace denied", "write workspace denied", "read secret.key denied"}
			if got := report[1:]; strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("the second build reported:\n%s\nwant:\n%s\nlog:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), log)
			}
			mustLog(t, log, "stderr", tt.refusal)
			if b, _ := os.ReadFile(filepath.Join(firstCache, "entry")); string(b) != "mine\n" {
				t.Errorf("the first app's cache entry is %q after the second build", b)
			}
			if tt.isolation == IsolationSandbox {
				mustLog(t, log, "seedbed", "Running build commands in a sandbox (bubblewrap)")
			} else {
				mustLog(t, log, "seedbed", "Build commands are NOT sandboxed: isolation is none")
			}
		})
	}
}

// buildApp builds the stack in dir as the app with id app and cache key
// key.
func buildApp(t *testing.T, b *Builder, dir string, app uint, key string, log *testLog) ([]Output, error) {
	t.Helper()
	_, st := fetchAndParse(t, dir)
	co := filepath.Join(t.TempDir(), "co")
	if err := copyTree(dir, mkdir(t, co)); err != nil {
		t.Fatal(err)
	}
	return b.BuildWith(context.Background(), BuildOptions{Dir: co, Stack: st, CacheKey: key, AppID: app}, log)
}

func mkdir(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// waitForFile waits until a file matches pattern and returns it; done
// ending first fails the test.
func waitForFile(t *testing.T, pattern string, done <-chan error) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			return m[0]
		}
		select {
		case err := <-done:
			t.Fatalf("the build ended before %s appeared: %v", pattern, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("no %s after 60s", pattern)
	return ""
}

// Ending a build ends every process it started: one that left the
// command's process group with setsid too, whether the command ended by
// itself, the build timed out or was cancelled; and a hook's the same.
// Outside the sandbox the setsid'd process would outlive the build.
func TestSandboxEndsEveryProcess(t *testing.T) {
	needBwrap(t)
	tests := []struct {
		name    string
		command func(mark string) string
		stop    string // "": the command ends; "timeout"; "cancel"
	}{
		{name: "the command ends", command: func(mark string) string { return "setsid sleep " + mark + " & echo started" }},
		{name: "the build times out", command: func(mark string) string { return "setsid sleep " + mark + " & touch started && sleep 300" }, stop: "timeout"},
		{name: "the build is cancelled", command: func(mark string) string {
			return "(setsid sh -c 'sleep " + mark + "' &) ; touch started && sleep 300"
		}, stop: "cancel"},
		{name: "a hook ends", command: func(mark string) string { return "setsid sleep " + mark + " & echo started" }, stop: "hook"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user := UserNone
			if os.Geteuid() == 0 {
				user = UserAuto
			}
			data, _ := dataDir(t)
			b, _ := sandboxBuilder(t, data, user, IsolationSandbox)
			mark := fmt.Sprintf("%d.%06d", 4000+rand.IntN(1000), rand.IntN(1000000))
			t.Cleanup(func() { killMarked(mark) })

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.stop == "timeout" {
				ctx, cancel = context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
			}
			log := &testLog{}
			start := time.Now()
			var err error
			if tt.stop == "hook" {
				dir, terr := b.TempDir("hooks-")
				if terr != nil {
					t.Fatal(terr)
				}
				if err := b.HandOver(1, dir); err != nil {
					t.Fatal(err)
				}
				err = b.RunHook(ctx, 1, dir, HookEnv(dir), "after_deploy hook", tt.command(mark), log)
			} else {
				repo := newRepo(t, map[string]string{
					"seedbed.yml": "services:\n  app:\n    path: app\n    runtime: process\n    build: " + tt.command(mark) + "\n    functions:\n      web:\n        handler: cat README\n        routes: [\"GET /\"]\n",
					"app/README":  "hi\n",
				})
				_, st := fetchAndParse(t, repo)
				if tt.stop == "cancel" {
					go func() {
						for ctx.Err() == nil {
							if m, _ := filepath.Glob(filepath.Join(data, "work", "seedbed.scratch-*", "service-app-*", "src", "app", "started")); len(m) > 0 {
								cancel()
								return
							}
							time.Sleep(20 * time.Millisecond)
						}
					}()
				}
				_, err = b.BuildWith(ctx, BuildOptions{Dir: repo, Stack: st, CacheKey: "app", AppID: 1}, log)
			}
			switch tt.stop {
			case "", "hook":
				if err != nil {
					t.Fatalf("%v\n%s", err, log)
				}
			case "timeout":
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("error %v, want the deadline\n%s", err, log)
				}
			case "cancel":
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("error %v, want cancelled\n%s", err, log)
				}
			}
			if took := time.Since(start); took > 30*time.Second {
				t.Errorf("took %s", took)
			}
			// The sandbox's end kills at once; give the kernel a moment.
			deadline := time.Now().Add(3 * time.Second)
			for {
				left := marked(mark)
				if len(left) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("processes %v (sleep %s) outlived the build\n%s", left, mark, log)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// marked returns the pids of running processes whose command line holds
// mark (scanning /proc), zombies aside.
func marked(mark string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(mark)) {
			continue
		}
		if processGone(pid) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

func killMarked(mark string) {
	for _, pid := range marked(mark) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// A sandboxed build has a network of its own with outbound access only:
// a service listening on the host's loopback (the embedded queue, a
// local database with trust authentication) is out of its reach, while
// an unsandboxed build reaches it.
func TestSandboxedBuildCannotReachLoopback(t *testing.T) {
	needBwrap(t)
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed; the probe uses its /dev/tcp")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	user := UserNone
	if os.Geteuid() == 0 {
		user = UserAuto
	}
	tests := []struct {
		name      string
		isolation sandbox.Isolation
		want      string
	}{
		{name: "sandboxed", isolation: IsolationSandbox, want: "unreachable"},
		{name: "not sandboxed", isolation: IsolationNone, want: "reached"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, _ := dataDir(t)
			b, arts := sandboxBuilder(t, data, user, tt.isolation)
			repo := newRepo(t, map[string]string{
				"seedbed.yml": "services:\n  app:\n    path: app\n    runtime: process\n    build: >-\n      { timeout 5 bash -c 'echo > /dev/tcp/127.0.0.1/" + port + "' && echo reached || echo unreachable; } > probe.txt\n    functions:\n      web:\n        handler: cat probe.txt\n        routes: [\"GET /\"]\n",
				"app/README":  "hi\n",
			})
			log := &testLog{}
			outs, err := buildApp(t, b, repo, 1, "app", log)
			if err != nil {
				t.Fatalf("%v\n%s", err, log)
			}
			if got := strings.TrimSpace(extractFile(t, arts, outs[0].Digest, "probe.txt")); got != tt.want {
				t.Errorf("the build's connection to the host's loopback port %s: %s, want %s\n%s", port, got, tt.want, log)
			}
			if tt.isolation == IsolationSandbox {
				mustLog(t, log, "seedbed", "a network of their own with outbound access only")
			}
		})
	}
}
