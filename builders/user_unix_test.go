//go:build unix

package builders

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/seedbed/seedbed/builders/artifact"
)

// A build run as root runs every command as its app's own unprivileged
// user (AppIDBase + the app's id): it can write its workspace and caches
// (a cache made before, as root, is handed over), but not read what
// Seedbed keeps in its data dir. The artifact does not depend on who
// built it.
func TestBuildRunsAsBuildUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skipf("builds switch users only when Seedbed runs as root; this test runs as uid %d", os.Geteuid())
	}
	base, err := ResolveUser(UserAuto)
	if err != nil {
		t.Fatal(err)
	}
	u, err := base.ForApp(1) // buildStack builds app 1
	if err != nil {
		t.Fatal(err)
	}
	if !u.Switch || u.UID != AppIDBase+1 {
		t.Fatalf("auto as root resolved to %+v for app 1, want uid %d", u, AppIDBase+1)
	}

	// A stand-in for Seedbed's data dir: root's, passable but not
	// listable. It lies right in the temp dir: t.TempDir()'s parent is
	// closed to other users.
	data, err := os.MkdirTemp("", "seedbed-builduser-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeAll(data) })
	mustChmod(t, data, 0o711)
	secretKey := filepath.Join(data, "secret.key")
	writeFile(t, secretKey, "sealing key", 0o600)
	private := filepath.Join(data, "private")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	database := filepath.Join(private, "seedbed.db")
	writeFile(t, database, "password hashes", 0o644)
	cacheDir, workDir := filepath.Join(data, "cache"), filepath.Join(data, "work")
	// A Go build cache of the app from before builds switched users.
	oldCache := filepath.Join(cacheDir, "go", "test", "build")
	if err := os.MkdirAll(oldCache, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(oldCache, "entry"), "compiled as root", 0o644)

	arts, err := artifact.New(filepath.Join(t.TempDir(), "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	// Seedbed's own HOME and caches are root's: the build must not get
	// them. They are made here, not root's real ones: a build as root
	// (below) writes into them, and in a container they need not exist.
	rootHome := t.TempDir()
	rootCache, rootMods := filepath.Join(rootHome, ".cache", "go-build"), filepath.Join(rootHome, "go", "pkg", "mod")
	for _, dir := range []string{rootCache, rootMods} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + rootHome, "GOCACHE=" + rootCache, "GOMODCACHE=" + rootMods}
	b := New(Config{Artifacts: arts, CacheDir: cacheDir, WorkDir: workDir, Env: env, User: base})
	t.Cleanup(func() { b.Close() })
	if err := b.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}

	// The go runtime's build command, in place of compiling (too slow
	// with a cache of its own), reports what it could do in the handler.
	attempt := func(name, path string) string {
		return `{ cat ` + path + ` >/dev/null && echo "` + name + ` read" || echo "` + name + ` denied"; } >> report`
	}
	repo := newRepo(t, map[string]string{
		"seedbed.yml": `services:
  probe:
    path: probe
    runtime: go
    hooks:
      before_build: ["echo hook $(id -u) > report"]
    build: >-
      echo "uid $(id -u) gid $(id -g) home $HOME" >> report &&
      touch "$GOCACHE/probe" "$GOMODCACHE/probe" "$HOME/probe" "$GOCACHE/entry" && echo caches written >> report &&
      ` + attempt("secret key", secretKey) + ` &&
      ` + attempt("database", database) + ` &&
      echo workspace written >> report && cp report bootstrap
    functions:
      ids:
        handler: bootstrap
        routes: ["GET /ids"]
  plain:
    path: plain
    runtime: process
    build: echo built > built.txt && chmod 600 built.txt && mkdir -p out && chmod 700 out
    functions:
      site:
        handler: cat built.txt
        routes: ["GET /"]
`,
		"probe/README":     "probe\n",
		"plain/index.html": "<h1>plain</h1>\n",
	})
	log := &testLog{}
	outs, err := buildStack(t, b, repo, log)
	if err != nil {
		t.Fatalf("build as %s: %v\n%s", u, err, log)
	}
	mustLog(t, log, "seedbed", "Running build commands as "+u.String())
	mustLog(t, log, "seedbed", "Giving "+oldCache+" to "+u.String())
	mustLog(t, log, "stderr", secretKey+": Permission denied")
	mustLog(t, log, "stderr", database+": Permission denied")

	report := extractFile(t, arts, byFunction(outs)["probe/ids"].Digest, "bootstrap")
	want := strings.Join([]string{
		"hook " + strconv.Itoa(u.UID),
		"uid " + strconv.Itoa(u.UID) + " gid " + strconv.Itoa(u.GID) + " home " + filepath.Join(cacheDir, "home", "test"),
		"caches written",
		"secret key denied",
		"database denied",
		"workspace written",
	}, "\n") + "\n"
	if report != want {
		t.Errorf("the build reported:\n%s\nwant:\n%s", report, want)
	}
	for _, dir := range []string{oldCache, filepath.Join(cacheDir, "go", "test", "mod"), filepath.Join(cacheDir, "home", "test")} {
		if uid, gid := owner(t, dir); uid != u.UID || gid != u.GID {
			t.Errorf("%s belongs to %d:%d, want %s's", dir, uid, gid, u)
		}
	}
	if uid, _ := owner(t, filepath.Join(oldCache, "entry")); uid != u.UID {
		t.Errorf("the old cache's entry belongs to uid %d, want %d", uid, u.UID)
	}
	if uid, _ := owner(t, cacheDir); uid != 0 {
		t.Errorf("the cache dir itself belongs to uid %d; it must stay Seedbed's", uid)
	}

	// Who built it does not show in the artifact.
	rootLog := &testLog{}
	asRoot, err := buildStack(t, New(Config{Artifacts: arts, CacheDir: t.TempDir(), WorkDir: t.TempDir(), Env: env}), repo, rootLog)
	if err != nil {
		t.Fatalf("build as root: %v\n%s", err, rootLog)
	}
	if got, want := byFunction(outs)["plain/site"].Digest, byFunction(asRoot)["plain/site"].Digest; got != want {
		t.Errorf("the artifact built as %s is %s, as root %s; want the same", u, got, want)
	}

	// Deploy hooks: a folder Seedbed filled, handed over, then a hook.
	hookDir, err := b.TempDir("hooks-")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(hookDir, "app.txt"), "unpacked\n", 0o644)
	if err := b.HandOver(1, hookDir); err != nil {
		t.Fatal(err)
	}
	hookLog := &testLog{}
	hookEnv := HookEnv(hookDir)
	if err := b.RunHook(context.Background(), 1, hookDir, hookEnv, "after_deploy hook", `echo "deploy hook $(id -u)" && echo unpacked >> app.txt && cat `+secretKey, hookLog); err == nil {
		t.Errorf("a deploy hook read %s:\n%s", secretKey, hookLog)
	}
	mustLog(t, hookLog, "stdout", "deploy hook "+strconv.Itoa(u.UID))
	mustLog(t, hookLog, "stderr", secretKey+": Permission denied")
	if b, _ := os.ReadFile(filepath.Join(hookDir, "app.txt")); string(b) != "unpacked\nunpacked\n" {
		t.Errorf("the hook could not write its folder: app.txt = %q", b)
	}
}

// Check refuses a folder the build user cannot reach, naming the folder
// that stops it.
func TestCheckRefusesUnreachableFolder(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skipf("builds switch users only when Seedbed runs as root; this test runs as uid %d", os.Geteuid())
	}
	u, err := ResolveUser(UserAuto)
	if err != nil {
		t.Fatal(err)
	}
	closed := t.TempDir() // its parent is 0700, root's
	b := New(Config{CacheDir: filepath.Join(closed, "cache"), WorkDir: filepath.Join(closed, "work"), User: u})
	err = b.Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), "is closed to that user (mode 0700)") || !strings.Contains(err.Error(), "SEEDBED_BUILD_USER=none") {
		t.Fatalf("Check = %v, want it to name the closed folder and what to do", err)
	}
}

func writeFile(t *testing.T, p, content string, mode fs.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	mustChmod(t, p, mode) // whatever the umask
}

func mustChmod(t *testing.T, p string, mode fs.FileMode) {
	t.Helper()
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// owner returns the uid and gid of p.
func owner(t *testing.T, p string) (uid, gid int) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		t.Fatalf("no owner for %s", p)
	}
	return int(st.Uid), int(st.Gid)
}

// extractFile returns one file of an artifact.
func extractFile(t *testing.T, arts *artifact.Store, digest, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "x")
	if err := arts.Extract(context.Background(), digest, dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("artifact %s has no %s", digest, name)
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
