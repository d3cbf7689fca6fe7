package views

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
)

// Chart is a time series drawn on the server as inline SVG: no script,
// nothing for the CSP to allow, and it prints. Colours come from app.css
// through the classes (chart-requests, chart-errors, chart-latency), so
// dark mode applies.
type Chart struct {
	ID     string // data-testid of the figure
	Title  string
	Kind   string // "requests", "errors", "latency" or "instances"
	Points []ChartPoint
	// Step is the span of one point; Markers at times within the chart
	// are drawn as vertical lines (deploys).
	Step    time.Duration
	Markers []ChartMarker
	Width   int // in SVG units; the figure scales to its box
	Height  int
	// Total is a summary shown beside the title ("1,204", "p95 84 ms").
	Total string
}

// ChartPoint is one step of a chart.
type ChartPoint struct {
	At    time.Time
	Value float64 // a count, or seconds for latency
}

// ChartMarker is an event on the time axis: a deploy.
type ChartMarker struct {
	At     time.Time
	Label  string
	Failed bool
}

// chartSVG renders c. Every text in it is escaped.
func chartSVG(c Chart) templ.Component {
	return templ.Raw(c.svg())
}

func (c Chart) svg() string {
	w, h := c.Width, c.Height
	if w <= 0 {
		w = 320
	}
	if h <= 0 {
		h = 90
	}
	const left, right, top, bottom = 40, 6, 6, 16
	pw, ph := float64(w-left-right), float64(h-top-bottom)
	maxV := 0.0
	for _, p := range c.Points {
		maxV = math.Max(maxV, p.Value)
	}
	top1 := niceCeil(maxV)
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg class="chart chart-%s" viewBox="0 0 %d %d" role="img" aria-label="%s" data-testid="%s" data-max="%s" data-points="%d">`,
		html.EscapeString(c.Kind), w, h, html.EscapeString(c.Title+": "+c.Total), html.EscapeString(c.ID), strconv.FormatFloat(maxV, 'f', -1, 64), len(c.Points))
	fmt.Fprintf(&sb, `<title>%s</title>`, html.EscapeString(c.Title))
	// Axes and the top value.
	fmt.Fprintf(&sb, `<line class="chart-axis" x1="%d" y1="%d" x2="%d" y2="%d"/>`, left, h-bottom, w-right, h-bottom)
	fmt.Fprintf(&sb, `<line class="chart-grid" x1="%d" y1="%d" x2="%d" y2="%d"/>`, left, top, w-right, top)
	fmt.Fprintf(&sb, `<text class="chart-label" x="%d" y="%d" text-anchor="end">%s</text>`, left-4, top+8, html.EscapeString(c.format(top1)))
	fmt.Fprintf(&sb, `<text class="chart-label" x="%d" y="%d" text-anchor="end">0</text>`, left-4, h-bottom)
	if n := len(c.Points); n > 0 {
		first, last := c.Points[0].At, c.Points[n-1].At.Add(c.Step)
		fmt.Fprintf(&sb, `<text class="chart-label" x="%d" y="%d">%s</text>`, left, h-3, html.EscapeString(c.timeLabel(first)))
		fmt.Fprintf(&sb, `<text class="chart-label" x="%d" y="%d" text-anchor="end">%s</text>`, w-right, h-3, html.EscapeString(c.timeLabel(last)))
		bw := pw / float64(n)
		y := func(v float64) float64 {
			if top1 == 0 {
				return float64(h - bottom)
			}
			return float64(top) + ph*(1-v/top1)
		}
		if c.Kind == "latency" {
			var pts []string
			for i, p := range c.Points {
				if p.Value == 0 {
					continue // no requests: no latency to draw
				}
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", float64(left)+bw*(float64(i)+0.5), y(p.Value)))
			}
			if len(pts) > 1 {
				fmt.Fprintf(&sb, `<polyline class="chart-line" fill="none" points="%s"/>`, strings.Join(pts, " "))
			}
			// A dot per step, so a lone step with requests shows too.
			for i, p := range c.Points {
				if p.Value == 0 {
					continue
				}
				fmt.Fprintf(&sb, `<circle class="chart-dot" cx="%.1f" cy="%.1f" r="2"><title>%s: %s</title></circle>`,
					float64(left)+bw*(float64(i)+0.5), y(p.Value), html.EscapeString(c.timeLabel(p.At)), html.EscapeString(c.format(p.Value)))
			}
		} else {
			for i, p := range c.Points {
				if p.Value <= 0 {
					continue
				}
				yy := y(p.Value)
				fmt.Fprintf(&sb, `<rect class="chart-bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %s</title></rect>`,
					float64(left)+bw*float64(i)+0.5, yy, math.Max(bw-1, 0.5), float64(h-bottom)-yy,
					html.EscapeString(c.timeLabel(p.At)), html.EscapeString(c.format(p.Value)))
			}
		}
		span := last.Sub(first)
		for _, m := range c.Markers {
			if m.At.Before(first) || !m.At.Before(last) || span <= 0 {
				continue
			}
			x := float64(left) + pw*float64(m.At.Sub(first))/float64(span)
			class := "chart-marker"
			if m.Failed {
				class += " chart-marker-failed"
			}
			fmt.Fprintf(&sb, `<line class="%s" x1="%.1f" y1="%d" x2="%.1f" y2="%d" data-testid="marker"><title>%s</title></line>`,
				class, x, top, x, h-bottom, html.EscapeString(m.Label+" · "+m.At.UTC().Format("Jan 2 15:04")))
		}
	}
	sb.WriteString(`</svg>`)
	return sb.String()
}

// format writes a value of the chart's kind.
func (c Chart) format(v float64) string {
	if c.Kind == "latency" {
		return FormatLatency(time.Duration(v * float64(time.Second)))
	}
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func (c Chart) timeLabel(t time.Time) string {
	if c.Step >= time.Hour {
		return t.UTC().Format("Jan 2 15:04")
	}
	return t.UTC().Format("15:04")
}

// niceCeil rounds a chart's top up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 0
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// FormatLatency writes a latency the way the console shows it: µs under a
// millisecond, ms under a second, else seconds.
func FormatLatency(d time.Duration) string {
	switch {
	case d <= 0:
		return "–"
	case d < time.Millisecond:
		return strconv.FormatInt(d.Microseconds(), 10) + " µs"
	case d < 10*time.Millisecond:
		return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) + " ms"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + " s"
}

// FormatBytes writes a size in B, KiB, MiB or GiB.
func FormatBytes(n int64) string {
	switch {
	case n < 1024:
		return strconv.FormatInt(n, 10) + " B"
	case n < 1<<20:
		return strconv.FormatFloat(float64(n)/1024, 'f', 1, 64) + " KiB"
	case n < 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	}
	return strconv.FormatFloat(float64(n)/(1<<30), 'f', 2, 64) + " GiB"
}

// FormatPercent writes a share (0.034) as a percentage ("3.4 %").
func FormatPercent(f float64) string {
	if f == 0 {
		return "0 %"
	}
	if f < 0.001 {
		return "<0.1 %"
	}
	return strconv.FormatFloat(f*100, 'f', 1, 64) + " %"
}

// FormatStep writes a chart's step: "minute", "15 minutes", "2 hours".
func FormatStep(d time.Duration) string {
	switch {
	case d == time.Minute:
		return "minute"
	case d == time.Hour:
		return "hour"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " minutes"
	}
	return strconv.Itoa(int(d/time.Hour)) + " hours"
}
