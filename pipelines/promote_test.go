package pipelines_test

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/testutil"
)

// promoteBundle is an app whose dev stage serves a release, with a
// recording queue instead of workers.
type promoteBundle struct {
	st  *store.Store
	svc *pipelines.Service
	q   *recordingQueue
	app store.App
}

func newPromoteBundle(t *testing.T, dbURL string) *promoteBundle {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := &promoteBundle{st: st, q: &recordingQueue{}}
	b.svc = pipelines.New(pipelines.Config{Store: st, Queue: b.q, Sealer: newSealer(t)})
	if b.app, err = b.svc.CreateApp(ctx, pipelines.NewApp{Name: "shop", RepoURL: "/src/shop", Branch: "main", NoCheck: true}); err != nil {
		t.Fatal(err)
	}
	return b
}

// goLive records a succeeded build and its release, and makes the stage
// serve it, as a finished deploy does.
func (b *promoteBundle) goLive(t *testing.T, stage string) store.Release {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	build := store.Build{AppID: b.app.ID, Ref: "main", Status: store.BuildSucceeded, FinishedAt: &now}
	if err := b.st.CreateBuild(ctx, &build); err != nil {
		t.Fatal(err)
	}
	rel := store.Release{AppID: b.app.ID, BuildID: build.ID, Manifest: "{}"}
	if err := b.st.CreateRelease(ctx, &rel); err != nil {
		t.Fatal(err)
	}
	st, err := b.st.StageByName(ctx, b.app.ID, stage)
	if err != nil {
		t.Fatal(err)
	}
	d := store.Deploy{AppID: b.app.ID, StageID: st.ID, BuildID: &build.ID, ReleaseID: &rel.ID, Status: store.DeploySucceeded, FinishedAt: &now}
	if err := b.st.CreateDeploy(ctx, &d); err != nil {
		t.Fatal(err)
	}
	if err := b.st.SetStageLive(ctx, st.ID, rel.ID, d.ID); err != nil {
		t.Fatal(err)
	}
	return rel
}

// A promotion deploys the release that was previewed, or nothing: if the
// source stage serves another release by the time the user confirms, it is
// refused with what changed. A request must say which release it means.
func TestPromoteDeploysWhatWasPreviewed(t *testing.T) {
	for _, db := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "seedbed.db") }},
		{"postgres", func(t *testing.T) string { return testutil.PostgresURL(t) }},
	} {
		t.Run(db.name, func(t *testing.T) { testPromoteDeploysWhatWasPreviewed(t, db.url(t)) })
	}
}

func testPromoteDeploysWhatWasPreviewed(t *testing.T, dbURL string) {
	ctx := context.Background()
	b := newPromoteBundle(t, dbURL)
	a := b.goLive(t, "dev")
	plan, err := b.svc.PlanPromotion(ctx, "shop", "dev", "")
	if err != nil {
		t.Fatal(err)
	}
	if plan.Release.ID != a.ID || plan.To.Name != "staging" {
		t.Fatalf("plan shows release %d to %s, want %d to staging", plan.Release.ID, plan.To.Name, a.ID)
	}
	newer := b.goLive(t, "dev") // a push lands while the user reads the preview

	tests := []struct {
		name        string
		req         pipelines.PromoteRequest
		code        string
		wantRelease uint
		message     []string
	}{
		{name: "previewed release moved on", req: pipelines.PromoteRequest{ReleaseID: a.ID}, code: pipelines.EConflict,
			message: []string{"Stage dev moved on", "release #" + uintStr(a.ID) + " (build #" + uintStr(a.BuildID) + ") was previewed",
				"release #" + uintStr(newer.ID) + " (build #" + uintStr(newer.BuildID) + ") is live now", "Review the promotion again"}},
		{name: "no release named", req: pipelines.PromoteRequest{}, code: pipelines.EInvalid, message: []string{"Say which release you reviewed", `"live": true`}},
		{name: "release and live both", req: pipelines.PromoteRequest{ReleaseID: newer.ID, AnyLive: true}, code: pipelines.EInvalid, message: []string{"not both"}},
		{name: "the release live now", req: pipelines.PromoteRequest{ReleaseID: newer.ID}, wantRelease: newer.ID},
		{name: "whatever is live, asked for", req: pipelines.PromoteRequest{AnyLive: true}, wantRelease: newer.ID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			req.App, req.From, req.To, req.By = "shop", "dev", "staging", "ada@example.com"
			before, _ := b.st.Deploys(ctx, b.app.ID, 100)
			d, _, err := b.svc.Promote(ctx, req)
			if tt.code != "" {
				if got := pipelines.ErrorCode(err); got != tt.code {
					t.Fatalf("Promote: %v (code %q), want code %q", err, got, tt.code)
				}
				for _, want := range tt.message {
					if !strings.Contains(pipelines.ErrorMessage(err), want) {
						t.Errorf("message %q lacks %q", pipelines.ErrorMessage(err), want)
					}
				}
				if after, _ := b.st.Deploys(ctx, b.app.ID, 100); len(after) != len(before) {
					t.Errorf("a refused promotion recorded a deploy: %d deploys before, %d after", len(before), len(after))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			stored, err := b.st.DeployByID(ctx, d.ID)
			if err != nil {
				t.Fatal(err)
			}
			if stored.ReleaseID == nil || *stored.ReleaseID != tt.wantRelease || stored.Status != store.DeployQueued {
				t.Fatalf("promotion deploy: release %v, status %s; want release %d, queued", stored.ReleaseID, stored.Status, tt.wantRelease)
			}
		})
	}
}

func uintStr(n uint) string { return strconv.FormatUint(uint64(n), 10) }
