package stagemap

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// The layout: four columns (entry points, routes, functions, events) of
// fixed widths; each function has a band as tall as the tallest of its
// routes, its box and its events, so a function's routes and events sit
// beside it. Integers only, so the SVG is the same on every machine.
const (
	margin   = 16
	top      = 40 // below the column headings
	gap      = 8
	bandGap  = 14
	busGap   = 24
	colGap   = 96
	entryH   = 40
	routeH   = 28
	fnH      = 53 // a label and two lines; each further line adds lineH
	eventH   = 39
	lineH    = 14
	legendH  = 44 // two lines: the colours, then what the edges and gaps mean
	charsPer = 6  // an average glyph of the 11px font, to fit text in boxes
)

var (
	colW = [4]int{210, 190, 250, 210}
	colX = [4]int{margin, margin + 210 + colGap, margin + 210 + 190 + 2*colGap, margin + 210 + 190 + 250 + 3*colGap}
)

// palette is fill, stroke and text colour per health. Presentation
// attributes, not CSS: the console's CSP allows no inline style, and the
// SVG served alone keeps its colours.
var palette = map[string][3]string{
	HealthOK:       {"#e6f4ea", "#1a7f37", "#0f5323"},
	HealthErroring: {"#fff4d6", "#b7791f", "#6b4a00"},
	HealthDown:     {"#fde8e8", "#cf222e", "#82071e"},
	HealthIdle:     {"#f1f3f5", "#8c959f", "#424a53"},
	HealthNone:     {"#f6f8fa", "#8c959f", "#24292f"},
}

// kindFill tells entry points, routes and events apart.
var kindFill = map[string]string{
	KindEntry:    "#eef4ff",
	KindDomain:   "#eef4ff",
	KindRoute:    "#ffffff",
	KindSchedule: "#f7f0ff",
	KindQueue:    "#f7f0ff",
	KindAsync:    "#f7f0ff",
}

const driftStroke = "#8250df" // not in release, other build

// esc escapes s for SVG text and attribute values: every name comes from
// a user (functions, routes, domains, queues).
func esc(s string) string { return html.EscapeString(s) }

// SVG renders m. The same Map gives the same bytes. It has a viewBox and
// no size: it fills the width of what holds it.
func SVG(m Map) []byte {
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	title := "Map of stage " + m.Stage + " of " + m.App
	// Ids unique per stage: the promotion page holds two maps.
	id := idPrefix(m.Stage)
	w(`<svg xmlns="http://www.w3.org/2000/svg" class="stage-map" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-title" data-testid="stage-map-svg" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="11">`,
		m.Width, m.Height, id)
	w("\n<title id=\"%s-title\">%s</title>\n", id, esc(title))
	w(`<defs><marker id="%s-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#57606a"/></marker></defs>`, id)
	w("\n<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" rx=\"8\" fill=\"#ffffff\" stroke=\"#d0d7de\"/>\n", m.Width, m.Height)
	for i, h := range []string{"Entry points", "Routes", "Functions", "Events"}[:m.Columns] {
		w("<text x=\"%d\" y=\"24\" font-weight=\"600\" fill=\"#57606a\">%s</text>\n", colX[i], h)
	}

	byID := make(map[string]Node, len(m.Nodes))
	for _, n := range m.Nodes {
		byID[n.ID] = n
	}

	// The bus: every entry point reaches every route through the gateway.
	if m.BusBottom > 0 {
		w("<g class=\"map-bus\" stroke=\"#8c959f\" stroke-width=\"1.5\" fill=\"none\">\n")
		w("<path d=\"M%d,%dV%d\"/>\n", m.BusX, m.BusTop, m.BusBottom)
		for _, n := range m.Nodes {
			switch n.Kind {
			case KindEntry, KindDomain:
				w("<path d=\"M%d,%dH%d\"/>\n", n.X+n.W, n.Y+n.H/2, m.BusX)
			case KindRoute:
				w("<path d=\"M%d,%dH%d\" marker-end=\"url(#%s-arrow)\"/>\n", m.BusX, n.Y+n.H/2, n.X, id)
			}
		}
		w("</g>\n")
	}

	for _, e := range m.Edges {
		from, ok1 := byID[e.From]
		to, ok2 := byID[e.To]
		if !ok1 || !ok2 {
			continue
		}
		edge(&b, e, from, to, id)
	}
	for _, n := range m.Nodes {
		node(&b, n)
	}
	legend(&b, m)
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// edge draws e: a route into its function left to right, an event into
// its function right to left, as a curve.
func edge(b *bytes.Buffer, e Edge, from, to Node, id string) {
	var x1, y1, x2, y2 int
	if e.Event { // events sit right of their function
		x1, y1 = from.X, from.Y+from.H/2
		x2, y2 = to.X+to.W, to.Y+to.H/2
	} else {
		x1, y1 = from.X+from.W, from.Y+from.H/2
		x2, y2 = to.X, to.Y+to.H/2
	}
	mid := (x1 + x2) / 2
	stroke := palette[e.Health][1]
	width := 1.5
	if !e.Event && e.PerMinute > 0 {
		width = min(1.5+1.5*math.Log2(1+e.PerMinute), 8)
	}
	dash := ""
	if e.Event {
		dash = ` stroke-dasharray="5 4"`
	}
	fmt.Fprintf(b, "<path class=\"map-edge\" data-from=\"%s\" data-to=\"%s\" data-health=\"%s\" d=\"M%d,%dC%d,%d %d,%d %d,%d\" fill=\"none\" stroke=\"%s\" stroke-width=\"%s\"%s marker-end=\"url(#%s-arrow)\"/>\n",
		esc(e.From), esc(e.To), e.Health, x1, y1, mid, y1, mid, y2, x2, y2, stroke, strconv.FormatFloat(width, 'f', 1, 64), dash, id)
	if e.Label != "" {
		fmt.Fprintf(b, "<text class=\"map-rate\" x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"%s\" font-size=\"10\">%s</text>\n",
			x1+colGap/2, y1-6, palette[e.Health][2], esc(e.Label))
	}
}

// node draws a box with its label and detail lines, and a tooltip with
// the full texts.
func node(b *bytes.Buffer, n Node) {
	fill, stroke, text := kindFill[n.Kind], palette[n.Health][1], palette[HealthNone][2]
	if n.Kind == KindFunction {
		fill, text = palette[n.Health][0], palette[n.Health][2]
	}
	if fill == "" {
		fill = palette[HealthNone][0]
	}
	strokeW, dash := "1", ""
	switch n.Drift {
	case DriftMissing:
		strokeW, dash = "2.5", ` stroke-dasharray="6 4"`
	case DriftCrashLooping:
		strokeW = "2.5"
	case DriftNotInRelease, DriftOtherBuild, DriftShort:
		stroke, strokeW, dash = driftStroke, "2.5", ` stroke-dasharray="6 4"`
	}
	if n.Kind == KindFunction && n.Drift == DriftNone {
		strokeW = "1.5"
	}
	fmt.Fprintf(b, "<g class=\"map-node map-%s\" data-testid=\"map-node-%s\" data-node=\"%s\" data-kind=\"%s\" data-health=\"%s\" data-drift=\"%s\">\n",
		n.Kind, esc(n.ID), esc(n.ID), n.Kind, n.Health, n.Drift)
	tip := append([]string{n.Label}, n.Detail...)
	fmt.Fprintf(b, "<title>%s</title>\n", esc(strings.Join(tip, "\n")))
	if n.URL != "" {
		fmt.Fprintf(b, "<a href=\"%s\">\n", esc(n.URL))
	}
	fmt.Fprintf(b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"6\" fill=\"%s\" stroke=\"%s\" stroke-width=\"%s\"%s/>\n",
		n.X, n.Y, n.W, n.H, fill, stroke, strokeW, dash)
	chars := (n.W - 16) / charsPer
	ty := n.Y + 17
	if n.Kind == KindRoute {
		ty = n.Y + n.H/2 + 4
	}
	weight := ""
	if n.Kind == KindFunction {
		weight = ` font-weight="600"`
	}
	fmt.Fprintf(b, "<text x=\"%d\" y=\"%d\" fill=\"%s\"%s>%s</text>\n", n.X+8, ty, text, weight, esc(truncate(n.Label, chars)))
	for _, d := range n.Detail {
		ty += lineH
		colour := "#57606a"
		if n.Kind == KindFunction && isDriftLine(d) {
			colour = stroke
		}
		fmt.Fprintf(b, "<text x=\"%d\" y=\"%d\" fill=\"%s\" font-size=\"10\">%s</text>\n", n.X+8, ty, colour, esc(truncate(d, chars+chars/6)))
	}
	if n.URL != "" {
		b.WriteString("</a>\n")
	}
	b.WriteString("</g>\n")
}

// isDriftLine tells the line that says what differs, drawn in the
// drift's colour.
func isDriftLine(s string) bool {
	for _, p := range []string{"MISSING", "CRASH-LOOPING", "NOT IN RELEASE", "runs another build", "SHORT"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// legend explains the colours along the bottom.
func legend(b *bytes.Buffer, m Map) {
	y := m.Height - legendH
	x := margin
	items := []struct{ health, label string }{
		{HealthOK, "ok"}, {HealthErroring, "erroring"}, {HealthDown, "down"}, {HealthIdle, "no traffic"},
	}
	fmt.Fprintf(b, "<g class=\"map-legend\" font-size=\"10\" fill=\"#57606a\">\n")
	for _, it := range items {
		p := palette[it.health]
		fmt.Fprintf(b, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" rx=\"3\" fill=\"%s\" stroke=\"%s\"/><text x=\"%d\" y=\"%d\">%s</text>\n",
			x, y, p[0], p[1], x+16, y+10, it.label)
		x += 30 + len(it.label)*charsPer
	}
	fmt.Fprintf(b, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" rx=\"3\" fill=\"none\" stroke=\"%s\" stroke-dasharray=\"3 2\"/><text x=\"%d\" y=\"%d\">differs from the release</text>\n",
		x, y, palette[HealthDown][1], x+16, y+10)
	note := "edge width: requests per minute"
	if m.Window > 0 {
		note += " over the last " + formatWindow(m.Window)
	}
	if !m.Metrics {
		note = "no request metrics: health unknown"
	}
	if !m.RunningKnown {
		note += "; what runs is not known here"
	}
	fmt.Fprintf(b, "<text x=\"%d\" y=\"%d\">%s</text>\n", margin, y+28, esc(note))
	b.WriteString("</g>\n")
}

// idPrefix makes the SVG's element ids from the stage's name: letters,
// digits and dashes only, whatever the name holds.
func idPrefix(stage string) string {
	var b strings.Builder
	b.WriteString("map-")
	for _, r := range stage {
		if r < 128 && (r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}
