package views

import (
	"strings"
	"testing"
	"time"
)

func TestChartSVG(t *testing.T) {
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	pts := func(vals ...float64) []ChartPoint {
		var out []ChartPoint
		for i, v := range vals {
			out = append(out, ChartPoint{At: at.Add(time.Duration(i) * time.Minute), Value: v})
		}
		return out
	}
	tests := []struct {
		name    string
		chart   Chart
		want    []string
		notWant []string
	}{
		{"bars for counts, top rounded up", Chart{ID: "c", Title: "Requests", Kind: "requests", Points: pts(0, 3, 7), Step: time.Minute},
			[]string{`data-max="7"`, `data-points="3"`, `>10</text>`, `<rect class="chart-bar"`}, []string{"<polyline"}},
		{"a line and dots for latency", Chart{ID: "c", Title: "p95", Kind: "latency", Points: pts(0.004, 0, 0.2), Step: time.Minute},
			[]string{"<polyline", `<circle class="chart-dot"`, "200 ms"}, []string{"<rect"}},
		{"deploys inside the range are marked", Chart{ID: "c", Kind: "requests", Points: pts(1, 1, 1), Step: time.Minute,
			Markers: []ChartMarker{{At: at.Add(90 * time.Second), Label: "Deploy #4 failed", Failed: true}, {At: at.Add(-time.Hour), Label: "old"}}},
			[]string{`chart-marker chart-marker-failed`, "Deploy #4 failed"}, []string{">old"}},
		{"names are escaped", Chart{ID: `x"><script>alert(1)</script>`, Title: `<b>t</b>`, Kind: "requests", Points: pts(1), Step: time.Minute},
			[]string{"&lt;script&gt;", "&lt;b&gt;"}, []string{"<script>", "<b>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svg := tt.chart.svg()
			for _, w := range tt.want {
				if !strings.Contains(svg, w) {
					t.Errorf("lacks %q:\n%s", w, svg)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(svg, w) {
					t.Errorf("has %q:\n%s", w, svg)
				}
			}
		})
	}
}
