package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/seedbed/seedbed/store"
)

// The creator mark (migration 0014) is kept, read back with a session's
// user, listed, and carried by an invite to the user it signs up.
func TestCreatorMark(t *testing.T) {
	eachDatabase(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := store.User{Email: "c@example.com", PasswordHash: "x"}
		if err := s.CreateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
		if err := s.SetUserCreator(ctx, u.ID, true); err != nil {
			t.Fatal(err)
		}
		if got, err := s.UserByEmail(ctx, u.Email); err != nil || !got.IsCreator {
			t.Fatalf("UserByEmail = %+v, %v; want a creator", got, err)
		}
		sess := store.Session{TokenHash: "h", UserID: u.ID, CSRFToken: "c", ExpiresAt: time.Now().Add(time.Hour)}
		if err := s.CreateSession(ctx, &sess); err != nil {
			t.Fatal(err)
		}
		if got, _, err := s.SessionUser(ctx, "h"); err != nil || !got.IsCreator {
			t.Fatalf("SessionUser = %+v, %v; want a creator", got, err)
		}
		if err := s.SetUserCreator(ctx, u.ID, false); err != nil {
			t.Fatal(err)
		}
		if got, _, err := s.SessionUser(ctx, "h"); err != nil || got.IsCreator {
			t.Fatalf("SessionUser after the mark is taken = %+v, %v", got, err)
		}
		now := time.Now()
		inv := store.Invite{TokenHash: "inv", Email: "new@example.com", IsCreator: true, CreatedBy: "admin@example.com", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.CreateInvite(ctx, &inv); err != nil {
			t.Fatal(err)
		}
		nu := store.User{PasswordHash: "y"}
		if _, err := s.AcceptInvite(ctx, "inv", now, &nu); err != nil {
			t.Fatal(err)
		}
		us, err := s.Users(ctx)
		if err != nil || len(us) != 2 || us[0].Email != "c@example.com" || us[0].IsCreator || us[1].Email != "new@example.com" || !us[1].IsCreator {
			t.Fatalf("Users = %+v, %v; want c (no creator) and new (creator, from the invite)", us, err)
		}
	})
}
