package metrics_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/seedbed/seedbed/metrics"
	"github.com/seedbed/seedbed/metrics/observe"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/testutil"
)

// instanceSource is a target whose instances the test sets.
type instanceSource struct {
	mu    sync.Mutex
	usage []observe.InstanceUsage
}

func (s *instanceSource) set(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.usage = nil
	for range n {
		s.usage = append(s.usage, observe.InstanceUsage{App: "shop", Stage: "prod", Function: "api/hello", InFlight: 1})
	}
}

func (s *instanceSource) InstanceUsage() []observe.InstanceUsage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]observe.InstanceUsage(nil), s.usage...)
}

// The number of instances a function runs is sampled, kept as the most
// per minute and read back in its series: what the instances chart draws.
func TestInstancesOverTime(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			url := filepath.Join(t.TempDir(), "seedbed.db")
			if db == "postgres" {
				url = testutil.PostgresURL(t)
			}
			st, err := store.Open(context.Background(), url)
			if err != nil {
				t.Fatalf("open store: %v", err)
			}
			t.Cleanup(func() { st.Close() })
			src := &instanceSource{}
			src.set(3)
			c := metrics.New(metrics.Config{Store: st, Instances: src, RequestLogSample: -1})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { c.Run(ctx); close(done) }()
			time.Sleep(50 * time.Millisecond) // Run samples once at start
			src.set(0)                        // scaled to zero since
			cancel()
			<-done // the final flush rolls the minute up

			series, err := c.Series(context.Background(), "shop", "prod", "api/hello", metrics.Ranges()[0])
			if err != nil {
				t.Fatal(err)
			}
			var most int64
			for _, p := range series["api/hello"] {
				most = max(most, p.InstancesMax)
			}
			if most != 3 {
				t.Errorf("the series shows at most %d instances; want 3", most)
			}
			rows, err := st.MetricMinutes(context.Background(), "shop", "prod", "api/hello", time.Now().Add(-time.Hour))
			if err != nil || len(rows) != 1 || rows[0].InstancesMax != 3 {
				t.Fatalf("metric minutes %+v, %v; want one row with instances_max 3", rows, err)
			}
		})
	}
}
