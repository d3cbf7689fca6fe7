package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/seedbed/seedbed/store"
)

func TestFilterBuildsAndActivity(t *testing.T) {
	eachDatabase(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a, _ := newApp(t, s, "shop")
		b2, _ := newApp(t, s, "other")
		for i := 0; i < 10; i++ {
			b := store.Build{AppID: a.ID, Ref: "main", Status: store.BuildSucceeded, TriggerKind: "push", TriggeredBy: "ada@example.com"}
			if i%2 == 0 {
				b.Ref, b.Status, b.TriggerKind = "feature", store.BuildFailed, "console"
			}
			if err := s.CreateBuild(ctx, &b); err != nil {
				t.Fatal(err)
			}
		}
		ob := store.Build{AppID: b2.ID, Ref: "main", Status: store.BuildSucceeded, TriggerKind: "cli"}
		if err := s.CreateBuild(ctx, &ob); err != nil {
			t.Fatal(err)
		}
		got, err := s.FilterBuilds(ctx, a.ID, store.BuildFilter{Ref: "feature", Status: store.BuildFailed, Trigger: "console", Limit: 3})
		if err != nil || len(got) != 3 || got[0].ID <= got[1].ID {
			t.Fatalf("first page: %v %v", got, err)
		}
		rest, err := s.FilterBuilds(ctx, a.ID, store.BuildFilter{Ref: "feature", Before: got[2].ID})
		if err != nil || len(rest) != 2 || rest[0].ID >= got[2].ID {
			t.Fatalf("second page: %v %v", rest, err)
		}
		refs, err := s.BuildRefs(ctx, a.ID, 10)
		if err != nil || len(refs) != 2 || refs[0] != "feature" || refs[1] != "main" {
			t.Fatalf("refs: %v %v", refs, err)
		}

		stages, err := s.Stages(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		d := store.Deploy{AppID: a.ID, StageID: stages[1].ID, Status: store.DeployRejected, TriggerKind: "promotion", TriggeredBy: "ada@example.com", DecidedBy: "grace@example.com", DecidedAt: &now}
		if err := s.CreateDeploy(ctx, &d); err != nil {
			t.Fatal(err)
		}
		feed, err := s.Activity(ctx, store.ActivityFilter{AppIDs: []uint{a.ID}, Limit: 5})
		if err != nil || len(feed) != 5 {
			t.Fatalf("feed: %v %v", feed, err)
		}
		if e := feed[0]; e.Kind != store.ActivityDeploy || e.App != "shop" || e.Stage != "staging" || e.DecidedBy != "grace@example.com" || e.DecidedAt == nil {
			t.Errorf("newest = %+v", e)
		}
		for _, e := range feed {
			if e.AppID != a.ID {
				t.Errorf("feed of shop has %+v", e)
			}
		}
		if none, err := s.Activity(ctx, store.ActivityFilter{AppIDs: []uint{}}); err != nil || len(none) != 0 {
			t.Errorf("no apps: %v %v", none, err)
		}
		all, err := s.Activity(ctx, store.ActivityFilter{Limit: 100})
		if err != nil || len(all) != 12 {
			t.Errorf("all apps: %d entries, %v", len(all), err)
		}
	})
}

func TestAcceptInvite(t *testing.T) {
	eachDatabase(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now().UTC()
		inv := store.Invite{TokenHash: "h1", Email: "grace@example.com", IsApprover: true, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.CreateInvite(ctx, &inv); err != nil {
			t.Fatal(err)
		}
		u := store.User{PasswordHash: "x"}
		if _, err := s.AcceptInvite(ctx, "h1", now, &u); err != nil || u.ID == 0 || !u.IsApprover || u.Email != "grace@example.com" {
			t.Fatalf("accept: %+v %v", u, err)
		}
		again := store.User{PasswordHash: "y"}
		if _, err := s.AcceptInvite(ctx, "h1", now, &again); !errors.Is(err, store.ErrInviteUsed) {
			t.Fatalf("second use: %v", err)
		}
		old := store.Invite{TokenHash: "h2", Email: "late@example.com", CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)}
		if err := s.CreateInvite(ctx, &old); err != nil {
			t.Fatal(err)
		}
		late := store.User{PasswordHash: "z"}
		if _, err := s.AcceptInvite(ctx, "h2", now, &late); !errors.Is(err, store.ErrInviteExpired) {
			t.Fatalf("expired: %v", err)
		}
		if _, err := s.UserByEmail(ctx, "late@example.com"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("an expired invite made a user: %v", err)
		}
		if _, err := s.AcceptInvite(ctx, "nope", now, &late); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown: %v", err)
		}
		// An email that became a user meanwhile: refused, invite left unused.
		dup := store.Invite{TokenHash: "h3", Email: "grace@example.com", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.CreateInvite(ctx, &dup); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AcceptInvite(ctx, "h3", now, &store.User{PasswordHash: "w"}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("taken email: %v", err)
		}
		if left, _ := s.InviteByTokenHash(ctx, "h3"); left.UsedAt != nil {
			t.Error("a failed accept used the invite up")
		}
	})
}
