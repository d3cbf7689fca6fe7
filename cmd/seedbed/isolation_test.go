package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seedbed/seedbed/sandbox"
	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web/apiv1"
)

func TestConfigIsolation(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    string
		wantErr string
	}{
		{name: "default", want: "auto"},
		{name: "env", env: map[string]string{"SEEDBED_ISOLATION": "none"}, want: "none"},
		{name: "flag wins", env: map[string]string{"SEEDBED_ISOLATION": "none"}, args: []string{"--isolation", "sandbox"}, want: "sandbox"},
		{name: "unknown", env: map[string]string{"SEEDBED_ISOLATION": "docker"}, wantErr: `--isolation (SEEDBED_ISOLATION): isolation "docker": use auto, sandbox or none`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			cfg := configFlags(fs, func(k string) string { return tc.env[k] })
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			cfg.DataDir = t.TempDir()
			err := cfg.finish(nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("finish: %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Isolation != tc.want {
				t.Errorf("Isolation = %q, want %q", cfg.Isolation, tc.want)
			}
		})
	}
}

// TestServeHelpExplainsIsolation checks that `seedbed serve --help` says
// what auto does without bubblewrap and how to install it.
func TestServeHelpExplainsIsolation(t *testing.T) {
	var out strings.Builder
	fs := newFlagSet("serve", "seedbed serve [flags]", &out)
	configFlags(fs, func(string) string { return "" })
	fs.Usage()
	for _, want := range []string{"-isolation", "UNCONFINED", "apt-get install bubblewrap passt", "SEEDBED_ISOLATION"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("serve --help lacks %q", want)
		}
	}
}

// needSandbox skips (fails under CI=true) where bubblewrap and pasta do
// not work as root.
func needSandbox(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testutil.Unavailable(t, "root", fmt.Errorf("euid %d", os.Geteuid()))
	}
	if _, err := sandbox.Detect(context.Background()); err != nil {
		testutil.Unavailable(t, "bubblewrap and pasta", err)
	}
}

// passableDir is a fresh folder that other users may pass through, as a
// data dir under /var/lib would be.
func passableDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	for p := filepath.Dir(dir); p != "/" && p != filepath.Clean(os.TempDir()); p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestIsolationSetup checks what each setting does with and without a
// data dir the functions' users can pass through.
func TestIsolationSetup(t *testing.T) {
	needSandbox(t)
	tests := []struct {
		name          string
		mode          string
		closedDataDir bool
		wantSandboxed bool
		wantErr       string
		wantWarning   string
	}{
		{name: "auto", mode: "auto", wantSandboxed: true},
		{name: "sandbox", mode: "sandbox", wantSandboxed: true},
		{name: "none", mode: "none", wantWarning: "isolation is off"},
		{name: "empty is none", mode: "", wantWarning: "isolation is off"},
		{name: "auto with a closed data dir falls back loudly", mode: "auto", closedDataDir: true, wantWarning: "functions are NOT confined"},
		{name: "sandbox with a closed data dir refuses", mode: "sandbox", closedDataDir: true, wantErr: "--isolation sandbox: uid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := passableDir(t)
			if tt.closedDataDir {
				closed := filepath.Join(filepath.Dir(dir), "closed")
				if err := os.Mkdir(closed, 0o700); err != nil {
					t.Fatal(err)
				}
				dir = filepath.Join(closed, "data")
			}
			cfg := Config{Isolation: tt.mode, DataDir: dir, DatabaseURL: filepath.Join(dir, "seedbed.db"), Deploys: true,
				Addr: "127.0.0.1:0", GatewayAddr: "127.0.0.1:0", Workers: 1, Builds: true}
			if err := cfg.finish(nil); err != nil {
				t.Fatal(err)
			}
			var logs strings.Builder
			app, err := NewApp(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NewApp: %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer app.Close(context.Background())
			st := app.Isolation()
			if st.Sandboxed != tt.wantSandboxed || (tt.wantSandboxed && !st.OwnNetwork) {
				t.Errorf("Isolation() = %+v, want sandboxed %v with a network of its own", st, tt.wantSandboxed)
			}
			if tt.wantWarning == "" && st.Warning != "" || !strings.Contains(st.Warning, tt.wantWarning) {
				t.Errorf("warning %q, want %q", st.Warning, tt.wantWarning)
			}
			if tt.wantWarning != "" && !strings.Contains(logs.String(), "level=ERROR msg=\"SECURITY: ") {
				t.Errorf("the log does not say loudly that functions are not confined:\n%s", logs.String())
			}
		})
	}
}

// attackFunction is a Go function that tries what an attacker's would
// and answers what happened: /read?p=PATH and /dial?a=HOST:PORT.
const attackFunction = `package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	http.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile(r.URL.Query().Get("p"))
		if err != nil {
			fmt.Fprint(w, "refused: ", err)
			return
		}
		fmt.Fprintf(w, "read %d bytes", len(b))
	})
	http.HandleFunc("/dial", func(w http.ResponseWriter, r *http.Request) {
		c, err := net.DialTimeout("tcp", r.URL.Query().Get("a"), 2*time.Second)
		if err != nil {
			fmt.Fprint(w, "refused: ", err)
			return
		}
		c.Close()
		fmt.Fprint(w, "connected")
	})
	http.HandleFunc("/uid", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, os.Getuid()) })
	if err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`

// TestSandboxedFunctionEndToEnd deploys an attacker's function through the
// whole server, sandboxed, and has it try to read the data dir's secrets
// and /etc/shadow and to reach the console, the database and Redis.
func TestSandboxedFunctionEndToEnd(t *testing.T) {
	needSandbox(t)
	dir := passableDir(t)
	cfg := Config{
		Addr: "127.0.0.1:0", GatewayAddr: "127.0.0.1:0", DataDir: dir,
		DatabaseURL: filepath.Join(dir, "seedbed.db"), Domain: "localhost",
		Workers: 4, AdminEmail: adminEmail, AdminPassword: adminPassword,
		BuildTimeout: 5 * time.Minute, BuildEnv: testutil.GoEnv(t), Deploys: true, Builds: true,
		Isolation: "sandbox",
	}
	a := bootApp(t, cfg)
	repo := testutil.NewRepo(t)
	repo.Commit("attack", map[string]string{
		"seedbed.yml": stackFile(`      attack:
        handler: bootstrap
        routes: ["GET /read", "GET /dial", "GET /uid"]
`),
		"services/api/go.mod":  goMod,
		"services/api/main.go": attackFunction,
	})
	if _, err := a.api.CreateApp(context.Background(), apiv1.CreateAppRequest{Name: "evil", RepoURL: repo.Dir, Branch: "main"}); err != nil {
		t.Fatal(err)
	}
	a.mustDeploy("evil", "dev", "")

	code, uid := a.get("/evil/dev/uid")
	if code != 200 || uid == "0" || uid == fmt.Sprint(os.Getuid()) {
		t.Errorf("the function runs as uid %q (%d), want a user of its own", uid, code)
	}
	console, err := url.Parse(a.ConsoleURL())
	if err != nil {
		t.Fatal(err)
	}
	_, consolePort, _ := net.SplitHostPort(console.Host)
	for _, try := range []string{
		"/read?p=" + url.QueryEscape(filepath.Join(dir, "secret.key")),
		"/read?p=" + url.QueryEscape(filepath.Join(dir, "seedbed.db")),
		"/read?p=/etc/shadow",
		"/dial?a=127.0.0.1:" + consolePort,
		"/dial?a=127.0.0.1:5432",
		"/dial?a=127.0.0.1:6379",
	} {
		t.Run(try, func(t *testing.T) {
			code, body := a.get("/evil/dev" + try)
			if code != 200 || !strings.HasPrefix(body, "refused: ") {
				t.Errorf("GET %s = %d %q, want refused", try, code, body)
			}
		})
	}
}
