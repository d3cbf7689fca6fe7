package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web/apiv1"
)

// push runs the real git push against the built-in remote and returns its
// exit error and everything it printed.
func gitPush(t *testing.T, repo *testutil.Repo, remote string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"push", remote}, args...)...)
	cmd.Dir = repo.Dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func remoteRefs(t *testing.T, remote string) string {
	t.Helper()
	out, _ := exec.Command("git", "ls-remote", remote).CombinedOutput()
	return string(out)
}

// The real git client pushes to Seedbed's built-in remote: pushes deploy
// the stages that follow the branch, with progress shown live; a failing
// build refuses the push; a bad token stores nothing.
func TestGitPushDeploys(t *testing.T) {
	a := startApp(t, embedded)
	ctx := context.Background()
	if _, err := a.api.CreateApp(ctx, apiv1.CreateAppRequest{Name: "pushy"}); err != nil {
		t.Fatalf("an app without a repository URL (code comes by push): %v", err)
	}
	host := strings.TrimPrefix(a.ConsoleURL(), "http://")
	remote := "http://admin:" + a.api.Token + "@" + host + "/git/pushy.git"
	repo := testutil.NewRepo(t)
	repo.Commit("v1", map[string]string{"seedbed.yml": stackFile(helloFunction), "services/api/go.mod": goMod, "services/api/main.go": goFunction("v1")})

	out, err := gitPush(t, repo, remote, "main")
	if err != nil {
		t.Fatalf("first push: %v\n%s", err, out)
	}
	for _, want := range []string{"remote: Seedbed: branch main → build #", "remote:   Build succeeded", "remote: Seedbed: live on dev: " + a.gateway + "/pushy/dev/"} {
		if !strings.Contains(out, want) {
			t.Errorf("push output lacks %q:\n%s", want, out)
		}
	}
	if code, body := a.get("/pushy/dev/hello"); code != 200 || body != "v1 hi /hello" {
		t.Fatalf("after the first push: %d %q", code, body)
	}

	repo.Commit("v2", map[string]string{"services/api/main.go": goFunction("v2")})
	if out, err := gitPush(t, repo, remote, "main"); err != nil {
		t.Fatalf("second push: %v\n%s", err, out)
	}
	if _, body := a.get("/pushy/dev/hello"); body != "v2 hi /hello" {
		t.Fatalf("after the second push: %q", body)
	}

	// Rewrite history and force-push.
	repo.Write(map[string]string{"services/api/main.go": goFunction("v3")})
	repo.Git("commit", "-qam", "v3 instead of v2", "--amend")
	if out, err := gitPush(t, repo, remote, "--force", "main"); err != nil {
		t.Fatalf("force push: %v\n%s", err, out)
	}
	if _, body := a.get("/pushy/dev/hello"); body != "v3 hi /hello" {
		t.Fatalf("after the force push: %q", body)
	}

	// A tag and a branch that no stage follows: accepted, nothing built.
	repo.Git("tag", "v1.0")
	repo.Git("checkout", "-qb", "feature")
	for _, ref := range []string{"v1.0", "feature"} {
		out, err := gitPush(t, repo, remote, ref)
		if err != nil || !strings.Contains(out, "no stage follows") {
			t.Fatalf("push of %s: %v\n%s", ref, err, out)
		}
	}
	if bs, _ := a.api.Builds(ctx, "pushy"); len(bs) != 3 {
		t.Fatalf("%d builds, want 3 (tag and unfollowed branch build nothing)", len(bs))
	}

	// A push whose build fails is refused and the branch does not move.
	repo.Git("checkout", "-q", "main")
	before := remoteRefs(t, remote)
	repo.Commit("broken", map[string]string{"services/api/main.go": "package main\n\nfunc main() { nope() }\n"})
	out, err = gitPush(t, repo, remote, "main")
	if err == nil || !strings.Contains(out, "failed") || !strings.Contains(out, "[remote rejected]") {
		t.Fatalf("push of a broken build: %v\n%s", err, out)
	}
	if after := remoteRefs(t, remote); after != before {
		t.Fatalf("a refused push moved refs:\nbefore %s\nafter %s", before, after)
	}
	if _, body := a.get("/pushy/dev/hello"); body != "v3 hi /hello" {
		t.Fatalf("after the refused push the stage answers %q", body)
	}

	// -o nowait returns at once.
	repo.Commit("v4", map[string]string{"services/api/main.go": goFunction("v4")})
	out, err = gitPush(t, repo, remote, "-o", "nowait", "main")
	if err != nil || !strings.Contains(out, "not waiting") {
		t.Fatalf("push -o nowait: %v\n%s", err, out)
	}

	// A bad token stores nothing.
	bad := "http://admin:sbt_wrong@" + host + "/git/pushy.git"
	repo.Commit("sneaky", map[string]string{"x.txt": "x"})
	before = remoteRefs(t, remote)
	if out, err := gitPush(t, repo, bad, "main"); err == nil || !strings.Contains(out, "Authentication failed") {
		t.Fatalf("push with a bad token: %v\n%s", err, out)
	}
	if after := remoteRefs(t, remote); after != before {
		t.Fatal("a push with a bad token changed the remote")
	}

	// Clone works too.
	dir := filepath.Join(t.TempDir(), "clone")
	if out, err := exec.Command("git", "clone", "-q", remote, dir).CombinedOutput(); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "seedbed.yml")); err != nil {
		t.Fatalf("the clone lacks seedbed.yml: %v", err)
	}
}
