package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// cli runs the seedbed command in-process with its own environment.
type cli struct {
	t   *testing.T
	env map[string]string
}

func (c cli) run(args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, func(k string) string { return c.env[k] }, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func (c cli) must(args ...string) string {
	c.t.Helper()
	code, out, errOut := c.run(args...)
	if code != 0 {
		c.t.Fatalf("seedbed %s exited %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// The CLI does the whole path: login, create an app, deploy and wait, list
// builds, read logs; and it fails loudly when a deploy fails.
func TestCLI(t *testing.T) {
	t.Parallel()
	a := startApp(t, embedded)
	c := cli{t: t, env: map[string]string{"SEEDBED_CLI_CONFIG": filepath.Join(t.TempDir(), "cli.json")}}

	if code, _, errOut := c.run("apps", "list"); code != 1 || !strings.Contains(errOut, "seedbed login") {
		t.Fatalf("apps list before login: exit %d, %q; want 1 and a hint to log in", code, errOut)
	}
	if code, _, errOut := c.run("login", "--server", a.ConsoleURL(), "--email", adminEmail, "--password", "wrong-password"); code != 1 || !strings.Contains(errOut, "Wrong email or password") {
		t.Fatalf("login with a wrong password: exit %d, %q", code, errOut)
	}
	c.must("login", "--server", a.ConsoleURL(), "--email", adminEmail, "--password", adminPassword)

	repo := a.newAppRepoOnly()
	out := c.must("apps", "create", "cli-app", "--repo", repo.Dir, "--branch", "main")
	if !strings.Contains(out, "Created app cli-app") || !strings.Contains(out, "/cli-app/dev/") {
		t.Fatalf("apps create printed:\n%s", out)
	}
	if code, _, errOut := c.run("apps", "create", "cli-app", "--repo", repo.Dir); code != 1 || !strings.Contains(errOut, "exists already") {
		t.Fatalf("duplicate app: exit %d, %q", code, errOut)
	}
	// A repository Seedbed cannot read is refused at creation, saying
	// what failed; --no-check takes one that will exist later.
	if code, _, errOut := c.run("apps", "create", "ghost", "--repo", "/does/not/exist"); code != 1 || !strings.Contains(errOut, "cannot read repository /does/not/exist") || !strings.Contains(errOut, "--no-check") {
		t.Fatalf("apps create with a missing repository: exit %d, %q", code, errOut)
	}
	if out := c.must("apps", "create", "ghost", "--repo", "/does/not/exist", "--no-check"); !strings.Contains(out, "Created app ghost") {
		t.Fatalf("apps create --no-check printed:\n%s", out)
	}
	if out := c.must("apps", "list"); !strings.Contains(out, "cli-app") {
		t.Fatalf("apps list:\n%s", out)
	}

	out = c.must("deploy", "cli-app", "--stage", "dev", "--wait")
	for _, want := range []string{"Build #", "Build succeeded", "Deploy succeeded", "Live on dev: " + a.gateway + "/cli-app/dev/"} {
		if !strings.Contains(out, want) {
			t.Errorf("deploy --wait output lacks %q:\n%s", want, out)
		}
	}
	if code, body := a.get("/cli-app/dev/hello"); code != 200 || body != "v1 hi /hello" {
		t.Fatalf("after the CLI deploy: %d %q", code, body)
	}

	out = c.must("builds", "list", "cli-app")
	id := regexp.MustCompile(`(?m)^(\d+)\s+succeeded\s+main`).FindStringSubmatch(out)
	if id == nil {
		t.Fatalf("builds list:\n%s", out)
	}
	if out := c.must("builds", "logs", id[1]); !strings.Contains(out, "Build succeeded") {
		t.Fatalf("builds logs:\n%s", out)
	}
	if out := c.must("builds", "logs", id[1], "--follow"); !strings.Contains(out, "Build succeeded") {
		t.Fatalf("builds logs --follow:\n%s", out)
	}

	// A deploy whose build fails exits non-zero and says why.
	repo.Commit("break it", map[string]string{"services/api/main.go": "package main\n\nfunc main() { undefined() }\n"})
	code, out, errOut := c.run("deploy", "cli-app", "--wait")
	if code == 0 || !strings.Contains(errOut, "failed") || !strings.Contains(out, "undefined") {
		t.Fatalf("deploy of a broken build: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}

	// SEEDBED_SERVER and SEEDBED_TOKEN override the saved login.
	c.env["SEEDBED_TOKEN"] = "sbt_not-a-real-token"
	if code, _, errOut := c.run("apps", "list"); code != 1 || !strings.Contains(errOut, "unknown or revoked") {
		t.Fatalf("apps list with a bad SEEDBED_TOKEN: exit %d, %q", code, errOut)
	}
}

// An app without a repository is created from the CLI too, and told how to
// push to it.
func TestCLIAppWithoutRepository(t *testing.T) {
	t.Parallel()
	a := startApp(t, embedded)
	c := cli{t: t, env: map[string]string{"SEEDBED_CLI_CONFIG": filepath.Join(t.TempDir(), "cli.json")}}
	c.must("login", "--server", a.ConsoleURL(), "--email", adminEmail, "--password", adminPassword)
	out := c.must("apps", "create", "pushonly")
	for _, want := range []string{"code by git push", "git remote add seedbed " + a.ConsoleURL() + "/git/pushonly.git", "git push seedbed main"} {
		if !strings.Contains(out, want) {
			t.Errorf("apps create without --repo lacks %q:\n%s", want, out)
		}
	}
}
