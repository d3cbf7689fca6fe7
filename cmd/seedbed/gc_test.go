package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web/apiv1"
)

// sitePage is version n of the static site: a page naming it and 24 KB
// that never compress.
func sitePage(n int) map[string]string {
	noise := make([]byte, 12<<10)
	rand.Read(noise)
	return map[string]string{"site/index.html": fmt.Sprintf("version %d", n), "site/noise.txt": hex.EncodeToString(noise)}
}

// dirSize adds up the files under dir by top-level entry.
func dirSize(t *testing.T, dir string) (total int64, parts map[string]int64) {
	t.Helper()
	parts = map[string]int64{}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		top, _, _ := strings.Cut(rel, string(filepath.Separator))
		if strings.HasPrefix(top, "seedbed.db") {
			top = "database"
		}
		parts[top] += fi.Size()
		total += fi.Size()
		return nil
	})
	return total, parts
}

// ageFiles makes the artifacts and unpacked copies look three hours old:
// past gc's grace period, as if that much time had passed.
func ageFiles(t *testing.T, dataDir string) {
	t.Helper()
	old := time.Now().Add(-3 * time.Hour)
	for _, dir := range []string{filepath.Join(dataDir, "artifacts", "sha256"), filepath.Join(dataDir, "run", "artifacts")} {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && p != dir {
				_ = os.Chtimes(p, old, old)
			}
			return nil
		})
	}
}

// Real deploys of a static site through the real serve wiring, with gc:
// the data dir stops growing, the live release and every rollback target
// survive, a rollback to the oldest target works, and `seedbed gc
// --dry-run` says what it would remove without removing it.
func TestGCEndToEnd(t *testing.T) {
	t.Parallel()
	const deploys, keep = 45, 5
	dir := t.TempDir()
	cfg := Config{
		Addr: "127.0.0.1:0", GatewayAddr: "127.0.0.1:0", DataDir: dir,
		DatabaseURL: filepath.Join(dir, "seedbed.db"), Domain: "localhost",
		Workers: 4, AdminEmail: adminEmail, AdminPassword: adminPassword,
		BuildTimeout: 5 * time.Minute, BuildEnv: testutil.GoEnv(t), Deploys: true, Builds: true,
		Retention: pipelines.DefaultRetention(), GCInterval: time.Hour,
	}
	cfg.Retention.Releases = keep
	a := bootApp(t, cfg)
	ctx := context.Background()
	repo := testutil.NewRepo(t)
	repo.Commit("v0", map[string]string{"seedbed.yml": staticSite})
	if _, err := a.api.CreateApp(ctx, apiv1.CreateAppRequest{Name: "site", RepoURL: repo.Dir, Branch: "main"}); err != nil {
		t.Fatal(err)
	}
	if a.gc == nil {
		t.Fatal("serve made no collector although --gc-interval is 1h")
	}
	var sizes []string
	var at30 int64
	for n := 1; n <= deploys; n++ {
		repo.Commit(fmt.Sprintf("v%d", n), sitePage(n))
		a.mustDeploy("site", "dev", "")
		if n%10 == 0 {
			d, err := a.api.Promote(ctx, "site", apiv1.PromoteRequest{From: "dev", Live: true})
			if err != nil {
				t.Fatal(err)
			}
			if d = a.waitDeploy(d.ID); d.Status != "succeeded" {
				t.Fatalf("promotion %d: %s %s", d.ID, d.Status, d.Error)
			}
		}
		if n%15 == 0 {
			before, _ := dirSize(t, dir)
			ageFiles(t, dir)
			rep, err := a.gc.Run(ctx, false)
			if err != nil {
				t.Fatal(err)
			}
			after, parts := dirSize(t, dir)
			sizes = append(sizes, fmt.Sprintf("after %d deploys: %.2f MB before gc, %.2f MB after (%v); gc removed %d releases, %d artifacts (%d bytes), %d unpacked copies (%d bytes)",
				n, float64(before)/1e6, float64(after)/1e6, parts, rep.Releases.Releases, rep.Artifacts, rep.ArtifactBytes, rep.Unpacked, rep.UnpackedBytes))
			if n == 30 {
				at30 = after
			}
			if n == deploys && after > at30+300<<10 {
				t.Errorf("data dir grew from %d bytes after 30 deploys to %d after %d, with gc", at30, after, n)
			}
		}
	}
	t.Logf("%d deploys to dev, %d promotions to staging, %d releases kept per stage:\n  %s", deploys, deploys/10, keep, strings.Join(sizes, "\n  "))

	// The live release and the rollback targets are all there.
	app, err := a.store.AppByName(ctx, "site")
	if err != nil {
		t.Fatal(err)
	}
	dev, err := a.store.StageByName(ctx, app.ID, "dev")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := a.store.StageDeploys(ctx, dev.ID, 500)
	if err != nil {
		t.Fatal(err)
	}
	var offered []uint
	for _, d := range ds {
		if d.Status == store.DeploySucceeded && d.ReleaseID != nil && !slices.Contains(offered, *d.ReleaseID) {
			offered = append(offered, *d.ReleaseID)
		}
	}
	// dev keeps its 5 newest; the releases staging keeps (every 10th,
	// promoted from dev) are in dev's history too, and still exist.
	if len(offered) < keep || offered[0] != *dev.LiveReleaseID || len(offered) > 2*keep {
		t.Fatalf("dev offers releases %v after gc (live %d), want its %d newest, the live one first, and staging's", offered, *dev.LiveReleaseID, keep)
	}
	for _, id := range offered {
		if _, err := a.store.ReleaseByID(ctx, id); err != nil {
			t.Fatalf("dev offers release %d for rollback, which gc removed: %v", id, err)
		}
	}
	oldest := offered[len(offered)-1]
	rel, err := a.store.ReleaseByID(ctx, oldest)
	if err != nil {
		t.Fatal(err)
	}
	build, err := a.store.BuildByID(ctx, rel.BuildID)
	if err != nil {
		t.Fatal(err)
	}

	// `seedbed gc --dry-run` beside the running server: nothing changes.
	before, _ := dirSize(t, dir)
	var out, errOut bytes.Buffer
	env := func(k string) string {
		if k == "SEEDBED_RETAIN_RELEASES" {
			return fmt.Sprint(keep)
		}
		return ""
	}
	if code := run(ctx, []string{"gc", "--dry-run", "--data-dir", dir}, env, nil, &out, &errOut); code != 0 {
		t.Fatalf("seedbed gc --dry-run: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "Would remove (dry run") || !strings.Contains(out.String(), "releases:           0") {
		t.Errorf("seedbed gc --dry-run after a gc printed:\n%s", out.String())
	}
	out.Reset()
	if code := run(ctx, []string{"gc", "--dry-run", "--output", "json", "--data-dir", dir}, env, nil, &out, &errOut); code != 0 {
		t.Fatalf("seedbed gc --dry-run --output json: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	var res gcResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("seedbed gc --output json printed %q: %v", out.String(), err)
	}
	if !res.DryRun || res.Releases != 0 || res.KeptReleases < keep || res.ReleaseIDs == nil {
		t.Errorf("seedbed gc --output json after a gc: %+v", res)
	}
	if after, _ := dirSize(t, dir); after > before+64<<10 { // the WAL may grow by a page or two
		t.Errorf("a dry run grew the data dir from %d to %d bytes", before, after)
	}

	// A rollback to the oldest target still works: its artifact is there.
	d, err := a.api.Rollback(ctx, "site", "dev", apiv1.RollbackRequest{ReleaseID: oldest})
	if err != nil {
		t.Fatal(err)
	}
	if d = a.waitDeploy(d.ID); d.Status != "succeeded" {
		t.Fatalf("rollback to release %d after gc: %s: %s\n%s", oldest, d.Status, d.Error, a.logText("deploy", d.ID))
	}
	want := strings.TrimPrefix(build.CommitMessage, "v")
	if code, body := a.get("/site/dev/site/index.html"); code != 200 || body != "version "+want {
		t.Fatalf("after rolling back to release %d (commit %q): GET index.html = %d %q", oldest, build.CommitMessage, code, body)
	}

	// A pruned build's log says so.
	builds, err := a.store.Builds(ctx, app.ID, 500)
	if err != nil {
		t.Fatal(err)
	}
	first := builds[len(builds)-1]
	if text := a.logText("build", first.ID); !strings.HasPrefix(text, store.LogPrunedPrefix) {
		t.Errorf("the log of build %d, whose release was pruned, reads:\n%s", first.ID, text)
	}
}

func TestGCCommandErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no database in the data dir", []string{"gc", "--data-dir", "DIR/none"}, nil, "no Seedbed database at"},
		{"too few releases", []string{"gc", "--data-dir", "DIR", "--retain-releases", "1"}, nil, "--retain-releases must be at least 2"},
		{"a bad duration in the environment", []string{"gc", "--data-dir", "DIR"}, map[string]string{"SEEDBED_RETAIN_LOGS": "30d"}, `SEEDBED_RETAIN_LOGS="30d": want a duration`},
		{"an argument too many", []string{"gc", "now"}, nil, "usage: seedbed gc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			args := slices.Clone(tt.args)
			for i := range args {
				args[i] = strings.ReplaceAll(args[i], "DIR", dir)
			}
			var out, errOut bytes.Buffer
			code := run(context.Background(), args, func(k string) string { return tt.env[k] }, nil, &out, &errOut)
			if code == 0 || !strings.Contains(errOut.String(), tt.want) {
				t.Fatalf("seedbed %v: exit %d, stderr %q; want an error with %q", args, code, errOut.String(), tt.want)
			}
		})
	}
}

// serve collects by itself every --gc-interval.
func TestGCRunsInServe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := Config{
		Addr: "127.0.0.1:0", GatewayAddr: "127.0.0.1:0", DataDir: dir,
		DatabaseURL: filepath.Join(dir, "seedbed.db"), Domain: "localhost",
		Workers: 2, AdminEmail: adminEmail, AdminPassword: adminPassword,
		BuildTimeout: 5 * time.Minute, BuildEnv: testutil.GoEnv(t), Deploys: true, Builds: true,
		Retention: pipelines.DefaultRetention(), GCInterval: 200 * time.Millisecond,
	}
	cfg.Retention.Releases = 2
	a := bootApp(t, cfg)
	ctx := context.Background()
	repo := testutil.NewRepo(t)
	repo.Commit("v0", map[string]string{"seedbed.yml": staticSite})
	if _, err := a.api.CreateApp(ctx, apiv1.CreateAppRequest{Name: "site", RepoURL: repo.Dir, Branch: "main"}); err != nil {
		t.Fatal(err)
	}
	var first uint
	for n := 1; n <= 4; n++ {
		repo.Commit(fmt.Sprintf("v%d", n), sitePage(n))
		if d := a.mustDeploy("site", "dev", ""); n == 1 {
			first = d.ReleaseID
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := a.store.ReleaseByID(ctx, first)
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("release %d, beyond the 2 kept, is still there 10 s after 4 deploys with --gc-interval 200ms", first)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, body := a.get("/site/dev/site/index.html"); code != 200 || body != "version 4" {
		t.Fatalf("after gc in serve: GET index.html = %d %q, want the live version 4", code, body)
	}
}
