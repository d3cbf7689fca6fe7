package builders

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seedbed/seedbed/builders/artifact"
	"github.com/seedbed/seedbed/stack"
)

// bundle is what a build test works with.
type bundle struct {
	store   *artifact.Store
	builder *Builder
	workDir string
}

func setupBuilder(t *testing.T) bundle {
	t.Helper()
	store, err := artifact.New(filepath.Join(t.TempDir(), "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	b := New(Config{Artifacts: store, CacheDir: filepath.Join(t.TempDir(), "cache"), Env: buildEnv(t), WorkDir: work})
	t.Cleanup(func() { b.Close() })
	return bundle{store: store, builder: b, workDir: work}
}

// fetchAndParse checks out repo into a new folder and parses its stack.
func fetchAndParse(t *testing.T, repo string) (Checkout, *stack.Stack) {
	t.Helper()
	co, err := Fetch(context.Background(), FetchOptions{RepoURL: repo, Dir: filepath.Join(t.TempDir(), "checkout")}, &testLog{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := stack.ParseFile(co.Dir)
	if err != nil {
		t.Fatal(err)
	}
	return co, st
}

func extract(t *testing.T, store *artifact.Store, digest string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "x")
	if err := store.Extract(context.Background(), digest, dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBuildHelloApp(t *testing.T) {
	b := setupBuilder(t)
	repo := newRepo(t, helloApp)
	co, st := fetchAndParse(t, repo)
	log := &testLog{}
	outs, err := b.builder.Build(context.Background(), co.Dir, st, log)
	if err != nil {
		t.Fatalf("Build: %v\nlog:\n%s", err, log)
	}

	var keys []string
	for _, o := range outs {
		keys = append(keys, o.Service+"/"+o.Function)
		if !b.store.Has(o.Digest) || o.Size <= 0 {
			t.Errorf("%s/%s: digest %s (size %d) is not in the store", o.Service, o.Function, o.Digest, o.Size)
		}
	}
	if want := []string{"api/hello", "api/hello-too", "web/site"}; !slices.Equal(keys, want) {
		t.Fatalf("outputs for %q, want %q", keys, want)
	}
	if outs[0].Digest != outs[1].Digest {
		t.Errorf("two functions of one binary got different artifacts: %s, %s", outs[0].Digest, outs[1].Digest)
	}
	mustLog(t, log, "seedbed", "Building service api (go)")
	mustLog(t, log, "seedbed", "$ echo checking $SEEDBED_SERVICE")
	mustLog(t, log, "stdout", "checking api")
	mustLog(t, log, "stderr", "to stderr")
	mustLog(t, log, "seedbed", "$ "+DefaultGoBuild)
	mustLog(t, log, "seedbed", "Packaged api/hello "+outs[0].Digest[:17]+" (")
	mustLog(t, log, "seedbed", "Building service web (process)")
	mustLog(t, log, "seedbed", "Packaged web/site "+outs[2].Digest[:17])

	t.Run("the checkout is untouched and workspaces are gone", func(t *testing.T) {
		for _, p := range []string{"services/api/bootstrap", "services/web/built.txt"} {
			if _, err := os.Stat(filepath.Join(co.Dir, p)); err == nil {
				t.Errorf("the build wrote %s into the checkout", p)
			}
		}
		if left := leftovers(t, b.builder); len(left) > 0 {
			t.Errorf("workspaces left in %s: %v", b.workDir, left)
		}
	})

	t.Run("same source gives the same digests", func(t *testing.T) {
		co2, st2 := fetchAndParse(t, repo)
		again, err := b.builder.Build(context.Background(), co2.Dir, st2, &testLog{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(again, outs) {
			t.Errorf("second build = %+v\nfirst = %+v", again, outs)
		}
	})

	t.Run("the go artifact is the binary alone and serves HTTP on $PORT", func(t *testing.T) {
		dir := extract(t, b.store, outs[0].Digest)
		if files := listFiles(t, dir); !slices.Equal(files, []string{"bootstrap"}) {
			t.Fatalf("artifact holds %q, want just bootstrap", files)
		}
		fi, err := os.Stat(filepath.Join(dir, "bootstrap"))
		if err != nil || fi.Mode().Perm()&0o100 == 0 {
			t.Fatalf("bootstrap is not executable: %v %v", fi.Mode(), err)
		}
		if got := serveOnce(t, filepath.Join(dir, "bootstrap"), "/hello"); got != "hello from seedbed\n" {
			t.Errorf("GET /hello = %q", got)
		}
	})

	t.Run("the process artifact is the built service folder without .git", func(t *testing.T) {
		dir := extract(t, b.store, outs[2].Digest)
		if files := listFiles(t, dir); !slices.Equal(files, []string{"built.txt", "index.html", "run.sh"}) {
			t.Errorf("artifact holds %q", files)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, "built.txt")); string(got) != "built\n" {
			t.Errorf("built.txt = %q, want the build command's output", got)
		}
		if fi, err := os.Stat(filepath.Join(dir, "run.sh")); err != nil || fi.Mode().Perm()&0o100 == 0 {
			t.Errorf("run.sh lost its executable bit: %v", err)
		}
	})
}

// serveOnce starts bin with a free $PORT, GETs path and stops it.
func serveOnce(t *testing.T, bin, path string) string {
	t.Helper()
	return serveCmd(t, exec.Command(bin), path)
}

// serveCmd starts cmd with a free $PORT added to its environment, GETs
// path and stops it.
func serveCmd(t *testing.T, cmd *exec.Cmd, path string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd.Env = append(cmd.Env, "PORT="+strconv.Itoa(port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	url := "http://127.0.0.1:" + strconv.Itoa(port) + path
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestBuildFailures(t *testing.T) {
	outside := t.TempDir()
	writeFiles(t, outside, map[string]string{"secret.txt": "do not pack me\n"})
	goService := func(extra string) string {
		return "services:\n  api:\n    path: api\n    runtime: go\n" + extra + "    functions:\n      hello: {routes: [\"GET /hello\"]}\n"
	}
	apiFiles := map[string]string{"api/go.mod": "module example.com/api\n\ngo 1.22\n", "api/main.go": "package main\n\nfunc main() {}\n"}

	tests := []struct {
		name    string
		files   map[string]string
		symlink [2]string // name in the repo → target
		yml     string
		st      *stack.Stack // instead of yml, for stacks the parser would refuse
		wantErr string
		wantLog []logLine
		notLog  string
	}{
		{
			name:    "failing before_build hook",
			files:   apiFiles,
			yml:     goService("    hooks:\n      before_build: [\"echo about to fail; echo oops >&2; exit 3\"]\n      after_build: [\"echo after\"]\n"),
			wantErr: `build service api: before_build hook "echo about to fail; echo oops >&2; exit 3" failed with exit code 3`,
			wantLog: []logLine{{"stdout", "about to fail"}, {"stderr", "oops"}},
			notLog:  "$ go build",
		},
		{
			name:    "failing build command",
			files:   apiFiles,
			yml:     goService("    build: echo compiling; exit 7\n"),
			wantErr: `build service api: build command "echo compiling; exit 7" failed with exit code 7`,
			wantLog: []logLine{{"stdout", "compiling"}},
		},
		{
			name:    "failing after_build hook",
			files:   apiFiles,
			yml:     goService("    hooks:\n      after_build: [\"test -f nothing-here\"]\n"),
			wantErr: `build service api: after_build hook "test -f nothing-here" failed with exit code 1`,
			notLog:  "Packaged",
		},
		{
			name:    "compile error",
			files:   map[string]string{"api/go.mod": "module example.com/api\n\ngo 1.22\n", "api/main.go": "package main\n\nfunc main() { undefined() }\n"},
			yml:     goService(""),
			wantErr: `build service api: build command "go build -trimpath`,
			wantLog: []logLine{{"stderr", "undefined: undefined"}},
		},
		{
			name:    "build does not produce the handler",
			files:   apiFiles,
			yml:     goService("    build: \"true\"\n"),
			wantErr: `build service api: function hello: handler "bootstrap" not found after build; the build command must produce it`,
		},
		{
			name:    "handler is a symlink out of the workspace",
			files:   apiFiles,
			yml:     goService("    build: ln -s /bin/sh bootstrap\n"),
			wantErr: `function hello: handler "bootstrap" is not a regular file (it is a symlink)`,
		},
		{
			name:    "service folder missing",
			files:   apiFiles,
			yml:     "services:\n  api:\n    path: services/nope\n    runtime: process\n    functions:\n      f: {handler: ./x, routes: [\"GET /x\"]}\n",
			wantErr: `build service api: path "services/nope" does not exist in the repository; fix path in seedbed.yml`,
		},
		{
			name:    "service folder is a symlink leading outside the repository",
			files:   apiFiles,
			symlink: [2]string{"evil", outside},
			yml:     "services:\n  api:\n    path: evil\n    runtime: process\n    functions:\n      f: {handler: ./x, routes: [\"GET /x\"]}\n",
			wantErr: `build service api: path "evil": it leads outside the repository`,
		},
		{
			name:    "process service with a symlink leading outside",
			files:   map[string]string{"web/run.sh": "echo\n"},
			symlink: [2]string{"web/secret", filepath.Join(outside, "secret.txt")},
			yml:     "services:\n  web:\n    path: web\n    runtime: process\n    functions:\n      f: {handler: ./run.sh, routes: [\"GET /x\"]}\n",
			wantErr: "build service web: function f: package: pack",
		},
		{
			name:    "path escaping the repository in a hand-made stack",
			files:   apiFiles,
			st:      &stack.Stack{Services: []stack.Service{{Name: "api", Path: "../../etc", Runtime: "process", Functions: []stack.Function{{Name: "f", Handler: "x"}}}}},
			wantErr: `build service api: path "../../etc" is not a folder inside the repository`,
		},
		{
			name:    "handler escaping the service folder in a hand-made stack",
			files:   apiFiles,
			st:      &stack.Stack{Services: []stack.Service{{Name: "api", Path: "api", Runtime: "go", Build: "true", Functions: []stack.Function{{Name: "f", Handler: "../../../bin/sh"}}}}},
			wantErr: `build service api: function f: handler "../../../bin/sh" is not a file inside the service folder`,
		},
		{
			name:    "unknown runtime in a hand-made stack",
			files:   apiFiles,
			st:      &stack.Stack{Services: []stack.Service{{Name: "api", Path: "api", Runtime: "rust"}}},
			wantErr: `build service api: unknown runtime "rust"; valid runtimes: go, node, python, static, process`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := setupBuilder(t)
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			if tt.symlink[0] != "" {
				if err := os.Symlink(tt.symlink[1], filepath.Join(dir, tt.symlink[0])); err != nil {
					t.Fatal(err)
				}
			}
			st := tt.st
			if st == nil {
				var err error
				if st, err = stack.Parse([]byte(tt.yml)); err != nil {
					t.Fatalf("Parse: %v", err)
				}
			}
			log := &testLog{}
			outs, err := b.builder.Build(context.Background(), dir, st, log)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Build error = %v\nwant it to contain %q\nlog:\n%s", err, tt.wantErr, log)
			}
			if outs != nil {
				t.Errorf("Build returned outputs %+v with an error", outs)
			}
			for _, l := range tt.wantLog {
				mustLog(t, log, l.stream, l.text)
			}
			if tt.notLog != "" && strings.Contains(log.String(), tt.notLog) {
				t.Errorf("log contains %q, which should not have run:\n%s", tt.notLog, log)
			}
			if strings.Contains(log.String(), "do not pack me") {
				t.Errorf("a file outside the repository was read")
			}
			if left := leftovers(t, b.builder); len(left) > 0 {
				t.Errorf("workspaces left behind: %v", left)
			}
		})
	}
}

func TestBuildCanceled(t *testing.T) {
	b := setupBuilder(t)
	dir := t.TempDir()
	pidFile := filepath.Join(t.TempDir(), "pid")
	st := &stack.Stack{Services: []stack.Service{{
		Name: "web", Path: ".", Runtime: "process",
		Hooks:     stack.Hooks{BeforeBuild: []string{"sleep 60 & echo $! > " + pidFile + "; wait"}},
		Functions: []stack.Function{{Name: "f", Handler: "./x"}},
	}}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := b.builder.Build(ctx, dir, st, &testLog{})
		done <- err
	}()
	pid := waitForPID(t, pidFile)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "build service web: before_build hook") {
			t.Errorf("Build error = %v, want the hook named and context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Build did not stop after cancel")
	}
	waitGone(t, pid)
}

func TestBuildEnv(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		runtime string
		key     string
		want    []string
		notWant []string
	}{
		{
			name:    "go runtime: caches under CacheDir, static host binary",
			cfg:     Config{CacheDir: "/cache", Env: []string{"PATH=/bin", "GOFLAGS=-v"}},
			runtime: "go",
			want:    []string{"PATH=/bin", "SEEDBED_SERVICE=api", "CGO_ENABLED=0", "GOFLAGS=-v -mod=mod", "GOCACHE=/cache/go-build", "GOMODCACHE=/cache/gomod"},
		},
		{
			name:    "go runtime: the caller's caches win",
			cfg:     Config{CacheDir: "/cache", Env: []string{"GOCACHE=/mine", "GOMODCACHE=/mods"}},
			runtime: "go",
			want:    []string{"GOCACHE=/mine", "GOMODCACHE=/mods", "GOFLAGS=-mod=mod"},
			notWant: []string{"GOCACHE=/cache/go-build", "GOMODCACHE=/cache/gomod"},
		},
		{
			name:    "go runtime: per-app caches with a cache key",
			cfg:     Config{CacheDir: "/cache"},
			runtime: "go",
			key:     "shop",
			want:    []string{"GOCACHE=/cache/go/shop/build", "GOMODCACHE=/cache/go/shop/mod"},
			notWant: []string{"GOCACHE=/cache/go-build", "GOMODCACHE=/cache/gomod"},
		},
		{
			name:    "go runtime: the caller's caches win over a cache key",
			cfg:     Config{CacheDir: "/cache", Env: []string{"GOCACHE=/mine", "GOMODCACHE=/mods"}},
			runtime: "go",
			key:     "shop",
			want:    []string{"GOCACHE=/mine", "GOMODCACHE=/mods"},
			notWant: []string{"GOCACHE=/cache/go/shop/build", "GOMODCACHE=/cache/go/shop/mod"},
		},
		{
			name:    "node runtime: npm cache per app, no notifier, fund or audit requests",
			cfg:     Config{CacheDir: "/cache", Env: []string{"PATH=/bin"}},
			runtime: "node",
			key:     "shop",
			want:    []string{"PATH=/bin", "npm_config_cache=/cache/npm/shop", "npm_config_update_notifier=false", "npm_config_fund=false", "npm_config_audit=false"},
			notWant: []string{"CGO_ENABLED=0"},
		},
		{
			name:    "node runtime: a shared npm cache without a key",
			cfg:     Config{CacheDir: "/cache"},
			runtime: "node",
			want:    []string{"npm_config_cache=/cache/npm/_shared"},
		},
		{
			name:    "node runtime: the caller's npm cache wins, whatever its case",
			cfg:     Config{CacheDir: "/cache", Env: []string{"NPM_CONFIG_CACHE=/mine"}},
			runtime: "node",
			key:     "shop",
			want:    []string{"NPM_CONFIG_CACHE=/mine"},
			notWant: []string{"npm_config_cache=/cache/npm/shop"},
		},
		{
			name:    "python runtime: no bytecode written",
			cfg:     Config{CacheDir: "/cache"},
			runtime: "python",
			want:    []string{"SEEDBED_SERVICE=api", "PYTHONDONTWRITEBYTECODE=1"},
		},
		{
			name:    "process runtime: just the base",
			cfg:     Config{CacheDir: "/cache", Env: []string{"PATH=/bin"}},
			runtime: "process",
			want:    []string{"PATH=/bin", "SEEDBED_SERVICE=api"},
			notWant: []string{"CGO_ENABLED=0", "GOFLAGS=-mod=mod"},
		},
		{
			name: "another user: its own caches, HOME and USER win over Seedbed's",
			cfg: Config{CacheDir: "/cache", User: &User{Name: "nobody", UID: 65534, GID: 65534, Switch: true},
				Env: []string{"PATH=/bin", "HOME=/root", "USER=root", "GOCACHE=/root/.cache/go-build", "GOMODCACHE=/root/go/pkg/mod", "GOPATH=/root/go"}},
			runtime: "go",
			key:     "shop",
			want:    []string{"PATH=/bin", "HOME=/cache/home/shop", "USER=nobody", "GOCACHE=/cache/go/shop/build", "GOMODCACHE=/cache/go/shop/mod"},
			notWant: []string{"HOME=/root", "USER=root", "GOCACHE=/root/.cache/go-build", "GOMODCACHE=/root/go/pkg/mod", "GOPATH=/root/go"},
		},
		{
			name: "another user without a name or cache key: a shared HOME, USER is the uid",
			cfg: Config{CacheDir: "/cache", User: &User{UID: 1234, GID: 1234, Switch: true},
				Env: []string{"NPM_CONFIG_CACHE=/root/.npm"}},
			runtime: "node",
			want:    []string{"HOME=/cache/home/_shared", "USER=1234", "npm_config_cache=/cache/npm/_shared"},
			notWant: []string{"NPM_CONFIG_CACHE=/root/.npm"},
		},
		{
			name:    "Seedbed's own user, not switching: HOME as given",
			cfg:     Config{CacheDir: "/cache", User: &User{Name: "ada", UID: 1000, GID: 1000}, Env: []string{"HOME=/home/ada"}},
			runtime: "process",
			key:     "shop",
			want:    []string{"HOME=/home/ada"},
			notWant: []string{"HOME=/cache/home/shop"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(tt.cfg)
			env := b.env(stack.Service{Name: "api", Runtime: tt.runtime}, tt.key, b.cfg.User)
			for _, w := range tt.want {
				if !slices.Contains(env, w) {
					t.Errorf("env %q lacks %q", env, w)
				}
			}
			for _, w := range tt.notWant {
				if slices.Contains(env, w) {
					t.Errorf("env %q has %q", env, w)
				}
			}
		})
	}
}
