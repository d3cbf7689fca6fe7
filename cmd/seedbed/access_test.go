package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/web/apiv1"
)

// Roles, users and tokens through the CLI on the real app: an admin adds
// users and gives them roles; a viewer reads but cannot change variables, a
// deployer can; a user with no role sees no app; a revoked token stops
// working at once.
func TestAccessCLI(t *testing.T) {
	t.Parallel()
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

// rebindingDNS is the resolver the server checks repository URLs with when
// they are saved: it says localhost is a public address. The fetch then
// resolves localhost for real, to 127.0.0.1, as a DNS-rebinding name would
// answer once the URL was accepted.
type rebindingDNS struct{}

func (rebindingDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if host == "localhost" {
		return []netip.Addr{netip.MustParseAddr("140.82.121.3")}, nil
	}
	return net.DefaultResolver.LookupNetIP(context.Background(), "ip", host)
}

// serveGitHTTP serves repo over http with the real git http-backend on
// 127.0.0.1 and returns its clone URL's port and path.
func serveGitHTTP(t *testing.T, repo string) (port, path string) {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	srv := httptest.NewServer(&cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + filepath.Dir(repo), "GIT_HTTP_EXPORT_ALL=1"}})
	t.Cleanup(srv.Close)
	_, port, _ = net.SplitHostPort(srv.Listener.Addr().String())
	return port, "/" + filepath.Base(repo)
}

// Who may create apps, and from where, on the real server through the CLI
// and the API: a plain user may not create apps; an admin marks them a
// creator; a creator may not use a local path or a loopback URL; an admin
// may use a local path but not one inside the data dir (another app's
// built-in remote); and a name that resolved to a public address when the
// app was created and resolves to 127.0.0.1 when it is fetched is refused
// at fetch time, with an error naming the rule and the setting.
func TestCreatorsAndRepositoryRules(t *testing.T) {
	t.Parallel()
	a := startAppWith(t, embedded, func(c *Config) { c.RepoResolver = rebindingDNS{} })
	ctx := context.Background()
	as := func(email, password string) cli {
		c := cli{t: t, env: map[string]string{"SEEDBED_CLI_CONFIG": filepath.Join(t.TempDir(), "cli.json")}}
		c.must("login", "--server", a.ConsoleURL(), "--email", email, "--password", password)
		return c
	}
	admin := as(adminEmail, adminPassword)
	repo := a.newAppRepoOnly()
	port, path := serveGitHTTP(t, repo.Dir)
	admin.must("users", "create", "--email", "pat@example.com", "--password", "long-enough")
	pat := as("pat@example.com", "long-enough")
	login, err := apiv1.NewClient(a.ConsoleURL(), "").Login(ctx, apiv1.LoginRequest{Email: "pat@example.com", Password: "long-enough"})
	if err != nil {
		t.Fatal(err)
	}
	patAPI := apiv1.NewClient(a.ConsoleURL(), login.Token)

	// A plain user creates no app, by the CLI or the API.
	if code, _, errOut := pat.run("apps", "create", "pats", "--repo", "https://140.82.121.3/acme/pats.git"); code != 1 || !strings.Contains(errOut, "creators") || !strings.Contains(errOut, "--creator") {
		t.Fatalf("a plain user creates an app: exit %d, %q; want a refusal naming the creator mark", code, errOut)
	}
	var he *apiv1.APIError
	if _, err := patAPI.CreateApp(ctx, apiv1.CreateAppRequest{Name: "pats", RepoURL: "https://140.82.121.3/acme/pats.git"}); !errors.As(err, &he) || he.Status != http.StatusForbidden {
		t.Fatalf("a plain user creates an app by the API: %v, want 403", err)
	}
	if code, _, errOut := pat.run("users", "update", "pat@example.com", "--creator"); code != 1 || !strings.Contains(errOut, "Only admins") {
		t.Fatalf("a plain user makes themself a creator: exit %d, %q", code, errOut)
	}

	// An admin marks them a creator.
	if out := admin.must("users", "update", "pat@example.com", "--creator"); !strings.Contains(out, "creator: true") {
		t.Fatalf("users update printed:\n%s", out)
	}
	if out := admin.must("users", "list"); !regexp.MustCompile(`pat@example\.com\s+no\s+no\s+yes`).MatchString(out) {
		t.Fatalf("users list does not show pat as a creator:\n%s", out)
	}

	// A creator may not read the server's disk or its loopback.
	for _, tt := range []struct{ name, repo, says string }{
		{"local path", repo.Dir, "for admins only"},
		{"file URL", "file://" + repo.Dir, "for admins only"},
		{"loopback URL", "http://127.0.0.1:" + port + path, "SEEDBED_ALLOW_PRIVATE_REPOS"},
		{"the server's own built-in remote", a.ConsoleURL() + "/git/pushonly.git", "loopback"},
	} {
		if code, _, errOut := pat.run("apps", "create", "pats", "--repo", tt.repo); code != 1 || !strings.Contains(errOut, tt.says) {
			t.Fatalf("%s: a creator creates an app from %s: exit %d, %q; want a refusal saying %q", tt.name, tt.repo, code, errOut, tt.says)
		}
	}

	// An admin may use a local path, but no app may read the data dir:
	// another app's built-in remote is where the attack would point.
	admin.must("apps", "create", "pushonly")
	thief := filepath.Join(a.cfg.DataDir, "git", "pushonly.git")
	if code, _, errOut := admin.run("apps", "create", "thief", "--repo", thief); code != 1 || !strings.Contains(errOut, "data dir") {
		t.Fatalf("an admin points an app at another app's built-in remote: exit %d, %q", code, errOut)
	}
	admin.must("apps", "create", "local-ok", "--repo", repo.Dir)

	// A name that resolves to loopback is refused when the app is created
	// (its repository is read then) ...
	if code, _, errOut := pat.run("apps", "create", "rebind", "--repo", "http://localhost:"+port+path); code != 1 || !strings.Contains(errOut, "cannot read repository") || !strings.Contains(errOut, "loopback") {
		t.Fatalf("a creator creates an app from a name resolving to loopback: exit %d, %q", code, errOut)
	}
	// ... and, as with DNS rebinding (a public address when created),
	// when fetched.
	pat.must("apps", "create", "rebind", "--repo", "http://localhost:"+port+path, "--no-check")
	code, out, errOut := pat.run("deploy", "rebind", "--stage", "dev", "--wait")
	if code == 0 || !strings.Contains(out+errOut, "127.0.0.1 is a loopback address") || !strings.Contains(out+errOut, "SEEDBED_ALLOW_PRIVATE_REPOS") {
		t.Fatalf("deploy of an app whose host now resolves to loopback: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// With --allow-private-repos the operator lets apps fetch from this host
// and its network: the same loopback repository builds.
func TestAllowPrivateRepos(t *testing.T) {
	t.Parallel()
	a := startAppWith(t, embedded, func(c *Config) { c.AllowPrivateRepos = true })
	repo := a.newAppRepoOnly()
	port, path := serveGitHTTP(t, repo.Dir)
	if _, err := a.api.CreateApp(context.Background(), apiv1.CreateAppRequest{Name: "lan", RepoURL: "http://localhost:" + port + path, Branch: "main"}); err != nil {
		t.Fatal(err)
	}
	d, b := a.deploy("lan", "dev", "")
	if d.Status != "succeeded" {
		t.Fatalf("deploy from a loopback repository with the setting on: %s (build %s: %s)", d.Status, b.Status, b.Error)
	}
}
