package builders

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// logLine is one line a testLog received.
type logLine struct {
	stream, text string
}

// testLog records every line, for assertions.
type testLog struct {
	mu    sync.Mutex
	lines []logLine
}

func (l *testLog) Line(stream, text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, logLine{stream, text})
}

// has says whether a line of stream contains text.
func (l *testLog) has(stream, text string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ln := range l.lines {
		if ln.stream == stream && strings.Contains(ln.text, text) {
			return true
		}
	}
	return false
}

func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, ln := range l.lines {
		fmt.Fprintf(&b, "[%s] %s\n", ln.stream, ln.text)
	}
	return b.String()
}

// mustLog fails the test unless log has a line of stream containing text.
func mustLog(t *testing.T, log *testLog, stream, text string) {
	t.Helper()
	if !log.has(stream, text) {
		t.Errorf("log has no %s line containing %q; log:\n%s", stream, text, log)
	}
}

// runGit runs the real git CLI in dir and returns its trimmed output.
func runGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=Ada Lovelace", "GIT_AUTHOR_EMAIL=ada@example.com",
		"GIT_COMMITTER_NAME=Ada Lovelace", "GIT_COMMITTER_EMAIL=ada@example.com",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// writeFiles writes name → content under dir; a name ending in "*" is
// made executable.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, "*") {
			name, mode = strings.TrimSuffix(name, "*"), 0o755
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
}

// commitAll commits everything in repo and returns the commit's SHA.
func commitAll(t *testing.T, repo, message string) string {
	t.Helper()
	runGit(t, repo, "add", "-A")
	runGit(t, repo, "commit", "-q", "-m", message)
	return runGit(t, repo, "rev-parse", "HEAD")
}

// newRepo makes a git repository with files on branch main.
func newRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	repo := filepath.Join(t.TempDir(), "repo")
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	runGit(t, repo, "init", "-q", "-b", "main")
	writeFiles(t, repo, files)
	commitAll(t, repo, "First commit\n\nWith a body that is not shown.")
	return repo
}

// goEnv returns `go env name`.
func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

// buildEnv is the environment builds get in tests: the developer's PATH
// and Go caches (so builds are fast), no network.
func buildEnv(t *testing.T) []string {
	t.Helper()
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"GOCACHE=" + goEnv(t, "GOCACHE"),
		"GOMODCACHE=" + goEnv(t, "GOMODCACHE"),
		"GOTOOLCHAIN=local",
		"GOPROXY=off",
	}
}

// helloApp is a repository with a go service (a tiny HTTP server on $PORT)
// and a process service.
var helloApp = map[string]string{
	"seedbed.yml": `services:
  api:
    path: services/api
    runtime: go
    hooks:
      before_build: ["echo checking $SEEDBED_SERVICE; echo to stderr >&2"]
    functions:
      hello:
        routes: ["GET /hello"]
      hello-too:
        routes: ["GET /hi"]
  web:
    path: services/web
    runtime: process
    build: echo built > built.txt
    functions:
      site:
        handler: ./run.sh
        routes: ["GET /"]
`,
	"services/api/go.mod": "module example.com/api\n\ngo 1.22\n",
	"services/api/main.go": `package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello from seedbed")
	})
	if err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`,
	"services/web/run.sh*":    "#!/bin/sh\necho site\n",
	"services/web/index.html": "<h1>hi</h1>\n",
	"README.md":               "hello app\n",
}

// leftovers lists what is left in b's scratch folder, where every build
// makes its workspaces and must remove them.
func leftovers(t *testing.T, b *Builder) []string {
	t.Helper()
	dir, err := b.scratchDir()
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
