package gitremote

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCloneAndFetch reads an app's repository back with the real git:
// clones over both protocol versions, a shallow clone, and a fetch whose
// negotiation is big enough for git to gzip it.
func TestCloneAndFetch(t *testing.T) {
	f := setup(t)
	work := f.workRepo(t)
	remote := f.url("app", testToken)
	for i := range 3 {
		f.commit(t, work, "app.txt", fmt.Sprintf("v%d\n", i))
	}
	head := f.mustGit(t, work, "rev-parse", "HEAD")
	f.mustGit(t, work, "push", "--quiet", remote, "main")

	tests := []struct {
		name        string
		args        []string
		wantCommits string // git rev-list --count HEAD
	}{
		{name: "protocol v2", args: []string{"-c", "protocol.version=2", "clone"}, wantCommits: "4"},
		{name: "protocol v0", args: []string{"-c", "protocol.version=0", "clone"}, wantCommits: "4"},
		{name: "shallow", args: []string{"clone", "--depth", "1"}, wantCommits: "1"},
		{name: "partial", args: []string{"clone", "--filter=blob:none"}, wantCommits: "4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "clone")
			f.mustGit(t, "", append(tt.args, "--quiet", remote, dir)...)
			if got := f.mustGit(t, dir, "rev-parse", "HEAD"); got != head {
				t.Errorf("HEAD = %s, want %s", got, head)
			}
			if got := f.mustGit(t, dir, "rev-list", "--count", "HEAD"); got != tt.wantCommits {
				t.Errorf("%s commits, want %s", got, tt.wantCommits)
			}
			if data, err := os.ReadFile(filepath.Join(dir, "app.txt")); err != nil || string(data) != "v2\n" {
				t.Errorf("app.txt = %q, %v", data, err)
			}
		})
	}

	t.Run("fetch with gzip negotiation", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "clone")
		f.mustGit(t, "", "clone", "--quiet", remote, dir)
		// Many local commits the server lacks make many "have" lines,
		// which git gzips once a request passes 1 KiB.
		addCommits(t, f, dir, 100)
		newHead := f.commit(t, work, "app.txt", "v9\n")
		f.mustGit(t, work, "push", "--quiet", remote, "main")
		f.mustGit(t, dir, "fetch", "--quiet", "origin")
		if got := f.mustGit(t, dir, "rev-parse", "origin/main"); got != newHead {
			t.Errorf("origin/main = %s, want %s", got, newHead)
		}
		if !strings.Contains(f.logs.String(), "encoding=gzip") {
			t.Errorf("no gzipped fetch request in the log; the test did not exercise it")
		}
	})

	t.Run("empty repository", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "clone")
		_, stderr, err := f.run(t, "", "clone", f.url("other", testToken), dir)
		if err != nil {
			t.Fatalf("clone of an app nobody pushed to: %v\n%s", err, stderr)
		}
		if !strings.Contains(stderr, "empty repository") {
			t.Errorf("git does not say the repository is empty:\n%s", stderr)
		}
	})

	t.Run("bad token", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "clone")
		_, stderr, err := f.run(t, "", "clone", f.url("app", "sbt_wrong"), dir)
		if err == nil || !strings.Contains(stderr, "Authentication failed") {
			t.Errorf("clone with a wrong token: %v\n%s", err, stderr)
		}
	})

	t.Run("unknown app", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "clone")
		_, stderr, err := f.run(t, "", "clone", f.url("nope", testToken), dir)
		if err == nil {
			t.Fatalf("clone of an unknown app succeeded")
		}
		if !strings.Contains(stderr, `remote: Seedbed has no app "nope"`) || !strings.Contains(stderr, "not found") {
			t.Errorf("git does not show why:\n%s", stderr)
		}
		if _, err := os.Stat(f.repoDir("nope")); !os.IsNotExist(err) {
			t.Errorf("a repository was made for an unknown app (stat: %v)", err)
		}
	})
}

// addCommits adds n commits to dir's current branch with one git
// fast-import, far quicker than n git commits. They are dated an hour
// ahead, so that fetch negotiation, which walks newest first, offers them
// all before reaching a commit the server has.
func addCommits(t *testing.T, f *fixture, dir string, n int) {
	t.Helper()
	parent := f.mustGit(t, dir, "rev-parse", "HEAD")
	branch := f.mustGit(t, dir, "symbolic-ref", "HEAD")
	future := time.Now().Add(time.Hour).Unix()
	var in strings.Builder
	for i := range n {
		data := fmt.Sprintf("local %d\n", i)
		fmt.Fprintf(&in, "commit %s\ncommitter Ann <%s> %d +0000\ndata 6\nlocal\n", branch, testUser, future+int64(i))
		if i == 0 {
			fmt.Fprintf(&in, "from %s\n", parent)
		}
		fmt.Fprintf(&in, "M 100644 inline local.txt\ndata %d\n%s\n", len(data), data)
	}
	cmd := f.command(dir, "fast-import", "--quiet")
	cmd.Stdin = strings.NewReader(in.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fast-import: %v\n%s", err, out)
	}
	f.mustGit(t, dir, "reset", "--quiet", "--hard")
}
