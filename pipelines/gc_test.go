package pipelines_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seedbed/seedbed/builders/artifact"
	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
	"github.com/seedbed/seedbed/targets/local"
	"github.com/seedbed/seedbed/testutil"
)

// history simulates an app's life at the level of the store, the artifact
// store and the local target's unpack folder: each deploy is a build with
// real artifacts (a packed 16 KB function that changes every time and one
// that never does), a release, a succeeded deploy to dev with its log
// lines, some promotions, webhook deliveries, rejected ones too.
type history struct {
	t        *testing.T
	st       *store.Store
	arts     *artifact.Store
	svc      *pipelines.Service
	dataDir  string
	runDir   string // the local target's Dir
	app      store.App
	stages   map[string]store.Stage
	deploys  int
	shared   string // the digest of the function that never changes
	gc       *pipelines.Collector
	lastReps []pipelines.GCReport
}

func newHistory(t *testing.T, dbURL string, r pipelines.Retention) *history {
	t.Helper()
	ctx := context.Background()
	h := &history{t: t, dataDir: t.TempDir(), stages: map[string]store.Stage{}}
	if dbURL == "" {
		dbURL = filepath.Join(h.dataDir, "seedbed.db")
	}
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h.st = st
	if h.arts, err = artifact.New(filepath.Join(h.dataDir, "artifacts")); err != nil {
		t.Fatal(err)
	}
	h.runDir = filepath.Join(h.dataDir, "run")
	h.svc = pipelines.New(pipelines.Config{Store: st, Queue: &recordingQueue{}, Artifacts: h.arts})
	h.app = store.App{Name: "churn", RepoURL: "/src/churn", Branch: "main"}
	stages := []store.Stage{{Name: "dev", Branch: "main"}, {Name: "staging"}, {Name: "prod"}}
	if err := st.CreateApp(ctx, &h.app, stages); err != nil {
		t.Fatal(err)
	}
	for _, s := range stages {
		h.stages[s.Name] = s
	}
	h.shared = h.pack("shared", []byte("the function that never changes"))
	h.gc, err = pipelines.NewCollector(pipelines.CollectorConfig{Store: st, Artifacts: h.arts, Retention: r, Owner: "test",
		PruneUnpacked: func(ctx context.Context, keep func(string) bool, grace time.Duration, dryRun bool) (int, int64, error) {
			res, err := local.PruneUnpacked(ctx, h.runDir, keep, grace, dryRun)
			return res.Removed, res.Bytes, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// pack stores a one-file artifact and returns its digest.
func (h *history) pack(name string, content []byte) string {
	h.t.Helper()
	src := h.t.TempDir()
	if err := os.WriteFile(filepath.Join(src, name), content, 0o644); err != nil {
		h.t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := artifact.Pack(&buf, src, []string{"."}); err != nil {
		h.t.Fatal(err)
	}
	d, _, err := h.arts.Put(context.Background(), &buf)
	if err != nil {
		h.t.Fatal(err)
	}
	return d
}

// unpack does what the local target does on a deploy: an unpacked copy
// of each artifact in dir/artifacts/<hex>.
func (h *history) unpack(digest string) {
	h.t.Helper()
	dest := filepath.Join(h.runDir, "artifacts", strings.TrimPrefix(digest, "sha256:"))
	if _, err := os.Stat(dest); err == nil {
		return
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := h.arts.Extract(context.Background(), digest, dest); err != nil {
		h.t.Fatal(err)
	}
}

// build makes a release the way a build does.
func (h *history) build() store.Release {
	h.t.Helper()
	ctx := context.Background()
	b := store.Build{AppID: h.app.ID, Ref: "main", CommitSHA: fmt.Sprintf("%040d", h.deploys), Status: store.BuildSucceeded, TriggerKind: "push"}
	if err := h.st.CreateBuild(ctx, &b); err != nil {
		h.t.Fatal(err)
	}
	code := make([]byte, 16<<10)
	rand.Read(code)
	d := h.pack("bootstrap", code)
	fns := []targets.Function{
		{Service: "api", Name: "hello", Runtime: "go", Handler: "bootstrap", Digest: d},
		{Service: "site", Name: "web", Runtime: "static", Handler: "shared", Digest: h.shared},
	}
	arts := []store.Artifact{{Service: "api", Function: "hello", Digest: d, Size: int64(len(code))},
		{Service: "site", Function: "web", Digest: h.shared, Size: 40, ReusedFrom: 1}}
	if err := h.st.ReplaceArtifacts(ctx, b.ID, arts); err != nil {
		h.t.Fatal(err)
	}
	var lines []store.LogLine
	for i := 0; i < 10; i++ {
		lines = append(lines, store.LogLine{OwnerKind: store.LogBuild, OwnerID: b.ID, Stream: "stdout", Text: fmt.Sprintf("step %d of build %d: %s", i, b.ID, strings.Repeat("compiling something ", 10))})
	}
	if err := h.st.AppendLog(ctx, lines); err != nil {
		h.t.Fatal(err)
	}
	m, _ := json.Marshal(pipelines.Manifest{App: h.app.Name, BuildID: b.ID, Commit: b.CommitSHA, Functions: fns})
	r := store.Release{AppID: h.app.ID, BuildID: b.ID, Manifest: string(m)}
	if err := h.st.CreateRelease(ctx, &r); err != nil {
		h.t.Fatal(err)
	}
	return r
}

// deploy records a succeeded deploy of r to a stage and unpacks its
// artifacts as the local target would.
func (h *history) deploy(stage string, r store.Release) {
	h.t.Helper()
	ctx := context.Background()
	st := h.stages[stage]
	d := store.Deploy{AppID: h.app.ID, StageID: st.ID, BuildID: &r.BuildID, ReleaseID: &r.ID, Status: store.DeploySucceeded, TriggerKind: "push"}
	if err := h.st.CreateDeploy(ctx, &d); err != nil {
		h.t.Fatal(err)
	}
	var lines []store.LogLine
	for i := 0; i < 5; i++ {
		lines = append(lines, store.LogLine{OwnerKind: store.LogDeploy, OwnerID: d.ID, Stream: "seedbed", Text: fmt.Sprintf("deploy %d: step %d of applying a release", d.ID, i)})
	}
	if err := h.st.AppendLog(ctx, lines); err != nil {
		h.t.Fatal(err)
	}
	if err := h.st.SetStageLive(ctx, st.ID, r.ID, d.ID); err != nil {
		h.t.Fatal(err)
	}
	var m pipelines.Manifest
	if err := json.Unmarshal([]byte(r.Manifest), &m); err != nil {
		h.t.Fatal(err)
	}
	for _, f := range m.Functions {
		h.unpack(f.Digest)
	}
}

// push is one turn of the app's life: a build deployed to dev, every
// 5th promoted to staging and every 25th to prod, a webhook delivery and
// a forged one.
func (h *history) push() {
	h.t.Helper()
	ctx := context.Background()
	h.deploys++
	r := h.build()
	h.deploy("dev", r)
	if h.deploys%5 == 0 {
		h.deploy("staging", r)
	}
	if h.deploys%25 == 0 {
		h.deploy("prod", r)
	}
	for i, outcome := range []string{store.DeliveryAccepted, store.DeliveryRejected} {
		d := store.WebhookDelivery{AppID: h.app.ID, Forge: "github", DeliveryID: fmt.Sprintf("d-%d-%d", h.deploys, i), Outcome: outcome, Reason: strings.Repeat("x", 200)}
		if err := h.st.RecordDelivery(ctx, &d); err != nil {
			h.t.Fatal(err)
		}
	}
}

// collect runs gc as if its grace period had passed for everything on
// disk: the files are aged first.
func (h *history) collect() pipelines.GCReport {
	h.t.Helper()
	old := time.Now().Add(-3 * time.Hour)
	for _, dir := range []string{filepath.Join(h.dataDir, "artifacts", "sha256"), filepath.Join(h.runDir, "artifacts")} {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && p != dir {
				_ = os.Chtimes(p, old, old)
			}
			if err == nil && d.IsDir() && filepath.Dir(p) == filepath.Join(h.runDir, "artifacts") {
				return filepath.SkipDir
			}
			return nil
		})
	}
	rep, err := h.gc.Run(context.Background(), false)
	if err != nil {
		h.t.Fatal(err)
	}
	h.lastReps = append(h.lastReps, rep)
	return rep
}

// size is what the data dir holds, in bytes: all of it, and the part in
// the database's files.
func (h *history) size() (total, db int64) {
	_ = filepath.WalkDir(h.dataDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			if fi, err := d.Info(); err == nil && fi.Mode().IsRegular() {
				total += fi.Size()
				if strings.HasPrefix(filepath.Base(p), "seedbed.db") {
					db += fi.Size()
				}
			}
		}
		return nil
	})
	return total, db
}

// checkRollbackTargets checks every release a rollback of each stage can
// pick still exists with its artifacts, and rolls dev back to the oldest.
func (h *history) checkRollbackTargets() {
	h.t.Helper()
	ctx := context.Background()
	for name, st := range h.stages {
		st, err := h.st.StageByID(ctx, st.ID)
		if err != nil {
			h.t.Fatal(err)
		}
		ds, err := h.st.StageDeploys(ctx, st.ID, 500)
		if err != nil {
			h.t.Fatal(err)
		}
		var offered []uint
		for _, d := range ds {
			if d.Status == store.DeploySucceeded && d.ReleaseID != nil && !slices.Contains(offered, *d.ReleaseID) {
				offered = append(offered, *d.ReleaseID)
			}
		}
		if st.LiveReleaseID == nil || !slices.Contains(offered, *st.LiveReleaseID) {
			h.t.Fatalf("stage %s: live release %v is not among those it served: %v", name, st.LiveReleaseID, offered)
		}
		for _, id := range offered {
			rel, err := h.st.ReleaseByID(ctx, id)
			if err != nil {
				h.t.Fatalf("stage %s offers release %d for rollback, which is gone: %v", name, id, err)
			}
			var m pipelines.Manifest
			_ = json.Unmarshal([]byte(rel.Manifest), &m)
			for _, f := range m.Functions {
				if !h.arts.Has(f.Digest) {
					h.t.Fatalf("stage %s offers release %d, whose artifact %s is gone", name, id, f.Digest)
				}
			}
		}
		if name != "dev" || len(offered) < 2 {
			continue
		}
		oldest := offered[len(offered)-1]
		d, err := h.svc.Rollback(ctx, pipelines.RollbackRequest{App: h.app.Name, Stage: name, ReleaseID: oldest, By: "test"})
		if err != nil {
			h.t.Fatalf("roll dev back to its oldest offered release %d: %v", oldest, err)
		}
		// A rollback deploy waiting in the queue keeps its release.
		if rep := h.collect(); slices.Contains(rep.ReleaseIDs, oldest) {
			h.t.Fatalf("gc dropped release %d while a rollback to it was queued", oldest)
		}
		d.Status = store.DeployCancelled
		if err := h.st.SaveDeploy(ctx, &d); err != nil {
			h.t.Fatal(err)
		}
	}
}

// 1,000 deploys with gc every 50 keep the data dir under a bound. The
// files (artifacts, unpacked copies) level off once every stage's window
// of 20 releases is full: at most 61 artifacts of 16 KB and what runs,
// unpacked. The database keeps every build and deploy row as history, and
// a line saying each pruned log was pruned: about 1 KB a deploy. Measured
// (2 cores): 2.9 MB after 1,000 deploys, 1.75 MB after 200.
func TestGCKeepsDataDirBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 simulated deploys")
	}
	h := newHistory(t, "", pipelines.DefaultRetention())
	var total200, db200 int64
	start := time.Now()
	for h.deploys < gcDeploys {
		h.push()
		if h.deploys%50 == 0 {
			h.collect()
			if h.deploys == 200 {
				total200, db200 = h.size()
			}
		}
	}
	h.checkRollbackTargets()
	h.collect()
	total, db := h.size()
	var removed pipelines.GCReport
	for _, r := range h.lastReps {
		removed.Releases.Releases += r.Releases.Releases
		removed.Artifacts += r.Artifacts
		removed.Unpacked += r.Unpacked
		removed.ArtifactBytes += r.ArtifactBytes
		removed.Deliveries += r.Deliveries
	}
	t.Logf("1000 deploys (+200 promotions to staging, +40 to prod) in %s: data dir %.2f MB (database %.2f MB) after 200, %.2f MB (database %.2f MB) after 1000; gc removed %d releases, %d artifacts (%.1f MB), %d unpacked copies, %d webhook deliveries",
		time.Since(start).Round(time.Millisecond), float64(total200)/1e6, float64(db200)/1e6, float64(total)/1e6, float64(db)/1e6,
		removed.Releases.Releases, removed.Artifacts, float64(removed.ArtifactBytes)/1e6, removed.Unpacked, removed.Deliveries)
	const (
		filesBound   = 1500 << 10 // 61 artifacts and 4 unpacked copies of ~16 KB, with room
		perDeployRow = 2 << 10    // database growth per deploy once windows are full
		totalBound   = 5 << 20
	)
	if files := total - db; files > filesBound {
		t.Errorf("artifacts and unpacked copies take %d bytes after 1000 deploys, over the bound of %d", files, filesBound)
	}
	if grow := (db - db200) / 800; grow > perDeployRow {
		t.Errorf("the database grew %d bytes a deploy from deploy 200 to 1000, over the bound of %d", grow, perDeployRow)
	}
	if total > totalBound {
		t.Errorf("data dir is %d bytes after 1000 deploys, over the stated bound of %d", total, totalBound)
	}
	count := func(dir string) int {
		es, _ := os.ReadDir(dir)
		return len(es)
	}
	var blobs int
	_ = filepath.WalkDir(filepath.Join(h.dataDir, "artifacts", "sha256"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			blobs++
		}
		return nil
	})
	// dev, staging and prod keep 20 releases each (overlapping), each
	// release one artifact of its own plus the shared one.
	if blobs > 3*20+1 {
		t.Errorf("%d artifacts stored after gc, want at most %d", blobs, 3*20+1)
	}
	// Unpacked copies: what the three stages run (3 + the shared one).
	if n := count(filepath.Join(h.runDir, "artifacts")); n > 4 {
		t.Errorf("%d unpacked copies after gc, want at most 4 (what runs)", n)
	}
}

// The same collection on PostgreSQL, shorter: live releases and rollback
// targets survive, a rollback to the oldest target works.
func TestGCOnPostgres(t *testing.T) {
	r := pipelines.DefaultRetention()
	r.Releases = 5
	h := newHistory(t, testutil.PostgresURL(t), r)
	for h.deploys < 60 {
		h.push()
	}
	rep := h.collect()
	if rep.Releases.Releases == 0 || rep.Artifacts == 0 || rep.Unpacked == 0 {
		t.Fatalf("gc removed nothing on PostgreSQL: %+v", rep)
	}
	h.checkRollbackTargets()
}

// A dry run says what would go and changes nothing; a second collector
// waits for the first one's lock.
func TestGCDryRunAndLock(t *testing.T) {
	r := pipelines.DefaultRetention()
	r.Releases = 3
	h := newHistory(t, "", r)
	for h.deploys < 20 {
		h.push()
	}
	before, _ := h.size()
	old := time.Now().Add(-3 * time.Hour)
	_ = filepath.WalkDir(h.dataDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !strings.HasSuffix(p, ".db") && !strings.Contains(p, ".db-") {
			_ = os.Chtimes(p, old, old)
		}
		return nil
	})
	dry, err := h.gc.Run(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := h.size(); after != before {
		t.Fatalf("a dry run changed the data dir: %d bytes before, %d after", before, after)
	}
	if dry.Releases.Releases == 0 || dry.Artifacts == 0 || dry.ArtifactBytes == 0 || dry.Unpacked == 0 {
		t.Fatalf("dry run found nothing to remove: %+v", dry)
	}

	if ok, err := h.st.TryLockMaintenance(context.Background(), "gc", "another-process", time.Minute); err != nil || !ok {
		t.Fatalf("take the gc lock as another process: %v, %v", ok, err)
	}
	busy, err := h.gc.Run(context.Background(), false)
	if err != nil || !busy.Busy || busy.Releases.Releases != 0 {
		t.Fatalf("gc while another process holds the lock: %+v, %v; want it to do nothing", busy, err)
	}
	if err := h.st.UnlockMaintenance(context.Background(), "gc", "another-process"); err != nil {
		t.Fatal(err)
	}
	real, err := h.gc.Run(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if real.Releases != dry.Releases || real.Artifacts != dry.Artifacts || real.ArtifactBytes != dry.ArtifactBytes || real.Unpacked != dry.Unpacked {
		t.Fatalf("the run removed %+v, the dry run said %+v", real, dry)
	}
}

func TestRetentionValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*pipelines.Retention)
		want   string // in the error; "" for none
	}{
		{"defaults", func(*pipelines.Retention) {}, ""},
		{"one release cannot be rolled back", func(r *pipelines.Retention) { r.Releases = 1 }, "--retain-releases must be at least 2"},
		{"negative log age", func(r *pipelines.Retention) { r.LogAge = -time.Hour }, "--retain-logs"},
		{"no deliveries", func(r *pipelines.Retention) { r.Deliveries = 0 }, "--retain-deliveries"},
		{"no rejected deliveries", func(r *pipelines.Retention) { r.RejectedDeliveries = 0 }, "--retain-rejected-deliveries"},
		{"logs kept as long as their release", func(r *pipelines.Retention) { r.LogAge = 0 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := pipelines.DefaultRetention()
			tt.change(&r)
			err := r.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate() = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

// Several processes collecting at once, on one PostgreSQL database: one
// at a time does the work, none fails, nothing is removed twice.
func TestGCConcurrentCollectors(t *testing.T) {
	r := pipelines.DefaultRetention()
	r.Releases = 3
	h := newHistory(t, testutil.PostgresURL(t), r)
	for h.deploys < 30 {
		h.push()
	}
	split, err := h.st.SplitReleases(context.Background(), r.Releases)
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	reps := make(chan pipelines.GCReport, n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		gc, err := pipelines.NewCollector(pipelines.CollectorConfig{Store: h.st, Artifacts: h.arts, Retention: r, Owner: fmt.Sprintf("process-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			rep, err := gc.Run(context.Background(), false)
			reps <- rep
			errs <- err
		}()
	}
	var removed int64
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("a collector failed beside others: %v", err)
		}
		removed += (<-reps).Releases.Releases
	}
	if removed != int64(len(split.Drop)) {
		t.Fatalf("%d collectors together removed %d releases, want %d", n, removed, len(split.Drop))
	}
	h.checkRollbackTargets()
}

var gcDeploys = 1000
