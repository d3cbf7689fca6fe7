package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web/apiv1"
)

const (
	adminEmail    = "admin@example.com"
	adminPassword = "correct-horse"
)

// backend names the database and queue a test app runs on.
type backend struct {
	name     string
	database func(t *testing.T, dataDir string) string
	redis    func(t *testing.T) string
}

var (
	embedded = backend{"sqlite+embedded-queue",
		func(t *testing.T, dir string) string { return filepath.Join(dir, "seedbed.db") },
		func(t *testing.T) string { return "" }}
	servers = backend{"postgres+redis",
		func(t *testing.T, _ string) string { return testutil.PostgresURL(t) },
		func(t *testing.T) string { return testutil.RedisURL(t) }}
)

// Which tests run in parallel (t.Parallel, two at a time by default):
// those that boot their own Seedbed and spend much of their time waiting
// for builds, deploys, retries and visibility timeouts. Each has its own data
// dir, PostgreSQL database, Redis database and ports, so nothing is shared
// but the machine. Tests stay serial when they time something against a
// bound (server timeouts, schedule lag, a restart under load, scaling, the
// zero-failure deploy), drive Chromium, or switch build users: two of them
// at once on a 2-core machine would measure each other.

// testApp is a Seedbed booted in-process, with a signed-in API client.
type testApp struct {
	*App
	t       *testing.T
	cfg     Config
	api     *apiv1.Client
	gateway string
}

// startApp boots Seedbed on port 0 with a fresh data dir.
func startApp(t *testing.T, be backend) *testApp {
	t.Helper()
	return startAppWith(t, be, nil)
}

// startAppWith is startApp with edit changing the configuration first.
func startAppWith(t *testing.T, be backend, edit func(*Config)) *testApp {
	t.Helper()
	dir := t.TempDir()
	cfg := Config{
		Addr: "127.0.0.1:0", GatewayAddr: "127.0.0.1:0", DataDir: dir,
		DatabaseURL: be.database(t, dir), RedisURL: be.redis(t), Domain: "localhost",
		Workers: 4, AdminEmail: adminEmail, AdminPassword: adminPassword,
		BuildTimeout: 5 * time.Minute, BuildEnv: testutil.GoEnv(t), Deploys: true, Builds: true,
	}
	if edit != nil {
		edit(&cfg)
	}
	return bootApp(t, cfg)
}

func bootApp(t *testing.T, cfg Config) *testApp {
	t.Helper()
	if err := cfg.finish(nil); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx := context.Background()
	app, err := NewApp(ctx, cfg, log)
	if err != nil {
		t.Fatalf("boot seedbed: %v", err)
	}
	closed := false
	stop := func() {
		if !closed {
			closed = true
			app.Close(ctx)
		}
	}
	t.Cleanup(stop)
	if err := app.Start(ctx); err != nil {
		t.Fatalf("start seedbed: %v", err)
	}
	api := apiv1.NewClient(app.ConsoleURL(), "")
	resp, err := api.Login(ctx, apiv1.LoginRequest{Email: adminEmail, Password: adminPassword})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	api.Token = resp.Token
	return &testApp{App: app, t: t, cfg: cfg, api: api, gateway: app.GatewayURL()}
}

// testWriter sends the server's log to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// waitDeploy waits until a deploy has finished and returns it.
func (a *testApp) waitDeploy(id uint) apiv1.Deploy {
	a.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		d, err := a.api.GetDeploy(ctx, id)
		if err != nil {
			a.t.Fatalf("get deploy %d: %v", id, err)
		}
		if d.Finished() {
			return d
		}
		time.Sleep(100 * time.Millisecond)
	}
	a.t.Fatalf("deploy %d did not finish in 3 minutes", id)
	return apiv1.Deploy{}
}

// deploy starts a deploy of ref to stage and waits for it.
func (a *testApp) deploy(app, stage, ref string) (apiv1.Deploy, apiv1.Build) {
	a.t.Helper()
	resp, err := a.api.Deploy(context.Background(), app, apiv1.DeployRequest{Stage: stage, Ref: ref})
	if err != nil {
		a.t.Fatalf("deploy %s to %s: %v", app, stage, err)
	}
	d := a.waitDeploy(resp.Deploy.ID)
	b, err := a.api.Build(context.Background(), resp.Build.ID)
	if err != nil {
		a.t.Fatal(err)
	}
	return d, b
}

// mustDeploy deploys and fails the test unless the deploy succeeded.
func (a *testApp) mustDeploy(app, stage, ref string) apiv1.Deploy {
	a.t.Helper()
	d, b := a.deploy(app, stage, ref)
	if d.Status != "succeeded" {
		a.t.Fatalf("deploy %d of %s to %s: %s: %s\nbuild %d %s: %s\n%s", d.ID, app, stage, d.Status, d.Error, b.ID, b.Status, b.Error, a.logText("build", b.ID)+a.logText("deploy", d.ID))
	}
	return d
}

func (a *testApp) logText(kind string, id uint) string {
	var sb strings.Builder
	var after uint
	for {
		var p apiv1.LogPage
		var err error
		if kind == "build" {
			p, err = a.api.BuildLogs(context.Background(), id, after)
		} else {
			p, err = a.api.DeployLogs(context.Background(), id, after)
		}
		if err != nil {
			a.t.Fatalf("read %s log %d: %v", kind, id, err)
		}
		for _, l := range p.Lines {
			sb.WriteString(l.Text + "\n")
			after = l.ID
		}
		if len(p.Lines) == 0 {
			return sb.String()
		}
	}
}

// get fetches a gateway path and returns status and body.
func (a *testApp) get(path string) (int, string) {
	a.t.Helper()
	return httpGet(a.t, a.gateway+path, "")
}

func httpGet(t *testing.T, url, host string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// goFunction is the source of a small Go HTTP function that answers every
// request with its version, the GREETING env var and the path.
func goFunction(version string) string {
	return fmt.Sprintf(`package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %%s %%s", os.Getenv("GREETING"), r.URL.Path)
	})
	if err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`, version)
}

const goMod = "module example.com/hello\n\ngo 1.22\n"

func stackFile(functions string) string {
	return `services:
  api:
    path: services/api
    runtime: go
    functions:
` + functions
}

const helloFunction = `      hello:
        handler: bootstrap
        routes: ["GET /hello", "GET /hello/{name}"]
        env: { GREETING: hi }
`

// newAppRepoOnly makes a Git repository with one Go function.
func (a *testApp) newAppRepoOnly() *testutil.Repo {
	a.t.Helper()
	repo := testutil.NewRepo(a.t)
	repo.Commit("first version", map[string]string{
		"seedbed.yml":             stackFile(helloFunction),
		"services/api/go.mod":     goMod,
		"services/api/main.go":    goFunction("v1"),
		"services/api/README.txt": "a test function",
	})
	return repo
}

// newAppRepo makes a Git repository with one Go function and connects it.
func (a *testApp) newAppRepo(name string) *testutil.Repo {
	a.t.Helper()
	repo := a.newAppRepoOnly()
	if _, err := a.api.CreateApp(context.Background(), apiv1.CreateAppRequest{Name: name, RepoURL: repo.Dir, Branch: "main"}); err != nil {
		a.t.Fatalf("create app: %v", err)
	}
	return repo
}

// TestMain lets the test binary stand in for seedbed as the built-in git
// remote's hook: the server runs this executable with "git-hook", which
// goes through the CLI as it does in the seedbed binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "git-hook" {
		os.Exit(run(context.Background(), os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
	}
	// Race-enabled binaries wait a second at exit; the hook need not.
	os.Setenv("GORACE", "atexit_sleep_ms=0")
	os.Exit(m.Run())
}
