package gitremote

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testHookEnv makes the test binary act as the pre-receive hook, the way
// `seedbed git-hook pre-receive` does in production.
const testHookEnv = "GITREMOTE_TEST_RUN_HOOK"

func TestMain(m *testing.M) {
	if os.Getenv(testHookEnv) == "1" {
		// os.Args is [<test binary> git-hook pre-receive].
		os.Exit(RunHook(context.Background(), os.Args[2:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
	}
	os.Exit(m.Run())
}

const (
	testToken = "sbt_good-token"
	testUser  = "ann@example.com"
	// A viewer may clone and fetch "app"; a stranger has no role on any app.
	viewerToken   = "sbt_viewer-token"
	viewerUser    = "vic@example.com"
	strangerToken = "sbt_stranger-token"
	strangerUser  = "nora@example.com"
)

// testAccess is the fixture's Authorize: ann may push to "app" and
// "other", vic may read "app", nora nothing.
func testAccess(_ context.Context, user, app string) (Access, error) {
	switch {
	case app != "app" && app != "other":
		return NoAccess, nil
	case user == testUser:
		return WriteAccess, nil
	case user == viewerUser && app == "app":
		return ReadAccess, nil
	}
	return NoAccess, nil
}

// fixture is a Server on a loopback port, with the apps "app" and "other",
// one valid token, and an OnPush that records every push and then does
// what respond says (by default: three progress lines, accept).
type fixture struct {
	srv      *Server
	base     string // http://127.0.0.1:port
	reposDir string
	env      []string // for git clients: isolated from the user's config
	logs     *syncBuffer

	mu      sync.Mutex
	pushes  []seenPush
	respond func(ctx context.Context, push Push, progress io.Writer) error
}

// seenPush is a push as OnPush saw it, with what the repository held then.
type seenPush struct {
	Push
	objectType map[string]string // git cat-file -t of each new object
	refBefore  map[string]string // each ref's value while OnPush ran
}

func setup(t *testing.T, configure ...func(*Config)) *fixture {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{reposDir: filepath.Join(t.TempDir(), "repos"), logs: &syncBuffer{}}
	cfg := Config{
		ReposDir: f.reposDir,
		Authenticate: func(_ context.Context, _, password string) (string, error) {
			switch password {
			case testToken:
				return testUser, nil
			case viewerToken:
				return viewerUser, nil
			case strangerToken:
				return strangerUser, nil
			}
			return "", errors.New("unknown token")
		},
		Authorize: testAccess,
		OnPush:    f.onPush,
		// GORACE: a race-enabled hook would otherwise sleep 1 s at exit.
		HookCommand: []string{"env", testHookEnv + "=1", "GORACE=atexit_sleep_ms=0", exe, "git-hook"},
		Logger:      slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, c := range configure {
		c(&cfg)
	}
	f.srv, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(f.srv)
	t.Cleanup(ts.Close)
	f.base = ts.URL

	home := t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "LC_") && !strings.HasPrefix(kv, "LANG") {
			f.env = append(f.env, kv)
		}
	}
	f.env = append(f.env, "HOME="+home, "XDG_CONFIG_HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0", "LC_ALL=C",
		"GIT_AUTHOR_NAME=Ann", "GIT_AUTHOR_EMAIL="+testUser, "GIT_COMMITTER_NAME=Ann", "GIT_COMMITTER_EMAIL="+testUser)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", f.logs.String())
		}
	})
	return f
}

func (f *fixture) onPush(ctx context.Context, push Push, progress io.Writer) error {
	seen := seenPush{Push: push, objectType: map[string]string{}, refBefore: map[string]string{}}
	for _, u := range push.Updates {
		if u.New != ZeroID {
			out, _ := exec.Command("git", "--git-dir", push.RepoDir, "cat-file", "-t", u.New).Output()
			seen.objectType[u.New] = strings.TrimSpace(string(out))
		}
		out, _ := exec.Command("git", "--git-dir", push.RepoDir, "rev-parse", "--verify", "--quiet", u.Ref).Output()
		seen.refBefore[u.Ref] = strings.TrimSpace(string(out))
	}
	f.mu.Lock()
	f.pushes = append(f.pushes, seen)
	respond := f.respond
	f.mu.Unlock()
	if respond != nil {
		return respond(ctx, push, progress)
	}
	for _, line := range []string{"Seedbed: build 1 queued", "Seedbed: checkout done", "Seedbed: deployed to dev"} {
		if _, err := fmt.Fprintln(progress, line); err != nil {
			return err
		}
	}
	return nil
}

func (f *fixture) setRespond(fn func(ctx context.Context, push Push, progress io.Writer) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.respond = fn
}

// takePushes returns the pushes seen since the last call.
func (f *fixture) takePushes() []seenPush {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.pushes
	f.pushes = nil
	return p
}

// url is the remote URL of app with token as the password.
func (f *fixture) url(app, token string) string {
	return strings.Replace(f.base, "http://", "http://ann:"+token+"@", 1) + "/git/" + app + ".git"
}

// repoDir is where the bare repository of app lives.
func (f *fixture) repoDir(app string) string { return filepath.Join(f.reposDir, app+".git") }

// command returns a git command run in dir with the client environment.
func (f *fixture) command(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = f.env
	return cmd
}

// run runs git and returns its stdout and stderr.
func (f *fixture) run(t *testing.T, dir string, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := f.command(dir, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// mustGit runs git, fails the test if it fails, and returns its trimmed
// stdout.
func (f *fixture) mustGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	stdout, stderr, err := f.run(t, dir, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return strings.TrimSpace(stdout)
}

// workRepo makes a non-bare repository on branch main with one commit.
func (f *fixture) workRepo(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "work")
	f.mustGit(t, "", "init", "--quiet", "--initial-branch=main", dir)
	f.commit(t, dir, "README.md", "hello\n")
	return dir
}

// commit writes a file and commits it, returning the commit's name.
func (f *fixture) commit(t *testing.T, dir, name, content string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	f.mustGit(t, dir, "add", name)
	f.mustGit(t, dir, "commit", "--quiet", "-m", "change "+name)
	return f.mustGit(t, dir, "rev-parse", "HEAD")
}

// bareRef is a ref's value in app's bare repository, "" if it has none.
func (f *fixture) bareRef(t *testing.T, app, ref string) string {
	t.Helper()
	stdout, _, _ := f.run(t, "", "--git-dir", f.repoDir(app), "rev-parse", "--verify", "--quiet", ref)
	return strings.TrimSpace(stdout)
}

// remoteLines is what git printed as "remote: ..." lines, trimmed.
func remoteLines(stderr string) []string {
	var lines []string
	for _, l := range strings.FieldsFunc(stderr, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if rest, ok := strings.CutPrefix(l, "remote: "); ok {
			lines = append(lines, strings.TrimSpace(rest))
		}
	}
	return lines
}

// containsInOrder reports whether want appear in lines in this order.
func containsInOrder(lines, want []string) bool {
	i := 0
	for _, l := range lines {
		if i < len(want) && l == want[i] {
			i++
		}
	}
	return i == len(want)
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitForLine reads r until a line equal to want (after "remote: " and
// spaces are trimmed) arrives, and returns everything read so far. It
// fails the test after timeout.
func waitForLine(t *testing.T, r io.Reader, want string, timeout time.Duration) (*bufio.Reader, string) {
	t.Helper()
	br := bufio.NewReader(r)
	found := make(chan string, 1)
	go func() {
		var seen strings.Builder
		for {
			line, err := br.ReadString('\n')
			seen.WriteString(line)
			for _, l := range remoteLines(line) {
				if l == want {
					found <- seen.String()
					return
				}
			}
			if err != nil {
				found <- ""
				return
			}
		}
	}()
	select {
	case seen := <-found:
		if seen == "" {
			t.Fatalf("git's output ended without %q", want)
		}
		return br, seen
	case <-time.After(timeout):
		t.Fatalf("%q did not reach the pusher within %s", want, timeout)
	}
	return nil, ""
}
