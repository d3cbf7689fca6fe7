package stagemap

import (
	"fmt"
	"testing"
	"time"

	"github.com/seedbed/seedbed/stack"
)

// BenchmarkMap is what drawing a stage costs per page view (Build and
// SVG; not the reads before them), for stages of 10 and 200 functions
// with three routes and an event each.
func BenchmarkMap(b *testing.B) {
	for _, n := range []int{10, 200} {
		in := Input{App: "shop", Stage: "prod", URL: "http://gw/shop/prod/", Release: 1, RunningKnown: true,
			Traffic: map[string]Traffic{}, Window: 5 * time.Minute}
		for i := range n {
			f := fn("svc", fmt.Sprintf("fn%03d", i), "sha256:aa", "GET /a", "POST /b", "ANY /c/{proxy+}")
			f.Events = []stack.Event{{Schedule: "rate(1 minute)"}}
			in.Declared = append(in.Declared, f)
			in.Running = append(in.Running, f)
			in.Traffic[f.Key()] = Traffic{Requests: int64(i * 10), Errors: int64(i % 3)}
		}
		in.Running = in.Running[:n-1] // one missing
		b.Run(fmt.Sprintf("functions=%d", n), func(b *testing.B) {
			var size int
			for b.Loop() {
				size = len(SVG(Build(in)))
			}
			b.ReportMetric(float64(size), "svg-bytes")
		})
	}
}
