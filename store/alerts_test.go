package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/seedbed/seedbed/store"
)

func TestAlerts(t *testing.T) {
	eachDatabase(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		app, _ := newApp(t, s, "shop")
		now := time.Now().UTC()
		ch := store.AlertChannel{AppID: app.ID, Name: "ops", Kind: store.ChannelWebhook, Target: "sealed", CreatedAt: now}
		if err := s.CreateAlertChannel(ctx, &ch); err != nil {
			t.Fatal(err)
		}
		dup := store.AlertChannel{AppID: app.ID, Name: "ops", Kind: store.ChannelSlack, CreatedAt: now}
		if err := s.CreateAlertChannel(ctx, &dup); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("a second channel named ops: %v, want ErrConflict", err)
		}
		r := store.AlertRule{AppID: app.ID, ChannelID: ch.ID, Name: "errors", Kind: store.RuleErrorRate, Threshold: 5, WindowSeconds: 300, CreatedAt: now}
		if err := s.CreateAlertRule(ctx, &r); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteAlertChannel(ctx, ch); !errors.Is(err, store.ErrInUse) {
			t.Fatalf("deleting a channel a rule sends to: %v, want ErrInUse", err)
		}

		// Two processes see the same condition: one moves the rule.
		var wg sync.WaitGroup
		results := make(chan bool, 2)
		for i := 0; i < 2; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				changed, err := s.SetAlertRuleFiring(ctx, r.ID, true, "prod", 12.5, now)
				if err != nil {
					t.Error(err)
				}
				results <- changed
			}()
		}
		wg.Wait()
		close(results)
		wins := 0
		for c := range results {
			if c {
				wins++
			}
		}
		if wins != 1 {
			t.Fatalf("%d of 2 concurrent SetAlertRuleFiring calls changed the rule, want 1", wins)
		}
		firing, err := s.FiringRules(ctx, app.ID)
		if err != nil || len(firing["prod"]) != 1 || firing["prod"][0] != "errors" {
			t.Fatalf("FiringRules = %v, %v; want errors on prod", firing, err)
		}
		if changed, err := s.SetAlertRuleFiring(ctx, r.ID, false, "", 0, now); err != nil || !changed {
			t.Fatalf("resolve: %t, %v", changed, err)
		}
		if firing, _ := s.FiringRules(ctx, app.ID); len(firing) != 0 {
			t.Fatalf("FiringRules after resolving = %v", firing)
		}

		d := store.AlertDelivery{AppID: app.ID, ChannelID: ch.ID, DeliveryID: "d1", Event: store.RuleBuildFailed, EventKey: "build_failed:1", Status: store.AlertPending, CreatedAt: now}
		if err := s.CreateAlertDelivery(ctx, &d); err != nil {
			t.Fatal(err)
		}
		again := d
		again.ID, again.DeliveryID = 0, "d2"
		if err := s.CreateAlertDelivery(ctx, &again); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("the same event to the same channel again: %v, want ErrConflict", err)
		}
		for i := 0; i < 2; i++ { // test notifications have no key: never deduplicated
			test := store.AlertDelivery{AppID: app.ID, ChannelID: ch.ID, DeliveryID: "t", Event: "test", Status: store.AlertPending, CreatedAt: now}
			if err := s.CreateAlertDelivery(ctx, &test); err != nil {
				t.Fatalf("test notification %d: %v", i+1, err)
			}
		}
		if un, err := s.UnfinishedAlertDeliveries(ctx); err != nil || len(un) != 3 {
			t.Fatalf("UnfinishedAlertDeliveries = %d, %v; want 3", len(un), err)
		}
		// Pruning keeps the newest per app, and never what is unfinished.
		un, _ := s.UnfinishedAlertDeliveries(ctx)
		for i := range un[:2] {
			un[i].Status = store.AlertDelivered
			if err := s.SaveAlertDelivery(ctx, &un[i]); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := s.PruneAlertDeliveries(ctx, 1); err != nil || n != 2 {
			t.Fatalf("PruneAlertDeliveries(1) = %d, %v; want the 2 older delivered ones gone", n, err)
		}
		if ds, _ := s.AlertDeliveries(ctx, app.ID, 10); len(ds) != 1 || ds[0].Status != store.AlertPending {
			t.Fatalf("after pruning: %+v; want the newest, still pending", ds)
		}
		if last, err := s.LatestAlertDelivery(ctx, ch.ID, "test"); err != nil || last.ID != un[2].ID {
			t.Fatalf("LatestAlertDelivery = %+v, %v; want the newest test", last, err)
		}
		if err := s.DeleteAlertRule(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteAlertChannel(ctx, ch); err != nil {
			t.Fatalf("deleting an unused channel: %v", err)
		}
		if ds, err := s.AlertDeliveries(ctx, app.ID, 10); err != nil || len(ds) != 0 {
			t.Fatalf("deliveries of a deleted channel: %d, %v; want none", len(ds), err)
		}
	})
}
