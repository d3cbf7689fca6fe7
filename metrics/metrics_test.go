package metrics_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/seedbed/seedbed/metrics"
	"github.com/seedbed/seedbed/metrics/observe"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/testutil"
)

// setup makes a collector on a migrated store: SQLite, or PostgreSQL when
// pg is set.
func setup(t testing.TB, pg bool, sample float64) (*metrics.Collector, *store.Store) {
	t.Helper()
	url := filepath.Join(t.TempDir(), "seedbed.db")
	if pg {
		url = testutil.PostgresURL(t)
	}
	st, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return metrics.New(metrics.Config{Store: st, RequestLogSample: sample}), st
}

func TestCountsMatchWhatWasObserved(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			c, st := setup(t, db == "postgres", 1)
			ctx := context.Background()
			// 90 fast successes, 10 slow failures of one function; 5 of another.
			for i := range 100 {
				r := observe.Request{App: "shop", Stage: "prod", Function: "api/hello", Method: "GET", Path: "/hello", Status: 200, Duration: 4 * time.Millisecond, Bytes: 10}
				if i%10 == 0 {
					r.Status, r.Duration = 503, 800*time.Millisecond
				}
				c.Observe(r)
			}
			for range 5 {
				c.Observe(observe.Request{App: "shop", Stage: "prod", Function: "api/other", Status: 204, Duration: time.Millisecond})
			}
			// Before a flush, Window reads the counts from memory.
			req, errs, p95, err := c.Window(ctx, "shop", "prod", "api/hello", time.Hour)
			if err != nil || req != 100 || errs != 10 {
				t.Fatalf("Window before flush = %d requests, %d errors, %v; want 100, 10", req, errs, err)
			}
			c.Flush(ctx)
			req, errs, p95, err = c.Window(ctx, "shop", "prod", "api/hello", time.Hour)
			if err != nil || req != 100 || errs != 10 {
				t.Fatalf("Window after flush = %d requests, %d errors, %v; want 100, 10", req, errs, err)
			}
			// The p95 falls among the slow ones: in the 0.75–1 s bucket.
			if p95 < 750*time.Millisecond || p95 > time.Second {
				t.Errorf("p95 = %v, want within 750ms–1s", p95)
			}
			req, _, _, _ = c.Window(ctx, "shop", "prod", "", time.Hour)
			if req != 105 {
				t.Errorf("stage Window = %d requests, want 105", req)
			}
			series, err := c.Series(ctx, "shop", "prod", "", metrics.Ranges()[0])
			if err != nil {
				t.Fatal(err)
			}
			var sum int64
			for _, p := range series["api/hello"] {
				sum += p.Requests
			}
			if sum != 100 || len(series) != 2 {
				t.Errorf("Series: %d functions, api/hello sums to %d requests; want 2, 100", len(series), sum)
			}
			logs, err := st.RequestLogs(ctx, store.RequestLogQuery{App: "shop", Stage: "prod", Status: 5})
			if err != nil || len(logs) != 10 {
				t.Fatalf("request log 5xx = %d entries, %v; want 10", len(logs), err)
			}
			if logs[0].Status != 503 || logs[0].DurationUS != 800000 || logs[0].Function != "api/hello" {
				t.Errorf("request log entry = %+v", logs[0])
			}
			groups, err := st.ErrorGroups(ctx, store.ErrorGroupQuery{App: "shop"})
			if err != nil || len(groups) != 1 || groups[0].Count != 10 || groups[0].ErrorType != "HTTP 503" {
				t.Fatalf("error groups = %+v, %v; want one HTTP 503 group of 10", groups, err)
			}
		})
	}
}

func TestRequestLogSamplingKeepsEveryFailure(t *testing.T) {
	c, st := setup(t, false, 0)
	ctx := context.Background()
	for i := range 50 {
		status := 200
		if i%5 == 0 {
			status = 500
		}
		c.Observe(observe.Request{App: "a", Stage: "dev", Function: "s/f", Path: "/x", Status: status, Duration: time.Millisecond})
	}
	c.Flush(ctx)
	logs, err := st.RequestLogs(ctx, store.RequestLogQuery{App: "a", Stage: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != 10 {
		t.Fatalf("with sampling 0 the log kept %d entries, want the 10 failures", len(logs))
	}
	for _, l := range logs {
		if l.Status != 500 {
			t.Errorf("kept a %d", l.Status)
		}
	}
	// Off entirely: nothing.
	off, st2 := setup(t, false, -1)
	off.Observe(observe.Request{App: "a", Stage: "dev", Function: "s/f", Status: 500})
	off.Flush(ctx)
	if logs, _ := st2.RequestLogs(ctx, store.RequestLogQuery{App: "a", Stage: "dev"}); len(logs) != 0 {
		t.Errorf("request log off kept %d entries", len(logs))
	}
}

func TestErrorGroupReopensWhenItRecurs(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			c, st := setup(t, db == "postgres", 1)
			ctx := context.Background()
			fail := func(msg string) {
				c.RecordFailure(observe.Failure{App: "shop", Stage: "prod", Function: "api/pay", Kind: observe.KindHandlerError,
					Type: "TypeError", Message: msg, Excerpt: "at pay (/var/task/index.js:12:5)\nat run"})
			}
			fail("cannot read property 'id' of undefined (order 1234)")
			fail("cannot read property 'id' of undefined (order 98)")
			c.RecordFailure(observe.Failure{App: "shop", Stage: "prod", Function: "api/pay", Kind: observe.KindOOM, Type: "OOM", Message: "out of memory", Restarted: true})
			c.Flush(ctx)
			groups, err := st.ErrorGroups(ctx, store.ErrorGroupQuery{App: "shop", Function: "api/pay"})
			if err != nil || len(groups) != 2 {
				t.Fatalf("groups = %+v, %v; want 2 (the two TypeErrors are one)", groups, err)
			}
			var te store.ErrorGroup
			for _, g := range groups {
				if g.ErrorType == "TypeError" {
					te = g
				}
			}
			if te.Count != 2 || !strings.Contains(te.Sample, "index.js:12") || !strings.Contains(te.Message, "order 98") {
				t.Fatalf("TypeError group = %+v", te)
			}
			if _, err := st.ResolveErrorGroup(ctx, "other-app", te.ID, true, "a@b", time.Now()); err == nil {
				t.Fatal("another app's name resolved the group")
			}
			if _, err := st.ResolveErrorGroup(ctx, "shop", te.ID, true, "ann@example.com", time.Now()); err != nil {
				t.Fatal(err)
			}
			open, _ := st.ErrorGroups(ctx, store.ErrorGroupQuery{App: "shop"})
			if len(open) != 1 {
				t.Fatalf("open groups after resolving = %d, want 1", len(open))
			}
			time.Sleep(10 * time.Millisecond)
			fail("cannot read property 'id' of undefined (order 7)")
			c.Flush(ctx)
			g, err := st.ErrorGroupByID(ctx, "shop", te.ID)
			if err != nil || g.ResolvedAt != nil || g.Reopened != 1 || g.Count != 3 {
				t.Fatalf("after recurring: %+v, %v; want open again, reopened once, count 3", g, err)
			}
			_, _, _, _ = c.Window(ctx, "shop", "prod", "api/pay", time.Hour)
		})
	}
}

func TestPrometheusExposition(t *testing.T) {
	c, _ := setup(t, false, 1)
	c.Observe(observe.Request{App: "shop", Stage: "prod", Function: "api/hello", Status: 200, Duration: 3 * time.Millisecond})
	c.Observe(observe.Request{App: "shop", Stage: "prod", Function: "api/hello", Status: 502, Duration: 30 * time.Millisecond, ColdStart: true})
	c.RecordFailure(observe.Failure{App: "shop", Stage: "prod", Function: "api/hello", Kind: observe.KindCrash, Type: "exit status 2", Restarted: true})
	rec := httptest.NewRecorder()
	c.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("Prometheus' parser refused /metrics: %v\n%s", err, rec.Body.String())
	}
	value := func(name string, labels map[string]string) float64 {
		t.Helper()
		f := families[name]
		if f == nil {
			t.Fatalf("no %s", name)
		}
	next:
		for _, m := range f.Metric {
			for _, lp := range m.Label {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue next
				}
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				return m.Counter.GetValue()
			case dto.MetricType_GAUGE:
				return m.Gauge.GetValue()
			case dto.MetricType_HISTOGRAM:
				return float64(m.Histogram.GetSampleCount())
			}
		}
		t.Fatalf("no %s with %v", name, labels)
		return 0
	}
	fn := map[string]string{"app": "shop", "stage": "prod", "function": "api/hello"}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for a, b := range fn {
			m[a] = b
		}
		return m
	}
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"seedbed_function_requests_total", with("code", "2xx"), 1},
		{"seedbed_function_requests_total", with("code", "5xx"), 1},
		{"seedbed_function_errors_total", with("kind", "5xx"), 1},
		{"seedbed_function_errors_total", with("kind", "crash"), 1},
		{"seedbed_function_request_duration_seconds", fn, 2},
		{"seedbed_function_cold_starts_total", fn, 1},
		{"seedbed_function_restarts_total", fn, 1},
	}
	for _, ck := range checks {
		if got := value(ck.name, ck.labels); got != ck.want {
			t.Errorf("%s%v = %v, want %v", ck.name, ck.labels, got, ck.want)
		}
	}
	if families["go_goroutines"] == nil {
		t.Error("the Go runtime's metrics are missing")
	}
}

func TestBucketsRoundTrip(t *testing.T) {
	var b metrics.Buckets
	b[0], b[3], b[7] = 5, 1, 2
	got, err := metrics.ParseBuckets(b.String())
	if err != nil || got != b {
		t.Fatalf("ParseBuckets(%q) = %v, %v; want %v", b.String(), got, err, b)
	}
	if _, err := metrics.ParseBuckets("1,x"); err == nil {
		t.Error("a damaged histogram parsed")
	}
}

func TestSignature(t *testing.T) {
	base := observe.Failure{Kind: observe.KindHandlerError, Type: "Error", Message: "order 1234 not found", Excerpt: "at find (index.js:3:9)"}
	tests := []struct {
		name string
		f    func(f observe.Failure) observe.Failure
		same bool
	}{
		{"another number", func(f observe.Failure) observe.Failure { f.Message = "order 99 not found"; return f }, true},
		{"a hex id", func(f observe.Failure) observe.Failure {
			f.Message = "order 9f86d081884c7d65 not found"
			return f
		}, true},
		{"another type", func(f observe.Failure) observe.Failure { f.Type = "TypeError"; return f }, false},
		{"another message", func(f observe.Failure) observe.Failure { f.Message = "user 1 not found"; return f }, false},
		{"another top frame", func(f observe.Failure) observe.Failure { f.Excerpt = "at load (db.js:1:1)"; return f }, false},
		{"another kind", func(f observe.Failure) observe.Failure { f.Kind = observe.KindCrash; return f }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := metrics.Signature(tt.f(base)) == metrics.Signature(base); got != tt.same {
				t.Errorf("same signature = %v, want %v", got, tt.same)
			}
		})
	}
}

// A function failing with ever-new messages opens a bounded number of
// issues; the rest count in one overflow group.
func TestDistinctErrorsAreBounded(t *testing.T) {
	c, st := setup(t, false, -1)
	ctx := context.Background()
	for i := range 300 {
		c.RecordFailure(observe.Failure{App: "a", Stage: "dev", Function: "s/f", Kind: observe.KindHandlerError,
			Type: "Error", Message: "unexpected token " + strings.Repeat("x", i%50) + string(rune('a'+i%26)) + strings.Repeat("y", i/50)})
	}
	c.Flush(ctx)
	groups, err := st.ErrorGroups(ctx, store.ErrorGroupQuery{App: "a", Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 201 {
		t.Fatalf("%d groups, want 200 and one overflow", len(groups))
	}
	var total int64
	for _, g := range groups {
		total += g.Count
	}
	if total != 300 {
		t.Errorf("groups count %d failures, want 300", total)
	}
}

// Past RequestLogRate successful requests in a second the log keeps only
// failures; the metrics still count everything.
func TestRequestLogRateCap(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "seedbed.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	c := metrics.New(metrics.Config{Store: st, RequestLogSample: 1, RequestLogRate: 10, Now: func() time.Time { return now }})
	ctx := context.Background()
	for i := range 55 {
		status := 200
		if i%11 == 10 {
			status = 502
		}
		c.Observe(observe.Request{App: "a", Stage: "dev", Function: "s/f", Status: status, Duration: time.Millisecond})
	}
	c.Flush(ctx)
	logs, err := st.RequestLogs(ctx, store.RequestLogQuery{App: "a", Stage: "dev", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != 15 {
		t.Errorf("the log kept %d entries, want 10 successes and the 5 failures", len(logs))
	}
	if req, errs, _, _ := c.Window(ctx, "a", "dev", "s/f", time.Hour); req != 55 || errs != 5 {
		t.Errorf("Window = %d, %d; the metrics must count all 55 requests and 5 errors", req, errs)
	}
}
