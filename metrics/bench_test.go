package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/seedbed/seedbed/metrics/observe"
)

// BenchmarkObserve is the collector's cost per request on the gateway's
// path: counting, the histogram and (sampled out here) the request log.
func BenchmarkObserve(b *testing.B) {
	c, _ := setup(b, false, -1)
	r := observe.Request{App: "shop", Stage: "prod", Function: "api/hello", Method: "GET", Path: "/hello", Status: 200, Duration: 3 * time.Millisecond}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Observe(r)
		}
	})
}

// BenchmarkStart is the gateway hook around one request: the recorder,
// the failure note in the context and the observation.
func BenchmarkStart(b *testing.B) {
	c, _ := setup(b, false, -1)
	req := httptest.NewRequest("GET", "/shop/prod/hello", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		ww, _, finish := observe.Start(c, w, req)
		ww.WriteHeader(http.StatusOK)
		finish(observe.Served{App: "shop", Stage: "prod", Function: "api/hello"})
	}
}
