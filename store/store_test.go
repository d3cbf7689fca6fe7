package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/testutil"
)

// eachDatabase runs f once on a migrated SQLite store and once on a migrated
// PostgreSQL store.
func eachDatabase(t *testing.T, f func(t *testing.T, s *store.Store)) {
	t.Helper()
	dbs := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "seedbed.db") }},
		{"postgres", func(t *testing.T) string { return testutil.PostgresURL(t) }},
	}
	for _, db := range dbs {
		t.Run(db.name, func(t *testing.T) {
			s, err := store.Open(context.Background(), db.url(t))
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			f(t, s)
		})
	}
}

func newApp(t *testing.T, s *store.Store, name string) (store.App, []store.Stage) {
	t.Helper()
	a := store.App{Name: name, RepoURL: "/src/" + name, Branch: "main"}
	stages := []store.Stage{{Name: "dev", Branch: "main"}, {Name: "staging"}, {Name: "prod"}}
	if err := s.CreateApp(context.Background(), &a, stages); err != nil {
		t.Fatalf("create app: %v", err)
	}
	return a, stages
}

func TestOpenTwiceAppliesMigrationsOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seedbed.db")
	for i := 0; i < 2; i++ {
		s, err := store.Open(context.Background(), path)
		if err != nil {
			t.Fatalf("open #%d: %v", i+1, err)
		}
		s.Close()
	}
}

func TestApps(t *testing.T) {
	eachDatabase(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a, _ := newApp(t, s, "api")
		dup := store.App{Name: "api", RepoURL: "/x", Branch: "main"}
		if err := s.CreateApp(ctx, &dup, nil); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate app: got %v, want ErrConflict", err)
		}
		got, err := s.AppByName(ctx, "api")
		if err != nil || got.ID != a.ID {
			t.Fatalf("AppByName = %+v, %v", got, err)
		}
		if _, err := s.AppByName(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing app: got %v, want ErrNotFound", err)
		}
		stages, err := s.Stages(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, st := range stages {
			names = append(names, st.Name)
		}
		if len(names) != 3 || names[0] != "dev" || names[1] != "staging" || names[2] != "prod" {
			t.Fatalf("stages in pipeline order = %v", names)
		}
	})
}

func TestStageLock(t *testing.T) {
	eachDatabase(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		_, stages := newApp(t, s, "locky")
		id := stages[0].ID
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
			got, err := s.TryLockStage(ctx, id, tt.owner, tt.ttl)
			if err != nil || got != tt.want {
				t.Fatalf("%s: TryLockStage(%s) = %v, %v; want %v", tt.name, tt.owner, got, err, tt.want)
			}
		}
		time.Sleep(100 * time.Millisecond)
		if ok, _ := s.TryLockStage(ctx, id, "b", time.Minute); !ok {
			t.Fatal("an expired lock was not free for another owner")
		}
		if err := s.UnlockStage(ctx, id, "a"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.TryLockStage(ctx, id, "c", time.Minute); ok {
			t.Fatal("unlock by a non-owner freed the lock")
		}
		if err := s.ReleaseStageLocks(ctx, "b"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.TryLockStage(ctx, id, "c", time.Minute); !ok {
			t.Fatal("ReleaseStageLocks did not free the lock")
		}
	})
}

// Many workers racing for one stage's lock: exactly one holds it at a time.
func TestStageLockIsExclusive(t *testing.T) {
	eachDatabase(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		_, stages := newApp(t, s, "race")
		var holders, maxHolders, wins atomic.Int32
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				owner := string(rune('a' + w))
				for i := 0; i < 5; {
					ok, err := s.TryLockStage(ctx, stages[0].ID, owner, time.Minute)
					if err != nil {
						t.Error(err)
						return
					}
					if !ok {
						time.Sleep(time.Millisecond)
						continue
					}
					n := holders.Add(1)
					for {
						m := maxHolders.Load()
						if n <= m || maxHolders.CompareAndSwap(m, n) {
							break
						}
					}
					time.Sleep(time.Millisecond)
					holders.Add(-1)
					wins.Add(1)
					if err := s.UnlockStage(ctx, stages[0].ID, owner); err != nil {
						t.Error(err)
						return
					}
					i++
				}
			}(w)
		}
		wg.Wait()
		if maxHolders.Load() != 1 || wins.Load() != 40 {
			t.Fatalf("max holders at once = %d (want 1), lock taken %d times (want 40)", maxHolders.Load(), wins.Load())
		}
	})
}

func TestBuildsDeploysAndLogs(t *testing.T) {
	eachDatabase(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a, stages := newApp(t, s, "web")
		b := store.Build{AppID: a.ID, Ref: "main", Status: store.BuildQueued, TriggerKind: "api"}
		if err := s.CreateBuild(ctx, &b); err != nil {
			t.Fatal(err)
		}
		d := store.Deploy{AppID: a.ID, StageID: stages[0].ID, BuildID: &b.ID, Status: store.DeployQueued, TriggerKind: "api"}
		if err := s.CreateDeploy(ctx, &d); err != nil {
			t.Fatal(err)
		}
		ub, _ := s.UnfinishedBuilds(ctx)
		ud, _ := s.UnfinishedDeploys(ctx)
		if len(ub) != 1 || len(ud) != 1 {
			t.Fatalf("unfinished: %d builds, %d deploys; want 1 and 1", len(ub), len(ud))
		}

		r1 := store.Release{AppID: a.ID, BuildID: b.ID, Manifest: `{"v":1}`}
		if err := s.CreateRelease(ctx, &r1); err != nil {
			t.Fatal(err)
		}
		r2 := store.Release{AppID: a.ID, BuildID: b.ID, Manifest: `{"v":2}`}
		if err := s.CreateRelease(ctx, &r2); err != nil {
			t.Fatal(err)
		}
		if r1.ID != r2.ID {
			t.Fatalf("a build's second release got id %d, first %d: a retried build must reuse its release", r2.ID, r1.ID)
		}

		arts := []store.Artifact{{Service: "api", Function: "hello", Digest: "sha256:aa", Size: 3}}
		for i := 0; i < 2; i++ { // a retried build replaces, never duplicates
			if err := s.ReplaceArtifacts(ctx, b.ID, arts); err != nil {
				t.Fatal(err)
			}
		}
		if got, _ := s.Artifacts(ctx, b.ID); len(got) != 1 {
			t.Fatalf("artifacts after a retried build = %d, want 1", len(got))
		}

		var lines []store.LogLine
		for i := 0; i < 450; i++ {
			lines = append(lines, store.LogLine{OwnerKind: store.LogBuild, OwnerID: b.ID, Stream: "stdout", Text: string(rune('a' + i%26))})
		}
		if err := s.AppendLog(ctx, lines); err != nil {
			t.Fatal(err)
		}
		first, _ := s.LogLines(ctx, store.LogBuild, b.ID, 0, 400)
		rest, _ := s.LogLines(ctx, store.LogBuild, b.ID, first[len(first)-1].ID, 400)
		if len(first) != 400 || len(rest) != 50 || rest[49].Text != lines[449].Text {
			t.Fatalf("log pages = %d + %d lines, want 400 + 50 in order", len(first), len(rest))
		}

		d.ReleaseID = &r1.ID
		d.Status = store.DeploySucceeded
		if err := s.SaveDeploy(ctx, &d); err != nil {
			t.Fatal(err)
		}
		if err := s.SetStageLive(ctx, stages[0].ID, r1.ID, d.ID); err != nil {
			t.Fatal(err)
		}
		st, _ := s.StageByID(ctx, stages[0].ID)
		if st.LiveReleaseID == nil || *st.LiveReleaseID != r1.ID {
			t.Fatalf("live release = %v, want %d", st.LiveReleaseID, r1.ID)
		}
		newer := store.Deploy{AppID: a.ID, StageID: stages[0].ID, Status: store.DeployQueued, TriggerKind: "api"}
		if err := s.CreateDeploy(ctx, &newer); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.NewerDeploys(ctx, d); len(got) != 1 || got[0].ID != newer.ID {
			t.Fatalf("NewerDeploys = %+v, want deploy %d", got, newer.ID)
		}
	})
}

func TestTokensAndSessions(t *testing.T) {
	eachDatabase(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := store.User{Email: "a@example.com", PasswordHash: "x"}
		if err := s.CreateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateUser(ctx, &store.User{Email: "a@example.com", PasswordHash: "y"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate email: %v, want ErrConflict", err)
		}
		tok := store.APIToken{UserID: u.ID, Name: "cli", Hash: "h1", Prefix: "sbt_x"}
		if err := s.CreateAPIToken(ctx, &tok); err != nil {
			t.Fatal(err)
		}
		if got, _, err := s.UserByTokenHash(ctx, "h1"); err != nil || got.ID != u.ID {
			t.Fatalf("UserByTokenHash = %+v, %v", got, err)
		}
		if err := s.RevokeAPIToken(ctx, u.ID, tok.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.UserByTokenHash(ctx, "h1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("revoked token still works: %v", err)
		}
		expired := store.Session{TokenHash: "old", UserID: u.ID, CSRFToken: "c", ExpiresAt: time.Now().Add(-time.Minute)}
		live := store.Session{TokenHash: "new", UserID: u.ID, CSRFToken: "c", ExpiresAt: time.Now().Add(time.Hour)}
		for _, ss := range []*store.Session{&expired, &live} {
			if err := s.CreateSession(ctx, ss); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.SessionByTokenHash(ctx, "old"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("expired session: %v, want ErrNotFound", err)
		}
		if _, err := s.SessionByTokenHash(ctx, "new"); err != nil {
			t.Fatalf("live session: %v", err)
		}
	})
}

func TestStageStatuses(t *testing.T) {
	eachDatabase(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a, stages := newApp(t, s, "overview")
		b, _ := newApp(t, s, "other")
		for i, status := range []string{store.DeployFailed, store.DeploySucceeded} {
			d := store.Deploy{AppID: a.ID, StageID: stages[0].ID, Status: status, TriggerKind: "api"}
			if err := s.CreateDeploy(ctx, &d); err != nil {
				t.Fatalf("deploy %d: %v", i, err)
			}
		}
		got, err := s.StageStatuses(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []store.StageStatus{
			{AppID: a.ID, Name: "dev", Position: 0, Status: store.DeploySucceeded},
			{AppID: a.ID, Name: "staging", Position: 1},
			{AppID: a.ID, Name: "prod", Position: 2},
			{AppID: b.ID, Name: "dev", Position: 0},
			{AppID: b.ID, Name: "staging", Position: 1},
			{AppID: b.ID, Name: "prod", Position: 2},
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("StageStatuses =\n%v\nwant\n%v", got, want)
		}
	})
}

// The pipeline board's two questions about a stage: is there a release to
// roll back to, and which promotions await approval.
func TestRollbackTargetAndAwaiting(t *testing.T) {
	eachDatabase(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a, stages := newApp(t, s, "board")
		dev, staging := stages[0].ID, stages[1].ID
		release := func() uint {
			b := store.Build{AppID: a.ID, Ref: "main", Status: store.BuildSucceeded, TriggerKind: "api"}
			if err := s.CreateBuild(ctx, &b); err != nil {
				t.Fatal(err)
			}
			r := store.Release{AppID: a.ID, BuildID: b.ID, Manifest: "{}"}
			if err := s.CreateRelease(ctx, &r); err != nil {
				t.Fatal(err)
			}
			return r.ID
		}
		deploy := func(stage, rel uint, status string) store.Deploy {
			d := store.Deploy{AppID: a.ID, StageID: stage, ReleaseID: &rel, Status: status, TriggerKind: "api"}
			if err := s.CreateDeploy(ctx, &d); err != nil {
				t.Fatal(err)
			}
			return d
		}
		r1, r2 := release(), release()
		has := func(stage, live uint) bool {
			t.Helper()
			ok, err := s.HasRollbackTarget(ctx, stage, live)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		deploy(dev, r1, store.DeploySucceeded)
		if has(dev, r1) {
			t.Error("one release deployed: a rollback target, want none")
		}
		deploy(dev, r2, store.DeployFailed)
		deploy(staging, r2, store.DeploySucceeded)
		if has(dev, r1) {
			t.Error("a failed deploy and another stage's release count as rollback targets")
		}
		deploy(dev, r2, store.DeploySucceeded)
		if !has(dev, r2) || !has(dev, r1) {
			t.Error("two releases succeeded on dev: no rollback target found")
		}

		w1 := deploy(staging, r1, store.DeployAwaiting)
		deploy(dev, r1, store.DeployAwaiting)
		w2 := deploy(staging, r2, store.DeployAwaiting)
		got, err := s.AwaitingDeploys(ctx, staging)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].ID != w2.ID || got[1].ID != w1.ID {
			t.Errorf("awaiting on staging = %+v, want deploys %d and %d, newest first", got, w2.ID, w1.ID)
		}
	})
}
