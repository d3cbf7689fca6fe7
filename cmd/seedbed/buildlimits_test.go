package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web/apiv1"
)

// processesWith lists the command lines of running processes that contain
// marker.
func processesWith(t *testing.T, marker string) []string {
	t.Helper()
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var found []string
	for _, p := range cmdlines {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // gone meanwhile
		}
		line := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(line, marker) {
			found = append(found, filepath.Base(filepath.Dir(p))+": "+line)
		}
	}
	return found
}

// A build over its time limit fails with a message that names the limit,
// and every process it started, children in the background included, is
// gone.
func TestBuildOverTimeLimitIsKilled(t *testing.T) {
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		t.Skip("needs /proc to look for left-over processes")
	}
	dir := t.TempDir()
	cfg := Config{
		Addr: "127.0.0.1:0", GatewayAddr: "127.0.0.1:0", DataDir: dir,
		DatabaseURL: embedded.database(t, dir), Domain: "localhost",
		Workers: 2, AdminEmail: adminEmail, AdminPassword: adminPassword,
		BuildTimeout: 3 * time.Second, BuildEnv: testutil.GoEnv(t), Deploys: true, Builds: true,
	}
	a := bootApp(t, cfg)

	// Unique to this run, so that other tests' processes never count.
	marker := "300." + time.Now().Format("150405999")
	repo := a.newAppRepoOnly()
	repo.Commit("a hook that never ends", map[string]string{"seedbed.yml": `services:
  api:
    path: services/api
    runtime: go
    hooks:
      before_build: ["echo started; sleep ` + marker + ` & sleep ` + marker + `"]
    functions:
      hello:
        handler: bootstrap
        routes: ["GET /hello"]
`})
	if _, err := a.api.CreateApp(context.Background(), apiv1.CreateAppRequest{Name: "slow", RepoURL: repo.Dir, Branch: "main"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	d, b := a.deploy("slow", "dev", "")
	took := time.Since(start)
	if b.Status != "failed" {
		t.Fatalf("build %d: %s %q, want failed", b.ID, b.Status, b.Error)
	}
	if !strings.Contains(b.Error, "exceeded its time limit of 3s") {
		t.Errorf("build error = %q, want it to name the time limit of 3s", b.Error)
	}
	if d.Status != "failed" {
		t.Errorf("deploy %d: %s, want failed", d.ID, d.Status)
	}
	if took > 30*time.Second {
		t.Errorf("the build took %s to end; its limit is 3s", took)
	}
	log := a.logText("build", b.ID)
	if !strings.Contains(log, "started") || !strings.Contains(log, "exceeded its time limit of 3s") {
		t.Errorf("build log does not show the hook starting and the limit:\n%s", log)
	}
	if left := processesWith(t, "sleep "+marker); len(left) > 0 {
		// Give a kill in flight a moment before calling it a leak.
		time.Sleep(500 * time.Millisecond)
		if left = processesWith(t, "sleep "+marker); len(left) > 0 {
			t.Fatalf("processes of the build outlived it:\n%s", strings.Join(left, "\n"))
		}
	}
}
