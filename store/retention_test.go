package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seedbed/seedbed/store"
)

// retentionFixture builds an app's history through the store: releases,
// deploys of them to stages, their logs and artifacts.
type retentionFixture struct {
	t   *testing.T
	s   *store.Store
	app store.App
}

func (f retentionFixture) release() store.Release {
	f.t.Helper()
	ctx := context.Background()
	b := store.Build{AppID: f.app.ID, Ref: "main", Status: store.BuildSucceeded, TriggerKind: "api"}
	if err := f.s.CreateBuild(ctx, &b); err != nil {
		f.t.Fatal(err)
	}
	if err := f.s.ReplaceArtifacts(ctx, b.ID, []store.Artifact{{Service: "api", Function: "fn", Digest: fmt.Sprintf("sha256:%064d", b.ID), Size: 1}}); err != nil {
		f.t.Fatal(err)
	}
	if err := f.s.AppendLog(ctx, []store.LogLine{{OwnerKind: store.LogBuild, OwnerID: b.ID, Stream: "stdout", Text: "built"}}); err != nil {
		f.t.Fatal(err)
	}
	r := store.Release{AppID: f.app.ID, BuildID: b.ID, Manifest: "{}"}
	if err := f.s.CreateRelease(ctx, &r); err != nil {
		f.t.Fatal(err)
	}
	return r
}

func (f retentionFixture) deploy(stage store.Stage, r store.Release, status string) store.Deploy {
	f.t.Helper()
	ctx := context.Background()
	d := store.Deploy{AppID: f.app.ID, StageID: stage.ID, BuildID: &r.BuildID, ReleaseID: &r.ID, Status: status, TriggerKind: "api"}
	if err := f.s.CreateDeploy(ctx, &d); err != nil {
		f.t.Fatal(err)
	}
	if err := f.s.AppendLog(ctx, []store.LogLine{{OwnerKind: store.LogDeploy, OwnerID: d.ID, Stream: "seedbed", Text: "applied"}}); err != nil {
		f.t.Fatal(err)
	}
	if status == store.DeploySucceeded {
		if err := f.s.SetStageLive(ctx, stage.ID, r.ID, d.ID); err != nil {
			f.t.Fatal(err)
		}
	}
	return d
}

// The releases retention keeps: live ones, each stage's newest served
// ones (the rollback targets), those unfinished deploys need and the
// app's newest; the rest go with their artifact rows and logs, and no
// rollback offers them afterwards.
func TestSplitAndPruneReleases(t *testing.T) {
	eachDatabase(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		app, stages := newApp(t, s, "keep")
		dev, staging, prod := stages[0], stages[1], stages[2]
		f := retentionFixture{t, s, app}
		var rs []store.Release
		for i := 0; i < 20; i++ {
			rs = append(rs, f.release())
		}
		// prod: r0 live since long ago; staging served r1..r3; dev served
		// r4..r15, with r14 failed; r16 awaits approval into prod, r17 is
		// queued for staging; r18, r19 were built and never deployed.
		f.deploy(prod, rs[0], store.DeploySucceeded)
		for _, r := range rs[1:4] {
			f.deploy(staging, r, store.DeploySucceeded)
		}
		for i, r := range rs[4:16] {
			status := store.DeploySucceeded
			if i == 10 {
				status = store.DeployFailed
			}
			f.deploy(dev, r, status)
		}
		f.deploy(prod, rs[16], store.DeployAwaiting)
		f.deploy(staging, rs[17], store.DeployQueued)

		split, err := s.SplitReleases(ctx, 3)
		if err != nil {
			t.Fatal(err)
		}
		var kept []uint
		for _, r := range split.Keep {
			kept = append(kept, r.ID)
			if r.Manifest != "{}" {
				t.Errorf("kept release %d came without its manifest", r.ID)
			}
		}
		id := func(is ...int) []uint {
			var out []uint
			for _, i := range is {
				out = append(out, rs[i].ID)
			}
			return out
		}
		// dev's three newest served: r15 (live), r13, r12 (r14 failed).
		wantKept := id(0, 1, 2, 3, 12, 13, 15, 16, 17, 18, 19)
		if !slices.Equal(kept, wantKept) {
			t.Fatalf("kept releases = %v, want %v", kept, wantKept)
		}
		if want := id(4, 5, 6, 7, 8, 9, 10, 11, 14); !slices.Equal(split.Drop, want) {
			t.Fatalf("dropped releases = %v, want %v", split.Drop, want)
		}
		var inUse []uint
		for _, r := range split.Keep {
			if split.InUse[r.ID] {
				inUse = append(inUse, r.ID)
			}
		}
		if want := id(0, 3, 15, 16, 17); !slices.Equal(inUse, want) {
			t.Fatalf("releases in use = %v, want %v (live, awaiting, queued)", inUse, want)
		}

		dry, err := s.CountReleasesToPrune(ctx, split.Drop)
		if err != nil {
			t.Fatal(err)
		}
		// The live release of prod and the release awaiting approval are
		// never deleted, even when asked to.
		got, err := s.PruneReleases(ctx, append(split.Drop, rs[0].ID, rs[16].ID))
		if err != nil {
			t.Fatal(err)
		}
		want := store.PrunedReleases{Releases: 9, Artifacts: 9, LogLines: 18, LogBytes: int64(9*len("built") + 9*len("applied"))}
		if got != want || dry != want {
			t.Fatalf("pruned %+v (dry run said %+v), want %+v", got, dry, want)
		}
		for _, i := range []int{0, 16} {
			if _, err := s.ReleaseByID(ctx, rs[i].ID); err != nil {
				t.Fatalf("release r%d (live or awaiting) was pruned: %v", i, err)
			}
		}
		for _, i := range []int{4, 14} {
			if _, err := s.ReleaseByID(ctx, rs[i].ID); err == nil {
				t.Errorf("release r%d survived", i)
			}
			lines, err := s.LogLines(ctx, store.LogBuild, rs[i].BuildID, 0, 10)
			if err != nil || len(lines) != 1 || !strings.HasPrefix(lines[0].Text, store.LogPrunedPrefix) {
				t.Errorf("log of build of r%d after pruning = %+v, %v; want one line saying it was pruned", i, lines, err)
			}
			if arts, _ := s.Artifacts(ctx, rs[i].BuildID); len(arts) != 0 {
				t.Errorf("artifact rows of r%d's build survived: %+v", i, arts)
			}
		}
		if arts, _ := s.Artifacts(ctx, rs[13].BuildID); len(arts) != 1 {
			t.Errorf("artifact rows of a kept release = %+v, want 1", arts)
		}
		// Every release a rollback of dev can pick still exists.
		ds, err := s.StageDeploys(ctx, dev.ID, 500)
		if err != nil {
			t.Fatal(err)
		}
		var offered []uint
		for _, d := range ds {
			if d.Status == store.DeploySucceeded && d.ReleaseID != nil {
				offered = append(offered, *d.ReleaseID)
				if _, err := s.ReleaseByID(ctx, *d.ReleaseID); err != nil {
					t.Errorf("dev's history offers release %d, which is gone: %v", *d.ReleaseID, err)
				}
			}
		}
		if want := id(15, 13, 12); !slices.Equal(offered, want) {
			t.Errorf("dev's history offers %v after pruning, want %v", offered, want)
		}
		// A second pass finds nothing more and adds no second marker.
		split, err = s.SplitReleases(ctx, 3)
		if err != nil || len(split.Drop) != 0 {
			t.Fatalf("second split drops %v, %v; want nothing", split.Drop, err)
		}
	})
}

func TestPruneLogsBefore(t *testing.T) {
	eachDatabase(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now().UTC()
		var lines []store.LogLine
		for owner := uint(1); owner <= 3; owner++ {
			for i := 0; i < 5; i++ {
				at := now.Add(-40 * 24 * time.Hour)
				if owner == 3 || i == 4 {
					at = now.Add(-time.Hour)
				}
				lines = append(lines, store.LogLine{OwnerKind: store.LogBuild, OwnerID: owner, Stream: "stdout", Text: "line", CreatedAt: at})
			}
		}
		if err := s.AppendLog(ctx, lines); err != nil {
			t.Fatal(err)
		}
		cutoff := now.Add(-30 * 24 * time.Hour)
		dry, err := s.PruneLogsBefore(ctx, cutoff, "30 days", true)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.PruneLogsBefore(ctx, cutoff, "30 days", false)
		if err != nil {
			t.Fatal(err)
		}
		want := store.PrunedLogs{Owners: 2, Lines: 8, Bytes: 8 * 4}
		if got != want || dry != want {
			t.Fatalf("pruned %+v (dry run %+v), want %+v", got, dry, want)
		}
		for owner, wantN := range map[uint]int{1: 2, 2: 2, 3: 5} {
			ls, err := s.LogLines(ctx, store.LogBuild, owner, 0, 100)
			if err != nil || len(ls) != wantN {
				t.Fatalf("build %d keeps %d lines (%v), want %d", owner, len(ls), err, wantN)
			}
			if owner != 3 && !strings.HasPrefix(ls[len(ls)-1].Text, store.LogPrunedPrefix+" by retention: lines older than 30 days") {
				t.Errorf("build %d's log does not say it was pruned: %+v", owner, ls)
			}
		}
		// Once the marker itself is old, it stays: one per log.
		again, err := s.PruneLogsBefore(ctx, now.Add(time.Minute), "0s", false)
		if err != nil {
			t.Fatal(err)
		}
		if again.Lines != 7 { // 2 recent lines of builds 1 and 2, 5 of build 3
			t.Fatalf("second pass pruned %d lines, want 7 (markers stay)", again.Lines)
		}
		ls, _ := s.LogLines(ctx, store.LogBuild, 1, 0, 100)
		if len(ls) != 2 {
			t.Fatalf("after two passes build 1 has %+v, want its two markers", ls)
		}
	})
}

// Deliveries are capped per app, and rejected ones across apps: an
// anonymous sender cannot grow the table without bound.
func TestPruneDeliveries(t *testing.T) {
	eachDatabase(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a, _ := newApp(t, s, "hooks-a")
		b, _ := newApp(t, s, "hooks-b")
		add := func(app uint, outcome string, n int) {
			for i := 0; i < n; i++ {
				d := store.WebhookDelivery{AppID: app, Forge: "github", DeliveryID: fmt.Sprintf("%s-%d-%d", outcome, app, i), Outcome: outcome}
				if err := s.RecordDelivery(ctx, &d); err != nil {
					t.Fatal(err)
				}
			}
		}
		add(a.ID, store.DeliveryAccepted, 5)
		add(a.ID, store.DeliveryRejected, 30)
		add(b.ID, store.DeliveryRejected, 30)
		add(b.ID, store.DeliveryAccepted, 3)
		dry, err := s.PruneDeliveries(ctx, 20, 25, true)
		if err != nil {
			t.Fatal(err)
		}
		n, err := s.PruneDeliveries(ctx, 20, 25, false)
		if err != nil {
			t.Fatal(err)
		}
		// a keeps its newest 20 (all rejected); b its newest 20 (17
		// rejected + 3 accepted); then only 25 rejected stay overall: b's
		// 17 newest and a's 8 newest.
		if dry != n || n != 68-28 {
			t.Fatalf("pruned %d deliveries (dry run %d), want %d", n, dry, 68-28)
		}
		count := func(app uint) (total, rejected int) {
			ds, err := s.Deliveries(ctx, app, 1000)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range ds {
				if d.Outcome == store.DeliveryRejected {
					rejected++
				}
			}
			return len(ds), rejected
		}
		if total, rej := count(a.ID); total != 8 || rej != 8 {
			t.Errorf("app a keeps %d deliveries (%d rejected), want 8 (8)", total, rej)
		}
		if total, rej := count(b.ID); total != 20 || rej != 17 {
			t.Errorf("app b keeps %d deliveries (%d rejected), want 20 (17)", total, rej)
		}
	})
}

func TestMaintenanceLock(t *testing.T) {
	eachDatabase(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		tests := []struct {
			name  string
			owner string
			ttl   time.Duration
			want  bool
		}{
			{"first owner takes it", "a", time.Minute, true},
			{"another owner waits", "b", time.Minute, false},
			{"the owner renews it", "a", 50 * time.Millisecond, true},
		}
		for _, tt := range tests {
			got, err := s.TryLockMaintenance(ctx, "gc", tt.owner, tt.ttl)
			if err != nil || got != tt.want {
				t.Fatalf("%s: TryLockMaintenance(%s) = %v, %v; want %v", tt.name, tt.owner, got, err, tt.want)
			}
		}
		if ok, _ := s.TryLockMaintenance(ctx, "other", "b", time.Minute); !ok {
			t.Fatal("a lock of another name was not free")
		}
		time.Sleep(100 * time.Millisecond)
		if ok, _ := s.TryLockMaintenance(ctx, "gc", "b", time.Minute); !ok {
			t.Fatal("an expired lock was not free for another owner")
		}
		if err := s.UnlockMaintenance(ctx, "gc", "a"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.TryLockMaintenance(ctx, "gc", "c", time.Minute); ok {
			t.Fatal("unlock by a non-owner freed the lock")
		}
		if err := s.UnlockMaintenance(ctx, "gc", "b"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.TryLockMaintenance(ctx, "gc", "c", time.Minute); !ok {
			t.Fatal("unlock by the owner did not free the lock")
		}
	})
}
