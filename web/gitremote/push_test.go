package gitremote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestPush walks one app through the pushes a user makes: each step runs
// the real git against the server and checks what OnPush saw and what the
// bare repository holds afterwards.
func TestPush(t *testing.T) {
	f := setup(t)
	work := f.workRepo(t)
	remote := f.url("app", testToken)

	t.Run("first push", func(t *testing.T) {
		head := f.mustGit(t, work, "rev-parse", "HEAD")
		_, stderr, err := f.run(t, work, "push", remote, "main")
		if err != nil {
			t.Fatalf("push: %v\n%s", err, stderr)
		}
		pushes := f.takePushes()
		if len(pushes) != 1 {
			t.Fatalf("OnPush saw %d pushes, want 1", len(pushes))
		}
		p := pushes[0]
		want := []RefUpdate{{Ref: "refs/heads/main", Old: ZeroID, New: head}}
		if !reflect.DeepEqual(p.Updates, want) || p.App != "app" || p.User != testUser || len(p.Options) != 0 {
			t.Errorf("OnPush saw %+v, want app %q, user %q, updates %v, no options", p.Push, "app", testUser, want)
		}
		if p.RepoDir != f.repoDir("app") {
			t.Errorf("RepoDir = %q, want %q", p.RepoDir, f.repoDir("app"))
		}
		if p.objectType[head] != "commit" {
			t.Errorf("while OnPush ran, the pushed commit was %q in the repository, want readable as a commit", p.objectType[head])
		}
		if p.refBefore["refs/heads/main"] != "" {
			t.Errorf("main already pointed at %s while OnPush ran", p.refBefore["refs/heads/main"])
		}
		wantLines := []string{"Seedbed: build 1 queued", "Seedbed: checkout done", "Seedbed: deployed to dev"}
		if got := remoteLines(stderr); !containsInOrder(got, wantLines) {
			t.Errorf("remote lines %q do not contain %q in order", got, wantLines)
		}
		if got := f.bareRef(t, "app", "refs/heads/main"); got != head {
			t.Errorf("bare main = %q, want %s", got, head)
		}
	})

	t.Run("fast-forward push shows progress live", func(t *testing.T) {
		old := f.mustGit(t, work, "rev-parse", "HEAD")
		head := f.commit(t, work, "app.txt", "v2\n")
		release := make(chan struct{})
		f.setRespond(func(ctx context.Context, _ Push, progress io.Writer) error {
			fmt.Fprintln(progress, "Seedbed: waiting for build 2")
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
			fmt.Fprintln(progress, "Seedbed: build 2 passed")
			return nil
		})
		t.Cleanup(func() { f.setRespond(nil) })
		cmd := f.command(work, "push", remote, "main")
		stderrPipe, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// OnPush is still blocked here: the line must have crossed git,
		// the hook and HTTP on its own, not with the end of the push.
		rest, seen := waitForLine(t, stderrPipe, "Seedbed: waiting for build 2", 10*time.Second)
		close(release)
		tail, _ := io.ReadAll(rest)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("push: %v\n%s%s", err, seen, tail)
		}
		if !strings.Contains(string(tail), "remote: Seedbed: build 2 passed") {
			t.Errorf("final progress line missing from %q", tail)
		}
		pushes := f.takePushes()
		want := []RefUpdate{{Ref: "refs/heads/main", Old: old, New: head}}
		if len(pushes) != 1 || !reflect.DeepEqual(pushes[0].Updates, want) {
			t.Errorf("OnPush saw %+v, want %v", pushes, want)
		}
		if got := f.bareRef(t, "app", "refs/heads/main"); got != head {
			t.Errorf("bare main = %q, want %s", got, head)
		}
	})

	t.Run("force push", func(t *testing.T) {
		old := f.mustGit(t, work, "rev-parse", "HEAD")
		f.mustGit(t, work, "commit", "--quiet", "--amend", "-m", "rewritten")
		head := f.mustGit(t, work, "rev-parse", "HEAD")
		if _, stderr, err := f.run(t, work, "push", remote, "main"); err == nil {
			t.Fatalf("a non-fast-forward push without --force was accepted:\n%s", stderr)
		}
		f.takePushes() // git refuses it before any hook
		if _, stderr, err := f.run(t, work, "push", "--force", remote, "main"); err != nil {
			t.Fatalf("force push: %v\n%s", err, stderr)
		}
		pushes := f.takePushes()
		want := []RefUpdate{{Ref: "refs/heads/main", Old: old, New: head}}
		if len(pushes) != 1 || !reflect.DeepEqual(pushes[0].Updates, want) {
			t.Errorf("OnPush saw %+v, want %v", pushes, want)
		}
		if got := f.bareRef(t, "app", "refs/heads/main"); got != head {
			t.Errorf("bare main = %q, want %s", got, head)
		}
	})

	t.Run("tag", func(t *testing.T) {
		f.mustGit(t, work, "tag", "--annotate", "-m", "first release", "v1.0.0")
		tag := f.mustGit(t, work, "rev-parse", "v1.0.0")
		if _, stderr, err := f.run(t, work, "push", remote, "v1.0.0"); err != nil {
			t.Fatalf("push tag: %v\n%s", err, stderr)
		}
		pushes := f.takePushes()
		want := []RefUpdate{{Ref: "refs/tags/v1.0.0", Old: ZeroID, New: tag}}
		if len(pushes) != 1 || !reflect.DeepEqual(pushes[0].Updates, want) {
			t.Fatalf("OnPush saw %+v, want %v", pushes, want)
		}
		if pushes[0].objectType[tag] != "tag" {
			t.Errorf("while OnPush ran, the tag object was %q", pushes[0].objectType[tag])
		}
		if got := f.bareRef(t, "app", "refs/tags/v1.0.0"); got != tag {
			t.Errorf("bare tag = %q, want %s", got, tag)
		}
	})

	t.Run("delete a branch", func(t *testing.T) {
		head := f.mustGit(t, work, "rev-parse", "HEAD")
		if _, stderr, err := f.run(t, work, "push", remote, "main:refs/heads/feature"); err != nil {
			t.Fatalf("push feature: %v\n%s", err, stderr)
		}
		f.takePushes()
		if _, stderr, err := f.run(t, work, "push", remote, ":feature"); err != nil {
			t.Fatalf("delete feature: %v\n%s", err, stderr)
		}
		pushes := f.takePushes()
		want := []RefUpdate{{Ref: "refs/heads/feature", Old: head, New: ZeroID}}
		if len(pushes) != 1 || !reflect.DeepEqual(pushes[0].Updates, want) {
			t.Errorf("OnPush saw %+v, want %v", pushes, want)
		}
		if got := f.bareRef(t, "app", "refs/heads/feature"); got != "" {
			t.Errorf("feature still exists at %s", got)
		}
	})

	t.Run("push options", func(t *testing.T) {
		head := f.commit(t, work, "app.txt", "v3\n")
		if _, stderr, err := f.run(t, work, "push", "-o", "nowait", "-o", "stage=dev", remote, "main"); err != nil {
			t.Fatalf("push: %v\n%s", err, stderr)
		}
		pushes := f.takePushes()
		if len(pushes) != 1 || !reflect.DeepEqual(pushes[0].Options, []string{"nowait", "stage=dev"}) {
			t.Fatalf("OnPush saw %+v, want options [nowait stage=dev]", pushes)
		}
		if got := f.bareRef(t, "app", "refs/heads/main"); got != head {
			t.Errorf("bare main = %q, want %s", got, head)
		}
	})

	t.Run("up to date push calls nothing", func(t *testing.T) {
		if _, stderr, err := f.run(t, work, "push", remote, "main"); err != nil {
			t.Fatalf("push: %v\n%s", err, stderr)
		}
		if pushes := f.takePushes(); len(pushes) != 0 {
			t.Errorf("OnPush saw %+v for a push with nothing to update", pushes)
		}
	})
}

// TestPushRefused checks that an error from OnPush refuses the whole push,
// reaches the pusher, and leaves every ref as it was.
func TestPushRefused(t *testing.T) {
	f := setup(t)
	work := f.workRepo(t)
	remote := f.url("app", testToken)
	f.setRespond(func(_ context.Context, _ Push, progress io.Writer) error {
		fmt.Fprintln(progress, "Seedbed: build 7 running")
		return errors.New("build 7 failed: go build exited with status 1\nsee http://seedbed.test/builds/7")
	})

	tests := []struct {
		name    string
		prepare func(t *testing.T)
	}{
		{name: "first push", prepare: func(*testing.T) {}},
		{name: "later push", prepare: func(t *testing.T) {
			f.setRespond(nil)
			f.mustGit(t, work, "push", "--quiet", remote, "main")
			f.takePushes()
			f.commit(t, work, "broken.go", "package main\n")
			f.setRespond(func(_ context.Context, _ Push, progress io.Writer) error {
				fmt.Fprintln(progress, "Seedbed: build 7 running")
				return errors.New("build 7 failed: go build exited with status 1\nsee http://seedbed.test/builds/7")
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.prepare(t)
			before := f.bareRef(t, "app", "refs/heads/main")
			_, stderr, err := f.run(t, work, "push", remote, "main")
			t.Logf("git push said:\n%s", stderr)
			if err == nil {
				t.Fatalf("push succeeded although OnPush refused it:\n%s", stderr)
			}
			lines := remoteLines(stderr)
			want := []string{"Seedbed: build 7 running", "error: build 7 failed: go build exited with status 1", "see http://seedbed.test/builds/7"}
			if !containsInOrder(lines, want) {
				t.Errorf("remote lines %q do not contain %q in order", lines, want)
			}
			if !strings.Contains(stderr, "[remote rejected] main -> main (pre-receive hook declined)") {
				t.Errorf("git does not report the ref as rejected:\n%s", stderr)
			}
			if got := f.bareRef(t, "app", "refs/heads/main"); got != before {
				t.Errorf("bare main = %q after a refused push, want %q", got, before)
			}
			if n := len(f.takePushes()); n != 1 {
				t.Errorf("OnPush saw %d pushes, want 1", n)
			}
		})
	}
}

// TestPushBadCredentials checks that a push without a valid token is
// refused before anything is stored or asked.
func TestPushBadCredentials(t *testing.T) {
	f := setup(t)
	work := f.workRepo(t)
	tests := []struct {
		name   string
		remote string
	}{
		{name: "wrong token", remote: f.url("app", "sbt_wrong")},
		{name: "no credentials", remote: f.base + "/git/app.git"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, err := f.run(t, work, "push", tt.remote, "main")
			if err == nil {
				t.Fatalf("push succeeded:\n%s", stderr)
			}
			if !strings.Contains(stderr, "Authentication failed") && !strings.Contains(stderr, "could not read Username") {
				t.Errorf("git does not say authentication failed:\n%s", stderr)
			}
			if _, err := os.Stat(f.repoDir("app")); !os.IsNotExist(err) {
				t.Errorf("the bare repository exists after a refused push (stat: %v)", err)
			}
			if n := len(f.takePushes()); n != 0 {
				t.Errorf("OnPush saw %d pushes", n)
			}
		})
	}
}

// TestPushNotThroughSeedbed checks that the installed hook refuses a push
// that reaches the bare repository some other way, so that OnPush sees
// every push.
func TestPushNotThroughSeedbed(t *testing.T) {
	f := setup(t)
	work := f.workRepo(t)
	if _, err := f.srv.EnsureRepo("app"); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := f.run(t, work, "push", f.repoDir("app"), "main")
	if err == nil {
		t.Fatalf("a direct push was accepted:\n%s", stderr)
	}
	if !strings.Contains(stderr, "takes pushes only through Seedbed's git remote") {
		t.Errorf("the refusal does not say why:\n%s", stderr)
	}
	if got := f.bareRef(t, "app", "refs/heads/main"); got != "" {
		t.Errorf("main = %s after a refused push", got)
	}
}

// TestLargePush pushes a few MB of incompressible files, which git sends
// as a chunked body after a probe request.
func TestLargePush(t *testing.T) {
	f := setup(t)
	work := f.workRepo(t)
	writeRandomFiles(t, work, 3, 1500<<10)
	f.mustGit(t, work, "add", ".")
	f.mustGit(t, work, "commit", "--quiet", "-m", "data")
	head := f.mustGit(t, work, "rev-parse", "HEAD")
	if _, stderr, err := f.run(t, work, "push", f.url("app", testToken), "main"); err != nil {
		t.Fatalf("push: %v\n%s", err, stderr)
	}
	pushes := f.takePushes()
	if len(pushes) != 1 || pushes[0].objectType[head] != "commit" {
		t.Fatalf("OnPush saw %+v, want one push with the commit readable", pushes)
	}
	if got := f.bareRef(t, "app", "refs/heads/main"); got != head {
		t.Errorf("bare main = %q, want %s", got, head)
	}
	if !strings.Contains(f.logs.String(), "content_length=-1") {
		t.Errorf("no chunked push body in the log; the test did not exercise git's large-push path")
	}
	clone := filepath.Join(t.TempDir(), "clone")
	f.mustGit(t, "", "clone", "--quiet", f.url("app", testToken), clone)
	if got := f.mustGit(t, clone, "rev-parse", "HEAD"); got != head {
		t.Errorf("clone HEAD = %s, want %s", got, head)
	}
}

// TestPushTooLarge checks the size limit: nothing is stored, OnPush is not
// asked, and the pusher learns why.
func TestPushTooLarge(t *testing.T) {
	f := setup(t, func(c *Config) { c.MaxPushBytes = 1 << 20 })
	tests := []struct {
		name       string
		size       int
		wantStderr string
	}{
		// Up to twice the limit the server reads the rest and answers
		// with git's own report.
		{name: "over the limit", size: 1500 << 10, wantStderr: "larger than Seedbed's limit of 1 MiB"},
		{name: "far over the limit", size: 3 << 20, wantStderr: "413"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			work := f.workRepo(t)
			writeRandomFiles(t, work, 1, tt.size)
			f.mustGit(t, work, "add", ".")
			f.mustGit(t, work, "commit", "--quiet", "-m", "too big")
			_, stderr, err := f.run(t, work, "push", f.url("app", testToken), "main")
			t.Logf("git push said:\n%s", stderr)
			if err == nil {
				t.Fatalf("push succeeded:\n%s", stderr)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr does not contain %q:\n%s", tt.wantStderr, stderr)
			}
			if got := f.bareRef(t, "app", "refs/heads/main"); got != "" {
				t.Errorf("main = %s after a refused push", got)
			}
			if n := len(f.takePushes()); n != 0 {
				t.Errorf("OnPush saw %d pushes", n)
			}
			if spools, _ := filepath.Glob(filepath.Join(f.reposDir, spoolPattern)); len(spools) != 0 {
				t.Errorf("spools left behind: %v", spools)
			}
		})
	}
}

// TestPushConcurrentFirstPushes checks that two first pushes to a new app
// racing each other both land in the same repository.
func TestPushConcurrentFirstPushes(t *testing.T) {
	f := setup(t)
	work := f.workRepo(t)
	head := f.mustGit(t, work, "rev-parse", "HEAD")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, branch := range []string{"one", "two"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, stderr, err := f.run(t, work, "push", f.url("other", testToken), "main:refs/heads/"+branch); err != nil {
				errs[i] = fmt.Errorf("push %s: %w\n%s", branch, err, stderr)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	for _, ref := range []string{"refs/heads/one", "refs/heads/two"} {
		if got := f.bareRef(t, "other", ref); got != head {
			t.Errorf("%s = %q, want %s", ref, got, head)
		}
	}
	// Neither branch is main: HEAD must still lead a clone to a branch.
	clone := filepath.Join(t.TempDir(), "clone")
	_, stderr, err := f.run(t, "", "clone", f.url("other", testToken), clone)
	if err != nil || strings.Contains(stderr, "nonexistent ref") {
		t.Fatalf("clone: %v\n%s", err, stderr)
	}
	if got := f.mustGit(t, clone, "rev-parse", "HEAD"); got != head {
		t.Errorf("clone HEAD = %s, want %s", got, head)
	}
}

// writeRandomFiles writes n files of size incompressible bytes into dir.
func writeRandomFiles(t *testing.T, dir string, n, size int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(n), uint64(size)))
	for i := range n {
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("data-%d.bin", i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
