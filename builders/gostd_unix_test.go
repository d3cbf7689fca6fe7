//go:build unix

package builders

import (
	"crypto/sha256"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/seedbed/seedbed/builders/artifact"
)

// The standard library is compiled once, by Seedbed, and a new app's Go
// cache starts from it: the app's first build compiles only its own
// packages. The shared objects are linked into each app's cache
// read-only: a build that tries to overwrite them (to feed the next app
// a poisoned fmt) fails, and the std cache stays as it was.
func TestNewAppStartsFromStdCache(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skipf("the std cache is linked into per-app caches only when builds switch users, as root; this test runs as uid %d", os.Geteuid())
	}
	base, err := ResolveUser(UserAuto)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.MkdirTemp("", "seedbed-gostd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeAll(data) })
	mustChmod(t, data, 0o711)
	arts, err := artifact.New(filepath.Join(data, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=/root", "GOTOOLCHAIN=local", "GOPROXY=off"}
	b := New(Config{Artifacts: arts, CacheDir: filepath.Join(data, "cache"), WorkDir: filepath.Join(data, "work"), Env: env, User: base})
	t.Cleanup(func() { b.Close() })
	if err := b.Check(t.Context()); err != nil {
		t.Fatalf("Check: %v", err)
	}

	// Before the std cache is made, a build says it compiles the standard
	// library itself (and this one compiles nothing, to stay quick).
	quick := newRepo(t, map[string]string{
		"seedbed.yml": "services:\n  api:\n    path: api\n    runtime: go\n    build: cp /bin/true bootstrap\n    functions:\n      hello: {handler: bootstrap, routes: [\"GET /\"]}\n",
		"api/go.mod":  "module hello\n\ngo 1.24\n",
	})
	log := &testLog{}
	if _, err := buildApp(t, b, quick, 7, "early", log); err != nil {
		t.Fatalf("build: %v\n%s", err, log)
	}
	mustLog(t, log, "seedbed", "This app's first Go build compiles the standard library itself")

	if err := b.WarmGoCache(t.Context()); err != nil {
		t.Fatalf("WarmGoCache: %v", err)
	}
	tpl, err := b.stdCache(t.Context(), false)
	if err != nil {
		t.Fatalf("stdCache after WarmGoCache: %v", err)
	}
	var files int
	var sample string
	err = filepath.WalkDir(tpl, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Mode().Perm() != 0o444 || fi.Sys().(*syscall.Stat_t).Uid != 0 {
			t.Errorf("%s: mode %v uid %d, want 0444 and root's", p, fi.Mode().Perm(), fi.Sys().(*syscall.Stat_t).Uid)
		}
		if sample == "" && strings.HasSuffix(p, "-d") {
			sample = p
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 500 || sample == "" {
		t.Fatalf("the std cache holds %d files (sample %q); want the compiled standard library", files, sample)
	}
	before := fileSum(t, sample)

	// Each build tries to append to every object it was given, then
	// builds verbosely: go build -v names each package it compiles.
	repo := newRepo(t, map[string]string{
		"seedbed.yml": `services:
  api:
    path: api
    runtime: go
    build: >-
      for f in $(find "$GOCACHE" -type f -name '*-d'); do if echo poison >> "$f" 2>/dev/null; then echo "POISONED $f"; fi; done;
      go build -v -trimpath -o bootstrap .
    functions:
      hello: {handler: bootstrap, routes: ["GET /"]}
`,
		"api/go.mod": "module hello\n\ngo 1.24\n",
		"api/main.go": `package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "hello") })
	_ = http.ListenAndServe(":"+os.Getenv("PORT"), nil)
}
`,
	})
	for i, app := range []string{"first", "second"} {
		log := &testLog{}
		if _, err := buildApp(t, b, repo, uint(10+i), app, log); err != nil {
			t.Fatalf("build %s: %v\n%s", app, err, log)
		}
		mustLog(t, log, "seedbed", "Started this app's Go build cache from the shared standard-library cache")
		if log.has("stdout", "POISONED") || log.has("stderr", "POISONED") {
			t.Errorf("app %s could write the shared objects:\n%s", app, log)
		}
		var compiled []string
		for _, ln := range log.lines {
			if ln.stream == "stderr" && !strings.Contains(ln.text, " ") {
				compiled = append(compiled, ln.text)
			}
		}
		if len(compiled) != 1 || compiled[0] != "hello" {
			t.Errorf("app %s's first build compiled %q; want only its own package hello\n%s", app, compiled, log)
		}
	}
	if after := fileSum(t, sample); after != before {
		t.Errorf("the std cache's %s changed", sample)
	}
}

func fileSum(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}
