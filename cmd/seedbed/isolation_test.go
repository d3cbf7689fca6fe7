package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/builders"
	"github.com/seedbed/seedbed/sandbox"
	"github.com/seedbed/seedbed/testutil"
)

// TestServeHelpExplainsIsolation checks that `seedbed serve --help` says
// what auto does without bubblewrap and how to install it.
func TestServeHelpExplainsIsolation(t *testing.T) {
	var out, errOut strings.Builder
	if code := run(context.Background(), []string{"serve", "--help"}, func(string) string { return "" }, nil, &out, &errOut); code != 0 {
		t.Fatalf("serve --help: exit %d, %s", code, errOut.String())
	}
	for _, want := range []string{"--isolation", "UNCONFINED", "apt-get install bubblewrap passt", "SEEDBED_ISOLATION"} {
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
	t.Parallel()
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
			cfg := Config{Isolation: tt.mode, BuildUser: builders.UserAuto, DataDir: dir, DatabaseURL: filepath.Join(dir, "seedbed.db"), Deploys: true,
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
