package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/testutil"
)

// eachDatabaseURL is eachDatabase for tests that open the database more
// than once, as several processes would.
func eachDatabaseURL(t *testing.T, f func(t *testing.T, url string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { f(t, filepath.Join(t.TempDir(), "seedbed.db")) })
	t.Run("postgres", func(t *testing.T) { f(t, testutil.PostgresURL(t)) })
}

func open(t *testing.T, url string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestAppSummaries(t *testing.T) {
	eachDatabase(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		web, _ := newApp(t, s, "web")
		api, _ := newApp(t, s, "api")
		got, err := s.AppSummaries(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []store.AppSummary{
			{ID: api.ID, Name: "api", RepoURL: "/src/api", Branch: "main"},
			{ID: web.ID, Name: "web", RepoURL: "/src/web", Branch: "main"},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("AppSummaries = %+v, want %+v", got, want)
		}
	})
}

// TestOverviewFollowsEveryChange makes each kind of change the apps
// overview shows, through another Store on the same database (another
// process) or in plain SQL, and checks that the first Store's Overview
// answers what a fresh read does, and keeps its rows while nothing changes.
func TestOverviewFollowsEveryChange(t *testing.T) {
	eachDatabaseURL(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s, other := open(t, url), open(t, url)
		sqlDB, placeholder := rawDB(t, url)

		fresh := func(t *testing.T) store.Overview {
			t.Helper()
			apps, err := s.AppSummaries(ctx)
			if err != nil {
				t.Fatal(err)
			}
			statuses, err := s.StageStatuses(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return store.Overview{Apps: apps, Statuses: statuses}
		}
		overview := func(t *testing.T) store.Overview {
			t.Helper()
			o, err := s.Overview(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return o
		}

		first := overview(t) // no apps yet: kept all the same
		var (
			app    store.App
			stages []store.Stage
			deploy store.Deploy
			extra  store.Stage
		)
		steps := []struct {
			name   string
			change func(t *testing.T) error
		}{
			{"create app", func(t *testing.T) error {
				app = store.App{Name: "shop", RepoURL: "/src/shop", Branch: "main"}
				stages = []store.Stage{{Name: "dev", Branch: "main"}, {Name: "prod"}}
				return other.CreateApp(ctx, &app, stages)
			}},
			{"queue a deploy", func(t *testing.T) error {
				deploy = store.Deploy{AppID: app.ID, StageID: stages[0].ID, Status: store.DeployQueued, TriggerKind: "api"}
				return other.CreateDeploy(ctx, &deploy)
			}},
			{"deploy succeeds", func(t *testing.T) error {
				deploy.Status = store.DeploySucceeded
				return other.SaveDeploy(ctx, &deploy)
			}},
			{"add a stage", func(t *testing.T) error {
				extra = store.Stage{AppID: app.ID, Name: "staging"}
				return other.CreateStage(ctx, &extra, 1)
			}},
			{"reorder stages", func(t *testing.T) error {
				return other.ReorderStages(ctx, app.ID, []uint{stages[0].ID, stages[1].ID, extra.ID})
			}},
			{"deploy fails, in plain SQL", func(t *testing.T) error {
				_, err := sqlDB.ExecContext(ctx, "UPDATE deploys SET status = 'failed' WHERE id = "+placeholder(1), deploy.ID)
				return err
			}},
			{"rename the app, in plain SQL", func(t *testing.T) error {
				_, err := sqlDB.ExecContext(ctx, "UPDATE apps SET name = 'store', branch = 'trunk' WHERE id = "+placeholder(1), app.ID)
				return err
			}},
			{"delete a stage with its deploys", func(t *testing.T) error {
				return other.DeleteStage(ctx, stages[0])
			}},
			{"delete the app, in plain SQL", func(t *testing.T) error {
				_, err := sqlDB.ExecContext(ctx, "DELETE FROM apps WHERE id = "+placeholder(1), app.ID)
				return err
			}},
		}
		last := first
		for _, step := range steps {
			if err := step.change(t); err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
			got, want := overview(t), fresh(t)
			if !reflect.DeepEqual(got.Apps, want.Apps) || !reflect.DeepEqual(got.Statuses, want.Statuses) {
				t.Fatalf("after %s: Overview =\n%+v\n%+v\nwant\n%+v\n%+v", step.name, got.Apps, got.Statuses, want.Apps, want.Statuses)
			}
			if got.Version == last.Version {
				t.Fatalf("after %s: version still %d", step.name, got.Version)
			}
			again := overview(t)
			if again.Version != got.Version || len(again.Statuses) > 0 && &again.Statuses[0] != &got.Statuses[0] {
				t.Fatalf("after %s: nothing changed, yet Overview read its rows again", step.name)
			}
			last = got
		}
	})
}

// rawDB opens the database behind url with database/sql alone, as a
// program other than Seedbed would, and says how its placeholders read.
func rawDB(t *testing.T, url string) (*sql.DB, func(n int) string) {
	t.Helper()
	driver, dsn, placeholder := "sqlite", url+"?_pragma=foreign_keys(1)", func(int) string { return "?" }
	if strings.HasPrefix(url, "postgres") {
		driver, dsn, placeholder = "pgx", url, func(n int) string { return fmt.Sprintf("$%d", n) }
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, placeholder
}

func TestSessionUser(t *testing.T) {
	// SessionUser names the columns of both: a new field needs adding there.
	if n := reflect.TypeOf(store.User{}).NumField(); n != 7 {
		t.Fatalf("store.User has %d fields; SessionUser reads 7: add the new ones to its query", n)
	}
	if n := reflect.TypeOf(store.Session{}).NumField(); n != 7 {
		t.Fatalf("store.Session has %d fields; SessionUser reads 7: add the new ones to its query", n)
	}
	eachDatabase(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := store.User{Email: "ada@example.com", PasswordHash: "x", IsAdmin: true, IsApprover: true, IsCreator: true}
		if err := s.CreateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
		live := store.Session{TokenHash: "live", UserID: u.ID, CSRFToken: "c", UserAgent: "test", ExpiresAt: time.Now().UTC().Add(time.Hour)}
		old := store.Session{TokenHash: "old", UserID: u.ID, CSRFToken: "c", ExpiresAt: time.Now().UTC().Add(-time.Hour)}
		for _, sess := range []*store.Session{&live, &old} {
			if err := s.CreateSession(ctx, sess); err != nil {
				t.Fatal(err)
			}
		}
		gotU, gotS, err := s.SessionUser(ctx, "live")
		if err != nil {
			t.Fatal(err)
		}
		wantU, err := s.UserByID(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantS, err := s.SessionByTokenHash(ctx, "live")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(gotU, wantU) || !reflect.DeepEqual(gotS, wantS) {
			t.Fatalf("SessionUser =\n%+v\n%+v\nwant\n%+v\n%+v", gotU, gotS, wantU, wantS)
		}
		for _, hash := range []string{"old", "unknown"} {
			if _, _, err := s.SessionUser(ctx, hash); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("SessionUser(%q): %v, want ErrNotFound", hash, err)
			}
		}
	})
}

// LogLines scans its columns by hand: every field must come back.
func TestLogLinesReadEveryField(t *testing.T) {
	if n := reflect.TypeOf(store.LogLine{}).NumField(); n != 6 {
		t.Fatalf("store.LogLine has %d fields; LogLines reads 6: add the new ones to its query", n)
	}
	eachDatabase(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		at := time.Date(2026, 3, 4, 5, 6, 7, 8000, time.UTC)
		want := []store.LogLine{
			{OwnerKind: store.LogDeploy, OwnerID: 7, Stream: "stderr", Text: "first", CreatedAt: at},
			{OwnerKind: store.LogDeploy, OwnerID: 7, Stream: "seedbed", Text: "second", CreatedAt: at.Add(time.Second)},
			{OwnerKind: store.LogBuild, OwnerID: 7, Stream: "stdout", Text: "another owner's", CreatedAt: at},
		}
		if err := s.AppendLog(ctx, want); err != nil {
			t.Fatal(err)
		}
		got, err := s.LogLines(ctx, store.LogDeploy, 7, 0, 10)
		if err != nil || len(got) != 2 {
			t.Fatalf("LogLines = %+v, %v; want 2 lines", got, err)
		}
		for i, l := range got {
			w := want[i]
			if l.ID == 0 || l.OwnerKind != w.OwnerKind || l.OwnerID != w.OwnerID || l.Stream != w.Stream || l.Text != w.Text || !l.CreatedAt.Equal(w.CreatedAt) {
				t.Errorf("line %d = %+v, want %+v", i, l, w)
			}
		}
		if after, _ := s.LogLines(ctx, store.LogDeploy, 7, got[0].ID, 1); len(after) != 1 || after[0].ID != got[1].ID {
			t.Errorf("LogLines after the first, limit 1 = %+v, want the second", after)
		}
	})
}

// The overview reads what each stage serves beside its newest deploy: a
// cancelled or awaiting deploy over a live release leaves the release live.
func TestStageStatusesShowWhatIsLive(t *testing.T) {
	eachDatabase(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		app, stages := newApp(t, s, "shop") // dev, staging, prod
		b := store.Build{AppID: app.ID, Ref: "main", CommitSHA: "0123456789abcdef0123456789abcdef01234567", Status: store.BuildSucceeded, TriggerKind: "api"}
		if err := s.CreateBuild(ctx, &b); err != nil {
			t.Fatal(err)
		}
		rel := store.Release{AppID: app.ID, BuildID: b.ID, Manifest: "{}"}
		if err := s.CreateRelease(ctx, &rel); err != nil {
			t.Fatal(err)
		}
		deploy := func(stage store.Stage, status string) store.Deploy {
			t.Helper()
			d := store.Deploy{AppID: app.ID, StageID: stage.ID, ReleaseID: &rel.ID, Status: status, TriggerKind: "api"}
			if err := s.CreateDeploy(ctx, &d); err != nil {
				t.Fatal(err)
			}
			return d
		}
		for _, st := range stages[:2] { // dev and staging serve rel; prod nothing
			d := deploy(st, store.DeploySucceeded)
			if err := s.SetStageLive(ctx, st.ID, rel.ID, d.ID); err != nil {
				t.Fatal(err)
			}
		}
		deploy(stages[0], store.DeployCancelled)
		deploy(stages[1], store.DeployAwaiting)
		deploy(stages[2], store.DeployFailed)

		got, err := s.StageStatuses(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []store.StageStatus{
			{AppID: app.ID, Name: "dev", Position: 0, Status: store.DeployCancelled, LiveReleaseID: rel.ID, LiveCommit: b.CommitSHA},
			{AppID: app.ID, Name: "staging", Position: 1, Status: store.DeployAwaiting, LiveReleaseID: rel.ID, LiveCommit: b.CommitSHA},
			{AppID: app.ID, Name: "prod", Position: 2, Status: store.DeployFailed},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("StageStatuses =\n%+v\nwant\n%+v", got, want)
		}
	})
}
