package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Roles, users and tokens through the CLI on the real app: an admin adds
// users and gives them roles; a viewer reads but cannot change variables, a
// deployer can; a user with no role sees no app; a revoked token stops
// working at once.
func TestAccessCLI(t *testing.T) {
	a := startApp(t, embedded)
	as := func(email, password string) cli {
		c := cli{t: t, env: map[string]string{"SEEDBED_CLI_CONFIG": filepath.Join(t.TempDir(), "cli.json")}}
		c.must("login", "--server", a.ConsoleURL(), "--email", email, "--password", password)
		return c
	}
	admin := as(adminEmail, adminPassword)
	repo := a.newAppRepoOnly()
	admin.must("apps", "create", "team-app", "--repo", repo.Dir)
	for _, email := range []string{"dee@example.com", "vic@example.com", "nora@example.com"} {
		if out := admin.must("users", "create", "--email", email, "--password", "long-enough"); !strings.Contains(out, "Created user "+email) {
			t.Fatalf("users create printed:\n%s", out)
		}
	}
	admin.must("members", "set", "team-app", "dee@example.com", "--role", "deployer")
	admin.must("members", "set", "team-app", "vic@example.com", "--role", "viewer")
	out := admin.must("members", "list", "team-app")
	for _, want := range []string{"admin@example.com", "owner", "dee@example.com", "deployer", "vic@example.com", "viewer"} {
		if !strings.Contains(out, want) {
			t.Fatalf("members list lacks %q:\n%s", want, out)
		}
	}

	dee, vic, nora := as("dee@example.com", "long-enough"), as("vic@example.com", "long-enough"), as("nora@example.com", "long-enough")
	if code, _, errOut := dee.run("users", "create", "--email", "x@example.com", "--password", "long-enough"); code != 1 || !strings.Contains(errOut, "Only admins") {
		t.Fatalf("a non-admin adds a user: exit %d, %q", code, errOut)
	}
	dee.must("env", "set", "team-app", "--stage", "dev", "GREETING=hello")
	if code, _, errOut := vic.run("env", "set", "team-app", "--stage", "dev", "GREETING=bye"); code != 1 || !strings.Contains(errOut, "needs the deployer role") {
		t.Fatalf("a viewer sets a variable: exit %d, %q; want a refusal naming the role", code, errOut)
	}
	if out := vic.must("env", "list", "team-app", "--stage", "dev"); !strings.Contains(out, "hello") {
		t.Fatalf("a viewer reads plain variables:\n%s", out)
	}
	if code, _, errOut := vic.run("deploy", "team-app", "--stage", "dev"); code != 1 || !strings.Contains(errOut, "needs the deployer role") {
		t.Fatalf("a viewer deploys: exit %d, %q", code, errOut)
	}
	if code, _, errOut := dee.run("members", "set", "team-app", "vic@example.com", "--role", "owner"); code != 1 || !strings.Contains(errOut, "needs the owner role") {
		t.Fatalf("a deployer makes an owner: exit %d, %q", code, errOut)
	}
	if out := nora.must("apps", "list"); strings.Contains(out, "team-app") {
		t.Fatalf("a user with no role lists the app:\n%s", out)
	}
	if code, _, errOut := nora.run("env", "list", "team-app", "--stage", "dev"); code != 1 || !strings.Contains(errOut, `No app named "team-app"`) {
		t.Fatalf("a user with no role reads the app: exit %d, %q", code, errOut)
	}

	out = dee.must("tokens", "create", "ci")
	tok := regexp.MustCompile(`sbt_\S+`).FindString(out)
	id := regexp.MustCompile(`#(\d+)`).FindStringSubmatch(out)
	if tok == "" || id == nil {
		t.Fatalf("tokens create printed:\n%s", out)
	}
	ci := cli{t: t, env: map[string]string{"SEEDBED_SERVER": a.ConsoleURL(), "SEEDBED_TOKEN": tok, "SEEDBED_CLI_CONFIG": filepath.Join(t.TempDir(), "none.json")}}
	if out := ci.must("apps", "list"); !strings.Contains(out, "team-app") {
		t.Fatalf("apps list with the new token:\n%s", out)
	}
	dee.must("tokens", "revoke", id[1])
	if code, _, errOut := ci.run("apps", "list"); code != 1 || !strings.Contains(errOut, "revoked") {
		t.Fatalf("a revoked token: exit %d, %q; want it refused at once", code, errOut)
	}
	if out := dee.must("tokens", "list"); !strings.Contains(out, "revoked") {
		t.Fatalf("tokens list does not show the revoked token:\n%s", out)
	}
	admin.must("members", "remove", "team-app", "vic@example.com")
	if code, _, _ := vic.run("env", "list", "team-app", "--stage", "dev"); code != 1 {
		t.Fatal("a removed member still reads the app")
	}
}
