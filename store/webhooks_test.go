package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/seedbed/seedbed/store"
)

// A push key is held by one delivery of an app at a time: a second
// delivery with the key conflicts, DeliveryByPushKey finds the holder, and
// once the holder lets the key go another delivery may take it. Other apps
// and deliveries without a key are unaffected.
func TestDeliveryPushKey(t *testing.T) {
	eachDatabase(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		app, _ := newApp(t, s, "hooked")
		other, _ := newApp(t, s, "other")
		const key = "refs/heads/main - 6113728f27ae82c7b1a177c8d03f9e96e0adf246"
		rec := func(appID uint, id, key string) *store.WebhookDelivery {
			return &store.WebhookDelivery{AppID: appID, Forge: "github", DeliveryID: id, Outcome: store.DeliveryIgnored, PushKey: key, CreatedAt: time.Now()}
		}
		first := rec(app.ID, "d-1", key)
		if err := s.RecordDelivery(ctx, first); err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			name    string
			d       *store.WebhookDelivery
			wantErr error
		}{
			{name: "same key, new id", d: rec(app.ID, "d-2", key), wantErr: store.ErrConflict},
			{name: "same key, other app", d: rec(other.ID, "d-2", key)},
			{name: "no key", d: rec(app.ID, "d-3", "")},
			{name: "no key again", d: rec(app.ID, "d-4", "")},
		}
		for _, st := range steps {
			if err := s.RecordDelivery(ctx, st.d); !errors.Is(err, st.wantErr) {
				t.Errorf("%s: %v, want %v", st.name, err, st.wantErr)
			}
		}
		got, err := s.DeliveryByPushKey(ctx, app.ID, key)
		if err != nil || got.ID != first.ID {
			t.Fatalf("DeliveryByPushKey = %+v, %v; want delivery %d", got, err, first.ID)
		}
		first.PushKey = ""
		if err := s.SaveDelivery(ctx, first); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeliveryByPushKey(ctx, app.ID, key); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after the key was let go: %v, want ErrNotFound", err)
		}
		if err := s.RecordDelivery(ctx, rec(app.ID, "d-5", key)); err != nil {
			t.Fatalf("taking a key let go: %v", err)
		}
	})
}
