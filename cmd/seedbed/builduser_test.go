package main

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seedbed/seedbed/builders"
	"github.com/seedbed/seedbed/sandbox"
	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web/apiv1"
)

// When Seedbed runs as root, each app's builds and deploy hooks run as
// an unprivileged user of its own (SEEDBED_BUILD_USER=auto): uid and gid
// builders.AppIDBase + the app's id. A static site whose build records
// `id -u` serves that uid, the build log names the user, the deploy hook
// runs as it too, the data dir's secrets are closed to it, and a second
// app's build, as another uid, can neither read nor write the first
// app's HOME; with or without the sandbox. The build log says which.
func TestBuildsRunAsBuildUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skipf("builds switch users only when Seedbed runs as root; this test runs as uid %d", os.Geteuid())
	}
	tests := []struct {
		name      string
		isolation sandbox.Isolation
		log       string
	}{
		{name: "no sandbox", isolation: builders.IsolationNone, log: "Build commands are NOT sandboxed: isolation is none"},
		{name: "in the sandbox", isolation: builders.IsolationSandbox, log: "Running build commands in a sandbox (bubblewrap)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.isolation == builders.IsolationSandbox {
				if _, err := exec.LookPath("bwrap"); err != nil {
					testutil.Unavailable(t, "bubblewrap (bwrap)", err)
				}
			}
			testBuildUsers(t, tt.isolation, tt.log)
		})
	}
}

func testBuildUsers(t *testing.T, isolation sandbox.Isolation, isolationLog string) {
	// Right in the temp dir: the build user must pass through the data
	// dir's parents, and t.TempDir()'s is closed to other users.
	dir, err := os.MkdirTemp("", "seedbed-builduser-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg := Config{
		Addr: "127.0.0.1:0", GatewayAddr: "127.0.0.1:0", DataDir: dir,
		DatabaseURL: embedded.database(t, dir), Domain: "localhost",
		Workers: 2, AdminEmail: adminEmail, AdminPassword: adminPassword,
		BuildTimeout: time.Minute, BuildEnv: testutil.GoEnv(t), Deploys: true, Builds: true,
		BuildUser: builders.UserAuto, Isolation: string(isolation),
	}
	a := bootApp(t, cfg)

	firstHome := filepath.Join(dir, "cache", "home", "whoami")
	// try records whether cmd worked in public/<name>.txt.
	try := func(name, cmd string) string {
		return `{ ` + cmd + ` && echo done || echo denied; } > public/` + name + `.txt`
	}
	site := func(build string) string {
		return `services:
  site:
    path: site
    runtime: static
    build: >-
      mkdir -p public && cp index.html public/ && id -u > public/uid.txt &&
      ` + build + `
    output: public
    hooks:
      after_deploy: ["echo deploy hook uid $(id -u)"]
    functions:
      pages:
        routes: ["GET /site/{file+}"]
`
	}
	deploy := func(name, build string) (apiv1.Deploy, string) {
		t.Helper()
		repo := testutil.NewRepo(t)
		repo.Commit("a site that says who built it", map[string]string{
			"seedbed.yml":     site(build),
			"site/index.html": "<h1>who built me?</h1>\n",
		})
		if _, err := a.api.CreateApp(context.Background(), apiv1.CreateAppRequest{Name: name, RepoURL: repo.Dir, Branch: "main"}); err != nil {
			t.Fatal(err)
		}
		app, err := a.store.AppByName(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		return a.mustDeploy(name, "dev", ""), strconv.Itoa(builders.AppIDBase + int(app.ID))
	}
	d, uid := deploy("whoami", `echo mine > "$HOME/note" && `+try("secret", "cat "+filepath.Join(dir, "secret.key")))
	d2, uid2 := deploy("other", try("read", "cat "+filepath.Join(firstHome, "note"))+" && "+
		try("write", "touch "+filepath.Join(firstHome, "spoiled"))+" && "+
		try("list", "ls "+filepath.Join(dir, "cache", "home")))

	if uid == uid2 {
		t.Errorf("two apps built as the same uid %s", uid)
	}
	for path, want := range map[string]string{
		"/whoami/dev/site/uid.txt":    uid,
		"/whoami/dev/site/secret.txt": "denied",
		"/other/dev/site/uid.txt":     uid2,
		"/other/dev/site/read.txt":    "denied",
		"/other/dev/site/write.txt":   "denied",
	} {
		if code, body := a.get(path); code != 200 || strings.TrimSpace(body) != want {
			t.Errorf("GET %s = %d %q, want %q", path, code, body, want)
		}
	}
	// Listing the HOMEs: refused (0711), or in the sandbox only its own.
	if _, body := a.get("/other/dev/site/list.txt"); strings.Contains(body, "whoami") {
		t.Errorf("the second app's build listed the first app's HOME: %q", body)
	}
	if _, err := os.Stat(filepath.Join(firstHome, "spoiled")); err == nil {
		t.Errorf("the second app's build wrote into the first app's HOME")
	}
	if b, err := os.ReadFile(filepath.Join(firstHome, "note")); err != nil || string(b) != "mine\n" {
		t.Errorf("the first app's HOME lost its note: %q, %v", b, err)
	}
	if log := a.logText("build", d.BuildID); !strings.Contains(log, "Running build commands as uid "+uid+" (gid "+uid+"), the build user of this app alone") {
		t.Errorf("the build log does not name the user uid %s:\n%s", uid, log)
	}
	if log := a.logText("build", d.BuildID); !strings.Contains(log, isolationLog) {
		t.Errorf("the build log does not say %q:\n%s", isolationLog, log)
	}
	if log := a.logText("build", d2.BuildID); !strings.Contains(log, "Permission denied") && !strings.Contains(log, "No such file or directory") {
		t.Errorf("the second app's build log does not show its attempts refused:\n%s", log)
	}
	if log := a.logText("deploy", d.ID); !strings.Contains(log, "deploy hook uid "+uid) {
		t.Errorf("the deploy log does not show the hook running as uid %s:\n%s", uid, log)
	}
	if fi, err := os.Stat(firstHome); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("the first app's HOME: %v, mode %v; want 0700", err, fi.Mode().Perm())
	}

	// Closed to other users: the data dir may only be passed through, to
	// cache/ and work/, and to run/ when functions run sandboxed as their
	// apps' users (each app's folders in it are closed to the others).
	runMode := fs.FileMode(0o700)
	if isolation == builders.IsolationSandbox {
		runMode = 0o711
	}
	for name, want := range map[string]fs.FileMode{
		".": 0o711, "cache": 0o711, "work": 0o711,
		"seedbed.db": 0o600, "secret.key": 0o600, "artifacts": 0o700, "git": 0o700, "run": runMode,
	} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("data dir: %v", err)
			continue
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("data dir entry %s has mode %04o, want %04o", name, got, want)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err == nil && fi.Mode().Perm()&0o066 != 0 {
			t.Errorf("data dir entry %s has mode %04o: others may read or write it", e.Name(), fi.Mode().Perm())
		}
	}
}

// With auto, a root Seedbed whose data dir the unprivileged user cannot
// reach (a checkout under /root, mode 0700) still starts, and builds run
// as its own user with the reason in the build log; an explicit user in
// the same place is refused at start.
func TestBuildUserAutoFallsBack(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skipf("builds switch users only when Seedbed runs as root; this test runs as uid %d", os.Geteuid())
	}
	closed := t.TempDir() // 0700
	if err := os.Chmod(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := func(user string) Config {
		dir := filepath.Join(closed, user, "data")
		return Config{
			Addr: "127.0.0.1:0", GatewayAddr: "127.0.0.1:0", DataDir: dir,
			DatabaseURL: embedded.database(t, dir), Domain: "localhost",
			Workers: 2, AdminEmail: adminEmail, AdminPassword: adminPassword,
			BuildTimeout: time.Minute, BuildEnv: testutil.GoEnv(t), Deploys: true, Builds: true,
			BuildUser: user,
		}
	}
	explicit := cfg("nobody")
	if err := explicit.finish(nil); err != nil {
		t.Fatal(err)
	}
	if app, err := NewApp(context.Background(), explicit, slog.New(slog.DiscardHandler)); err == nil {
		app.Close(context.Background())
		t.Fatal("SEEDBED_BUILD_USER=nobody with a data dir nobody cannot reach: started, want refused")
	} else if !strings.Contains(err.Error(), "SEEDBED_BUILD_USER=none") {
		t.Errorf("refusal %q does not say what to do", err)
	}

	a := bootApp(t, cfg(builders.UserAuto))
	a.newAppRepo("fallback")
	d := a.mustDeploy("fallback", "dev", "")
	if log := a.logText("build", d.BuildID); !strings.Contains(log, "Running build commands as Seedbed's own user") || !strings.Contains(log, "could not be used") {
		t.Errorf("build log does not say builds fell back to Seedbed's own user, and why:\n%s", log)
	}
}

// A Seedbed killed with -9 in the middle of a build leaves its workspace
// folder in work/; the next start removes it (no process holds it), and
// keeps what else is there.
func TestStaleWorkspacesRemovedAtStart(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "work", "seedbed.scratch-1234", "service-api-99", "src")
	if err := os.MkdirAll(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stale, "main.go"), []byte("package main\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "work", "notes")
	if err := os.WriteFile(other, []byte("keep\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bootApp(t, Config{
		Addr: "127.0.0.1:0", GatewayAddr: "127.0.0.1:0", DataDir: dir,
		DatabaseURL: embedded.database(t, dir), Domain: "localhost",
		Workers: 1, AdminEmail: adminEmail, AdminPassword: adminPassword,
		BuildTimeout: time.Minute, Deploys: true, Builds: true,
	})
	if _, err := os.Stat(filepath.Join(dir, "work", "seedbed.scratch-1234")); !os.IsNotExist(err) {
		t.Errorf("the stale workspace folder is still there after start (%v)", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("start removed %s: %v", other, err)
	}
}
