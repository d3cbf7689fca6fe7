package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

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
	t.Parallel()
	a := startApp(t, embedded)
	ctx := context.Background()
	if _, err := a.api.CreateApp(ctx, apiv1.CreateAppRequest{Name: "pushy"}); err != nil {
		t.Fatalf("an app without a repository URL (code comes by push): %v", err)
	}
	host := strings.TrimPrefix(a.ConsoleURL(), "http://")
	remote := "http://admin:" + a.api.Token + "@" + host + "/git/pushy.git"
	repo := testutil.NewRepo(t)
	v1 := repo.Commit("v1", map[string]string{"seedbed.yml": stackFile(helloFunction), "services/api/go.mod": goMod, "services/api/main.go": goFunction("v1")})

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

	v2 := repo.Commit("v2", map[string]string{"services/api/main.go": goFunction("v2")})
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
	// The builds are found by the branch pushed, as the README says, and
	// each built the exact commit its push brought.
	bs, err := a.api.ListBuilds(ctx, "pushy", apiv1.BuildsQuery{Ref: "main", Trigger: "push"})
	if err != nil || len(bs) != 3 {
		t.Fatalf("builds with --ref main --trigger push: %v, %+v", err, bs)
	}
	v3 := strings.TrimSpace(repo.Git("rev-parse", "main"))
	for i, want := range []string{v3, v2, v1} {
		if bs[i].Ref != "main" || bs[i].Commit != want || bs[i].Status != "succeeded" {
			t.Errorf("build #%d: ref %q commit %s %s, want main at %s", bs[i].ID, bs[i].Ref, bs[i].Commit, bs[i].Status, want)
		}
	}

	// A push whose build fails is refused and the branch does not move.
	repo.Git("checkout", "-q", "main")
	before := remoteRefs(t, remote)
	repo.Commit("broken", map[string]string{"services/api/main.go": "package main\n\nfunc main() { nope() }\n"})
	out, err = gitPush(t, repo, remote, "main")
	if err == nil || !strings.Contains(out, "failed") || !strings.Contains(out, "[remote rejected]") {
		t.Fatalf("push of a broken build: %v\n%s", err, out)
	}
	// The compiler's own error, not only Seedbed's summary of it.
	if !regexp.MustCompile(`remote: +\./main\.go:3:\d+: undefined: nope`).MatchString(out) {
		t.Errorf("the push does not show the compiler's error line:\n%s", out)
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

// staticSite is a stack whose one function serves the site/ folder: a
// build takes no compiler, so many pushes build quickly.
const staticSite = `services:
  site:
    path: site
    runtime: static
    functions:
      pages:
        routes: ["GET /site/{file+}"]
`

// gitRun runs git with args in dir (none if empty) and returns its combined
// output. It does not fail the test, so goroutines may call it.
func gitRun(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL=dev@example.com",
		"GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@example.com")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// userToken makes a user with no admin rights, gives them role on app
// ("" for none) and returns their API token.
func (a *testApp) userToken(email, app, role string) string {
	a.t.Helper()
	c := a.userClient(email)
	if role != "" {
		if _, err := a.api.SetMember(context.Background(), app, email, role); err != nil {
			a.t.Fatalf("make %s %s of %s: %v", email, role, app, err)
		}
	}
	return c.Token
}

// The built-in remote asks for the role, with the real git client: a user
// with no role is told the app does not exist (clone, fetch and push), a
// viewer clones and fetches but may not push, a deployer pushes and
// deploys; without credentials the answer is 401 with a Basic challenge.
func TestGitRemoteRoles(t *testing.T) {
	t.Parallel()
	a := startApp(t, embedded)
	ctx := context.Background()
	if _, err := a.api.CreateApp(ctx, apiv1.CreateAppRequest{Name: "guarded"}); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(a.ConsoleURL(), "http://")
	remote := func(token string) string { return "http://x:" + token + "@" + host + "/git/guarded.git" }
	repo := testutil.NewRepo(t)
	repo.Commit("v1", map[string]string{"seedbed.yml": staticSite, "site/version.txt": "v1\n"})
	if out, err := gitPush(t, repo, remote(a.api.Token), "main"); err != nil {
		t.Fatalf("the admin's push: %v\n%s", err, out)
	}
	tokens := map[string]string{
		"stranger": a.userToken("nora@example.com", "guarded", ""),
		"viewer":   a.userToken("vic@example.com", "guarded", "viewer"),
		"deployer": a.userToken("dee@example.com", "guarded", "deployer"),
	}

	tests := []struct {
		name    string
		who     string
		args    func(dir string) []string // dir: a fresh path for a clone
		wantOK  bool
		wantOut string
	}{
		{name: "stranger clones", who: "stranger", args: func(dir string) []string { return []string{"clone", remote(tokens["stranger"]), dir} },
			wantOut: `Seedbed has no app "guarded"`},
		{name: "stranger fetches", who: "stranger", args: func(string) []string { return []string{"-C", repo.Dir, "fetch", remote(tokens["stranger"]), "main"} },
			wantOut: "not found"},
		{name: "stranger pushes", who: "stranger", args: func(string) []string {
			return []string{"-C", repo.Dir, "push", remote(tokens["stranger"]), "main:refs/heads/x"}
		},
			wantOut: `Seedbed has no app "guarded"`},
		{name: "anonymous clones", args: func(dir string) []string { return []string{"clone", "http://" + host + "/git/guarded.git", dir} },
			wantOut: "could not read Username"},
		{name: "viewer clones", who: "viewer", args: func(dir string) []string { return []string{"clone", remote(tokens["viewer"]), dir} },
			wantOK: true},
		{name: "viewer fetches", who: "viewer", args: func(string) []string { return []string{"-C", repo.Dir, "fetch", remote(tokens["viewer"]), "main"} },
			wantOK: true},
		{name: "viewer pushes", who: "viewer", args: func(string) []string {
			return []string{"-C", repo.Dir, "push", remote(tokens["viewer"]), "main:refs/heads/x"}
		},
			wantOut: "needs the deployer role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "clone")
			out, err := gitRun("", tt.args(dir)...)
			if (err == nil) != tt.wantOK || !strings.Contains(out, tt.wantOut) {
				t.Fatalf("git: %v (want success: %v), output lacks %q?\n%s", err, tt.wantOK, tt.wantOut, out)
			}
			_, statErr := os.Stat(filepath.Join(dir, "site", "version.txt"))
			if cloned := statErr == nil; cloned != (tt.wantOK && strings.Contains(tt.name, "clones")) {
				t.Errorf("clone has the files: %v", cloned)
			}
		})
	}
	if refs := remoteRefs(t, remote(a.api.Token)); strings.Contains(refs, "refs/heads/x") {
		t.Fatalf("a refused push created a branch:\n%s", refs)
	}

	// Anonymous requests are challenged, as git expects.
	resp, err := http.Get("http://" + host + "/git/guarded.git/info/refs?service=git-upload-pack")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("anonymous info/refs: %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}

	// The deployer's push deploys.
	repo.Commit("v2", map[string]string{"site/version.txt": "v2\n"})
	if out, err := gitPush(t, repo, remote(tokens["deployer"]), "main"); err != nil || !strings.Contains(out, "live on dev") {
		t.Fatalf("the deployer's push: %v\n%s", err, out)
	}
	if code, body := a.get("/guarded/dev/site/version.txt"); code != 200 || body != "v2\n" {
		t.Fatalf("after the deployer's push: %d %q", code, body)
	}
}

// Ten pushes to main at once, each from its own clone with a commit of its
// own, half of them with -o nowait, each retried once after a fetch if git
// rejects it: the stage ends up serving exactly the commit main points to,
// and no commit whose push git rejected was built or deployed. Before
// pushes took turns, rejected pushes ("cannot lock ref") had deployed.
// Then an annotated tag, which names a tag object, builds the commit it
// points to.
func TestGitConcurrentPushesServeBranchTip(t *testing.T) {
	t.Parallel()
	for _, be := range []backend{embedded, servers} {
		t.Run(be.name, func(t *testing.T) { testGitConcurrentPushesServeBranchTip(t, be) })
	}
}

func testGitConcurrentPushesServeBranchTip(t *testing.T, be backend) {
	a := startApp(t, be)
	ctx := context.Background()
	if _, err := a.api.CreateApp(ctx, apiv1.CreateAppRequest{Name: "racy"}); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(a.ConsoleURL(), "http://")
	remote := "http://admin:" + a.api.Token + "@" + host + "/git/racy.git"
	repo := testutil.NewRepo(t)
	repo.Commit("p0", map[string]string{"seedbed.yml": staticSite, "site/version.txt": "p0\n"})
	if out, err := gitPush(t, repo, remote, "main"); err != nil {
		t.Fatalf("first push: %v\n%s", err, out)
	}

	const n = 10
	type attempt struct {
		commit, version, out string
		err                  error
	}
	attempts := make([][]attempt, n)
	clones := make([]string, n)
	for i := range n {
		clones[i] = filepath.Join(t.TempDir(), "clone")
		if out, err := gitRun("", "clone", "-q", remote, clones[i]); err != nil {
			t.Fatalf("clone %d: %v\n%s", i, err, out)
		}
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			dir := clones[i]
			for try := range 2 {
				if try > 0 {
					if out, err := gitRun(dir, "fetch", "-q", "origin"); err != nil {
						attempts[i] = append(attempts[i], attempt{out: out, err: err})
						return
					}
					_, _ = gitRun(dir, "reset", "-q", "--hard", "origin/main")
				}
				version := fmt.Sprintf("p%d.%d\n", i+1, try)
				if err := os.WriteFile(filepath.Join(dir, "site", "version.txt"), []byte(version), 0o644); err != nil {
					attempts[i] = append(attempts[i], attempt{err: err})
					return
				}
				_, _ = gitRun(dir, "commit", "-qam", "push "+strings.TrimSpace(version))
				commit, _ := gitRun(dir, "rev-parse", "HEAD")
				args := []string{"push", "--force", "origin", "main"}
				if i%2 == 0 {
					args = []string{"push", "--force", "-o", "nowait", "origin", "main"}
				}
				out, err := gitRun(dir, args...)
				attempts[i] = append(attempts[i], attempt{commit: strings.TrimSpace(commit), version: version, out: out, err: err})
				if err == nil {
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()

	landed, rejected := map[string]string{}, map[string]bool{}
	for i, as := range attempts {
		for _, at := range as {
			switch {
			case at.commit == "":
				t.Fatalf("pusher %d: %v\n%s", i, at.err, at.out)
			case at.err == nil:
				landed[at.commit] = at.version
			case strings.Contains(at.out, "[remote rejected]"):
				rejected[at.commit] = true
			default:
				t.Fatalf("push of %s failed without git's rejection: %v\n%s", at.commit, at.err, at.out)
			}
		}
	}
	var tip []string
	for _, l := range strings.Split(remoteRefs(t, remote), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[1] == "refs/heads/main" {
			tip = f
		}
	}
	if len(tip) == 0 {
		t.Fatal("main is gone")
	}
	t.Logf("%d pushes landed, %d rejected; main at %.7s", len(landed), len(rejected), tip[0])
	if len(rejected) == 0 || len(landed) < 2 {
		t.Errorf("%d landed, %d rejected: the pushes did not race as intended", len(landed), len(rejected))
	}

	// Let the nowait pushes' deploys finish.
	deadline := time.Now().Add(3 * time.Minute)
	var deploys []apiv1.Deploy
	for {
		var err error
		if deploys, err = a.api.Deploys(ctx, "racy"); err != nil {
			t.Fatal(err)
		}
		busy := false
		for _, d := range deploys {
			busy = busy || !d.Finished()
		}
		if !busy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deploys still running after 3 minutes: %+v", deploys)
		}
		time.Sleep(200 * time.Millisecond)
	}
	builds, err := a.api.Builds(ctx, "racy")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range builds {
		if rejected[b.Ref] || rejected[b.Commit] {
			t.Errorf("build #%d is of %.7s, whose push git rejected", b.ID, b.Commit)
		}
	}
	if code, body := a.get("/racy/dev/site/version.txt"); code != 200 || body != landed[tip[0]] {
		t.Fatalf("dev serves %d %q; main is at %.7s, which says %q", code, body, tip[0], landed[tip[0]])
	}

	// An annotated tag that a stage follows builds the commit it points to.
	if _, err := a.api.UpdateStage(ctx, "racy", "dev", apiv1.StageRequest{Branch: "tag:v*"}); err != nil {
		t.Fatal(err)
	}
	repo.Git("fetch", "-q", remote, "main")
	repo.Git("reset", "-q", "--hard", "FETCH_HEAD")
	commit := repo.Commit("tagged", map[string]string{"site/version.txt": "tagged\n"})
	repo.Git("tag", "-a", "v1.0", "-m", "release 1.0")
	out, err := gitPush(t, repo, remote, "main", "v1.0")
	if err != nil || !strings.Contains(out, "tag v1.0 → build #") {
		t.Fatalf("push of an annotated tag: %v\n%s", err, out)
	}
	if code, body := a.get("/racy/dev/site/version.txt"); code != 200 || body != "tagged\n" {
		t.Fatalf("after the tag push dev serves %d %q", code, body)
	}
	builds, _ = a.api.Builds(ctx, "racy")
	tagged := false
	for _, b := range builds {
		tagged = tagged || (b.Commit == commit && b.Status == "succeeded")
	}
	if !tagged {
		t.Errorf("no succeeded build of the tagged commit %s: %+v", commit, builds)
	}
}

// A pusher who goes away while the push waits for its build refuses the
// push (the branch does not move), so what it started is cancelled: the
// stage keeps serving what the branch points to.
func TestGitPushAbandonedByPusher(t *testing.T) {
	t.Parallel()
	a := startApp(t, embedded)
	ctx := context.Background()
	if _, err := a.api.CreateApp(ctx, apiv1.CreateAppRequest{Name: "quitter"}); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(a.ConsoleURL(), "http://")
	remote := "http://admin:" + a.api.Token + "@" + host + "/git/quitter.git"
	repo := testutil.NewRepo(t)
	repo.Commit("v1", map[string]string{"seedbed.yml": staticSite, "site/version.txt": "v1\n"})
	if out, err := gitPush(t, repo, remote, "main"); err != nil {
		t.Fatalf("first push: %v\n%s", err, out)
	}
	before := remoteRefs(t, remote)

	slow := strings.Replace(staticSite, "    runtime: static\n", "    runtime: static\n    build: sleep 30 && mkdir -p public && cp version.txt public/\n    output: public\n", 1)
	repo.Commit("v2, slow to build", map[string]string{"seedbed.yml": slow, "site/version.txt": "v2\n"})
	cmd := exec.Command("git", "push", remote, "main")
	cmd.Dir = repo.Dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // git push and its git-remote-http
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var build apiv1.Build
	deadline := time.Now().Add(time.Minute)
	for build.Status != "running" {
		if time.Now().After(deadline) {
			t.Fatalf("the slow build did not start: %+v", build)
		}
		time.Sleep(100 * time.Millisecond)
		if bs, _ := a.api.Builds(ctx, "quitter"); len(bs) == 2 {
			build = bs[0]
		}
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Wait()

	var deploys []apiv1.Deploy
	for deadline = time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		deploys, _ = a.api.Deploys(ctx, "quitter")
		if len(deploys) == 2 && deploys[0].Finished() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the abandoned push's deploy did not end: %+v", deploys)
		}
	}
	if deploys[0].Status != "cancelled" {
		t.Errorf("the abandoned push's deploy ended %s (%s), want cancelled", deploys[0].Status, deploys[0].Error)
	}
	if after := remoteRefs(t, remote); after != before {
		t.Errorf("an abandoned push moved refs:\nbefore %s\nafter %s", before, after)
	}
	if _, body := a.get("/quitter/dev/site/version.txt"); body != "v1\n" {
		t.Errorf("after the abandoned push dev serves %q, want v1", body)
	}
}

// `git push --follow-tags` sends main and an annotated tag, whose ref
// names a tag object, in one push: main deploys to dev, the tag to the
// stage that follows tags (tag:v*) with the commit it names, and git takes
// both refs. Builds are listed under the branch or tag pushed.
func TestGitPushAnnotatedTagWithFollowTags(t *testing.T) {
	t.Parallel()
	a := startApp(t, embedded)
	ctx := context.Background()
	if _, err := a.api.CreateApp(ctx, apiv1.CreateAppRequest{Name: "tagged"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.api.UpdateStage(ctx, "tagged", "staging", apiv1.StageRequest{Branch: "tag:v*"}); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(a.ConsoleURL(), "http://")
	remote := "http://admin:" + a.api.Token + "@" + host + "/git/tagged.git"
	repo := testutil.NewRepo(t)
	// The build learns what it builds: SEEDBED_BRANCH is the branch
	// pushed, and empty for a tag.
	hooked := strings.Replace(staticSite, "    runtime: static\n", "    runtime: static\n    hooks:\n      before_build: [\"echo building branch=[$SEEDBED_BRANCH]\"]\n", 1)
	repo.Commit("v1", map[string]string{"seedbed.yml": hooked, "site/version.txt": "v1\n"})
	if out, err := gitPush(t, repo, remote, "main"); err != nil {
		t.Fatalf("first push: %v\n%s", err, out)
	}
	commit := repo.Commit("v2", map[string]string{"site/version.txt": "v2\n"})
	repo.Git("tag", "-a", "v2.0.0", "-m", "release 2.0.0")
	tagObject := strings.TrimSpace(repo.Git("rev-parse", "v2.0.0"))
	if tagObject == commit {
		t.Fatal("the tag is not annotated")
	}

	out, err := gitPush(t, repo, remote, "--follow-tags", "main")
	if err != nil || strings.Contains(out, "rejected") {
		t.Fatalf("push --follow-tags: %v\n%s", err, out)
	}
	for _, want := range []string{"branch main → build #", "tag v2.0.0 → build #", "live on dev", "live on staging", "building branch=[main]", "building branch=[]"} {
		if !strings.Contains(out, want) {
			t.Errorf("the push output lacks %q:\n%s", want, out)
		}
	}
	refs := remoteRefs(t, remote)
	for _, want := range []string{commit + "\trefs/heads/main", tagObject + "\trefs/tags/v2.0.0", commit + "\trefs/tags/v2.0.0^{}"} {
		if !strings.Contains(refs, want) {
			t.Errorf("the remote lacks %q:\n%s", want, refs)
		}
	}
	for _, stage := range []string{"dev", "staging"} {
		if code, body := a.get("/tagged/" + stage + "/site/version.txt"); code != 200 || body != "v2\n" {
			t.Errorf("%s serves %d %q, want v2", stage, code, body)
		}
	}
	tests := []struct {
		name  string
		query apiv1.BuildsQuery
		want  int
	}{
		{name: "the branch", query: apiv1.BuildsQuery{Ref: "main", Trigger: "push"}, want: 2},
		{name: "the tag", query: apiv1.BuildsQuery{Ref: "v2.0.0", Trigger: "push"}, want: 1},
		{name: "not by commit", query: apiv1.BuildsQuery{Ref: commit}, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs, err := a.api.ListBuilds(ctx, "tagged", tt.query)
			if err != nil || len(bs) != tt.want {
				t.Fatalf("builds %+v: %v, %+v; want %d", tt.query, err, bs, tt.want)
			}
			if tt.want > 0 && (bs[0].Commit != commit || bs[0].Ref != tt.query.Ref || bs[0].Status != "succeeded") {
				t.Errorf("newest build: ref %q, commit %s, %s; want %s at %s, succeeded", bs[0].Ref, bs[0].Commit, bs[0].Status, tt.query.Ref, commit)
			}
		})
	}
}

// A push shows the build command's own lines as it prints them, not when
// the build ends: each tick of a build that prints one every 400 ms
// reaches the pusher before the next one is printed; every line of a
// burst printed just before the build ends is shown; a deploy hook's line
// is shown with the stage's secret masked.
func TestGitPushStreamsBuildOutput(t *testing.T) {
	t.Parallel()
	a := startApp(t, embedded)
	ctx := context.Background()
	if _, err := a.api.CreateApp(ctx, apiv1.CreateAppRequest{Name: "ticker"}); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(a.ConsoleURL(), "http://")
	remote := "http://admin:" + a.api.Token + "@" + host + "/git/ticker.git"
	repo := testutil.NewRepo(t)
	ticking := strings.Replace(staticSite, "    runtime: static\n",
		"    runtime: static\n    hooks:\n      before_deploy: [\"echo token=$TOKEN\"]\n"+
			"    build: for i in 1 2 3 4 5; do echo tick $i; sleep 0.4; done; seq -f 'line %g' 1500; mkdir -p public && cp version.txt public/\n    output: public\n", 1)
	repo.Commit("v1", map[string]string{"seedbed.yml": ticking, "site/version.txt": "v1\n"})
	const secret = "s3cret-push-token-value"
	if err := a.api.SetVar(ctx, "ticker", "dev", "TOKEN", apiv1.SetVarRequest{Value: secret, Secret: true}); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command("git", "push", remote, "main")
	cmd.Dir = repo.Dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var (
		ticks []time.Time
		all   strings.Builder
	)
	tick := regexp.MustCompile(`^remote: +tick \d`)
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		all.WriteString(sc.Text() + "\n")
		if tick.MatchString(sc.Text()) {
			ticks = append(ticks, time.Now())
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("push: %v\n%s", err, all.String())
	}
	if len(ticks) != 5 {
		t.Fatalf("%d ticks shown, want 5:\n%s", len(ticks), all.String())
	}
	// The deploy hook's line is shown, the stage's secret in it masked.
	if !strings.Contains(all.String(), "token=••••••") || strings.Contains(all.String(), secret) {
		t.Errorf("the push shows no hook line, or the secret in it:\n%.3000s", all.String())
	}
	// 1,500 lines printed just before the build ends are all shown.
	if n := len(regexp.MustCompile(`(?m)^remote: +line \d+`).FindAllString(all.String(), -1)); n != 1500 {
		t.Errorf("%d of the 1500 lines printed at the end of the build shown", n)
	}
	for i := 1; i < len(ticks); i++ {
		if gap := ticks[i].Sub(ticks[i-1]); gap < 200*time.Millisecond {
			t.Errorf("tick %d came %s after tick %d: the lines arrived in a burst, not as printed\n%s", i+1, gap.Round(time.Millisecond), i, all.String())
		}
	}
}
