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
