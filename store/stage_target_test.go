package store_test

import (
	"context"
	"testing"

	"github.com/seedbed/seedbed/store"
)

// A stage's target and its kubernetes settings are saved and read back,
// and moving back to local clears the settings; other stages keep theirs.
func TestSaveStageTarget(t *testing.T) {
	eachDatabase(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a, _ := newApp(t, s, "kube")
		prod, err := s.StageByName(ctx, a.ID, "prod")
		if err != nil {
			t.Fatal(err)
		}
		cases := []struct{ target, settings string }{
			{"kubernetes", `{"namespace":"apps","replicas":2}`},
			{"local", ""},
		}
		for _, tc := range cases {
			prod.Target, prod.Kubernetes = tc.target, tc.settings
			if err := s.SaveStageTarget(ctx, prod); err != nil {
				t.Fatal(err)
			}
			got, err := s.StageByName(ctx, a.ID, "prod")
			if err != nil || got.Target != tc.target || got.Kubernetes != tc.settings {
				t.Errorf("after saving %s: %q %q, %v", tc.target, got.Target, got.Kubernetes, err)
			}
			dev, _ := s.StageByName(ctx, a.ID, "dev")
			if dev.Kubernetes != "" {
				t.Errorf("dev got prod's settings: %q", dev.Kubernetes)
			}
		}
	})
}

// Where a stage was applied is saved, read back with the stage, cleared,
// and kept apart from the stage's chosen target.
func TestSaveStageApplied(t *testing.T) {
	eachDatabase(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a, _ := newApp(t, s, "moved")
		prod, err := s.StageByName(ctx, a.ID, "prod")
		if err != nil {
			t.Fatal(err)
		}
		if prod.AppliedTarget != "" {
			t.Fatalf("a new stage was applied somewhere: %q", prod.AppliedTarget)
		}
		for _, where := range []string{`{"target":"kubernetes","kubernetes":{"namespace":"apps"}}`, `{"target":"local"}`, ""} {
			if err := s.SaveStageApplied(ctx, prod.ID, where); err != nil {
				t.Fatal(err)
			}
			got, err := s.StageByName(ctx, a.ID, "prod")
			if err != nil || got.AppliedTarget != where || got.Target != prod.Target {
				t.Errorf("after saving %q: applied %q, target %q, %v", where, got.AppliedTarget, got.Target, err)
			}
			if dev, _ := s.StageByName(ctx, a.ID, "dev"); dev.AppliedTarget != "" {
				t.Errorf("dev got prod's placement: %q", dev.AppliedTarget)
			}
		}
	})
}
