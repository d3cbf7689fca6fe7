package store_test

import (
	"context"
	"errors"
	"strings"
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

// Pending invites are the unused, unrevoked, unexpired ones; revoking one
// makes its link fail, may be done once and not after use, and puts an
// entry in the feed for admins (Invites) only.
func TestRevokeInviteAndPending(t *testing.T) {
	eachDatabase(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Second)
		mk := func(hash, email string, created time.Time, ttl time.Duration) store.Invite {
			t.Helper()
			inv := store.Invite{TokenHash: hash, Email: email, CreatedBy: "ada@example.com", CreatedAt: created, ExpiresAt: created.Add(ttl)}
			if err := s.CreateInvite(ctx, &inv); err != nil {
				t.Fatal(err)
			}
			return inv
		}
		used := mk("used", "used@example.com", now.Add(-time.Hour), 2*time.Hour)
		if _, err := s.AcceptInvite(ctx, "used", now, &store.User{PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
		mk("late", "late@example.com", now.Add(-3*time.Hour), time.Hour)
		a := mk("a", "a@example.com", now.Add(-2*time.Minute), time.Hour)
		mk("b", "b@example.com", now.Add(-time.Minute), time.Hour)

		pending := func() string {
			invs, err := s.PendingInvites(ctx, now)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, inv := range invs {
				out = append(out, inv.Email)
			}
			return strings.Join(out, " ")
		}
		if got := pending(); got != "b@example.com a@example.com" {
			t.Fatalf("pending = %q, want the unused unexpired ones, newest first", got)
		}

		inv, err := s.RevokeInvite(ctx, a.ID, "grace@example.com", now)
		if err != nil || inv.RevokedAt == nil || inv.RevokedBy != "grace@example.com" || inv.Pending(now) {
			t.Fatalf("revoke: %+v, %v", inv, err)
		}
		if _, err := s.RevokeInvite(ctx, a.ID, "ada@example.com", now); !errors.Is(err, store.ErrInviteRevoked) {
			t.Errorf("revoke twice: %v", err)
		}
		if _, err := s.RevokeInvite(ctx, used.ID, "ada@example.com", now); !errors.Is(err, store.ErrInviteUsed) {
			t.Errorf("revoke a used invite: %v", err)
		}
		if _, err := s.RevokeInvite(ctx, 9999, "ada@example.com", now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("revoke an unknown invite: %v", err)
		}
		if got := pending(); got != "b@example.com" {
			t.Errorf("pending after revoking a = %q", got)
		}
		if _, err := s.AcceptInvite(ctx, "a", now, &store.User{PasswordHash: "y"}); !errors.Is(err, store.ErrInviteRevoked) {
			t.Errorf("accept a revoked invite: %v", err)
		}
		if _, err := s.UserByEmail(ctx, "a@example.com"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a revoked invite made a user: %v", err)
		}
		if left, _ := s.InviteByTokenHash(ctx, "a"); left.UsedAt != nil || left.RevokedAt == nil {
			t.Errorf("revoked invite as stored: %+v", left)
		}

		feed, err := s.Activity(ctx, store.ActivityFilter{AppIDs: []uint{}, Invites: true})
		if err != nil || len(feed) != 1 {
			t.Fatalf("admin feed with no apps: %+v, %v", feed, err)
		}
		if e := feed[0]; e.Kind != store.ActivityInvite || e.ID != a.ID || e.Email != "a@example.com" || e.TriggeredBy != "grace@example.com" ||
			e.Status != "revoked" || !e.CreatedAt.Equal(now) {
			t.Errorf("invite entry = %+v", e)
		}
		if feed, _ := s.Activity(ctx, store.ActivityFilter{Invites: true, Before: now}); len(feed) != 0 {
			t.Errorf("paging before the revocation still shows it: %+v", feed)
		}
		if feed, _ := s.Activity(ctx, store.ActivityFilter{}); len(feed) != 0 {
			t.Errorf("a feed without invites shows %+v", feed)
		}
	})
}
