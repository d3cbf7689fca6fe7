// Package stagemap draws a stage as a diagram: what its live release
// declares (entry points and routes → functions → the events that start
// them) beside what its target runs now, coloured by recent health and
// request rates. It is pure: Build turns an Input the caller gathered
// (release, running functions, metrics, domains, firing rules) into a Map,
// and SVG renders a Map with a layout that depends only on the Input, so
// the same stage draws the same picture byte for byte and a new function
// does not move the others out of their order.
package stagemap

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/targets"
)

// Health of a node, from its recent requests and restarts.
const (
	HealthOK       = "ok"       // served requests, none failed
	HealthErroring = "erroring" // some requests failed, or it restarted
	HealthDown     = "down"     // not running, or crash-looping
	HealthIdle     = "idle"     // running, no requests in the window
	HealthNone     = "none"     // not a function: entry points, routes, events
)

// Drift says how what runs differs from what the release declares.
const (
	DriftNone         = ""
	DriftMissing      = "missing"        // declared, not running
	DriftCrashLooping = "crash_looping"  // running, but its process keeps restarting
	DriftNotInRelease = "not_in_release" // running, not declared by the live release
	DriftOtherBuild   = "other_build"    // running another artifact than the release's
	DriftShort        = "short"          // fewer instances run than the release's minimum
)

// Node kinds, one column each but events.
const (
	KindEntry    = "entry"    // the stage's gateway URL
	KindDomain   = "domain"   // a custom domain of the stage
	KindRoute    = "route"    // METHOD /path of a function
	KindFunction = "function" // a function of the release, or running
	KindSchedule = "schedule" // a schedule that invokes a function
	KindQueue    = "queue"    // a queue a function consumes
	KindAsync    = "async"    // async invocations and their failure destination
)

// CrashLoopRestarts is how many restarts within the window make a
// function crash-looping: one crash can be a bad request, three in a few
// minutes is a process that does not stay up.
const CrashLoopRestarts = 3

// Traffic is what the gateway counted for one function in the window.
type Traffic struct {
	Requests int64
	Errors   int64 // 5xx answers and crashes
	Restarts int64 // its process exited on its own and was started again
	P95      time.Duration
}

// Domain is a custom domain of the stage.
type Domain struct {
	Name   string
	Status string // as package domains says: "active", "pending", …
}

// Input is everything a map is drawn from. The caller reads it; Build
// only arranges it.
type Input struct {
	App, Stage string
	// URL is where the gateway serves the stage.
	URL string
	// Release is the live release's id; 0 when nothing is deployed.
	Release uint
	// Declared are the functions of the live release, Queues its queues.
	Declared []targets.Function
	Queues   []stack.Queue
	// SchedulesOff: the stack turns this stage's schedules off.
	SchedulesOff bool
	Domains      []Domain
	// Running is what the target serves now; RunningKnown is false when
	// this process cannot tell (the functions run elsewhere), and no
	// node is then marked missing or not in the release.
	Running      []targets.Function
	RunningKnown bool
	// Instances counts the running instances by function key; nil: the
	// target does not tell (then no function is marked short).
	Instances map[string]int
	// Traffic is by function key over Window; nil: no metrics kept.
	Traffic map[string]Traffic
	Window  time.Duration
	// Firing names the alert rules firing for the stage now.
	Firing []string
	// FunctionURL links a function's node to its page; nil: no links.
	FunctionURL func(key string) string
}

// Node is one box of the map.
type Node struct {
	ID     string // stable and unique: "fn:api/hello", "route:api/hello:GET /hello"
	Kind   string
	Label  string
	Detail []string // smaller lines under the label
	Health string
	Drift  string
	URL    string // where clicking the node leads; "" for none
	// PerMinute is a function's requests per minute over the window.
	PerMinute float64
	// Position and size, in SVG units, set by Build.
	X, Y, W, H int
}

// Edge joins two nodes; for a route into a function it carries the
// function's request rate.
type Edge struct {
	From      string // node IDs
	To        string
	Health    string // the colour: the health of the function it leads to
	PerMinute float64
	Label     string // "12 req/min"; "" for none
	Event     bool   // an event source, drawn dashed
}

// Map is a stage drawn: nodes placed in columns and the edges between.
type Map struct {
	App          string
	Stage        string
	Release      uint
	RunningKnown bool
	Metrics      bool // traffic was read; without it health is unknown
	Window       time.Duration
	Firing       []string
	Nodes        []Node
	Edges        []Edge
	// Bus is the vertical line the entry points reach the routes by;
	// zero when there are no routes.
	BusX, BusTop, BusBottom int
	Width, Height           int
	Columns                 int // 3, or 4 with events
	// Counts of what differs, for the page's summary.
	Missing      int
	CrashLooping int
	NotInRelease int
	OtherBuild   int
	Short        int
	Down         int
}

// Node returns the node with id, or false.
func (m Map) Node(id string) (Node, bool) {
	for _, n := range m.Nodes {
		if n.ID == id {
			return n, true
		}
	}
	return Node{}, false
}

// Differs tells whether what runs differs from what the release declares.
func (m Map) Differs() bool {
	return m.Missing+m.CrashLooping+m.NotInRelease+m.OtherBuild+m.Short > 0
}

// minInstances is how many instances of fn the release asks to run at
// all times: instances.min, 1 when the stack says nothing, none for a
// static site (the target serves its files itself).
func minInstances(fn targets.Function) int {
	switch {
	case fn.Runtime == "static":
		return 0
	case fn.Instances == nil:
		return 1
	}
	return fn.Instances.Min
}

// function is one function as the map sees it: declared, running or both.
type function struct {
	key      string
	declared *targets.Function
	running  *targets.Function
}

// spec is the function's declaration, else what runs.
func (f function) spec() targets.Function {
	if f.declared != nil {
		return *f.declared
	}
	return *f.running
}

// functions merges declared and running functions: declared ones sorted
// by key, then those running without being declared, sorted by key. A new
// function takes its place in the order without moving the others'.
func functions(in Input) []function {
	var out []function
	idx := map[string]int{}
	decl := slices.Clone(in.Declared)
	sort.SliceStable(decl, func(i, j int) bool { return decl[i].Key() < decl[j].Key() })
	for i := range decl {
		k := decl[i].Key()
		if _, dup := idx[k]; dup {
			continue
		}
		idx[k] = len(out)
		out = append(out, function{key: k, declared: &decl[i]})
	}
	run := slices.Clone(in.Running)
	sort.SliceStable(run, func(i, j int) bool { return run[i].Key() < run[j].Key() })
	for i := range run {
		k := run[i].Key()
		if j, ok := idx[k]; ok {
			if out[j].running == nil {
				out[j].running = &run[i]
			}
			continue
		}
		idx[k] = len(out)
		out = append(out, function{key: k, running: &run[i]})
	}
	return out
}

// Build arranges in as a Map. It never fails: what is unknown is drawn
// as unknown.
func Build(in Input) Map {
	m := Map{App: in.App, Stage: in.Stage, Release: in.Release, RunningKnown: in.RunningKnown, Metrics: in.Traffic != nil,
		Window: in.Window, Firing: slices.Clone(in.Firing)}
	sort.Strings(m.Firing)
	fns := functions(in)

	// Entry points: the stage's URL, then its domains by name.
	entries := []Node{{ID: "entry", Kind: KindEntry, Label: in.URL, Detail: []string{"stage URL"}, Health: HealthNone}}
	doms := slices.Clone(in.Domains)
	sort.Slice(doms, func(i, j int) bool { return doms[i].Name < doms[j].Name })
	for _, d := range doms {
		n := Node{ID: "domain:" + d.Name, Kind: KindDomain, Label: d.Name, Detail: []string{"domain"}, Health: HealthNone}
		if d.Status != "" {
			n.Detail = []string{"domain · " + d.Status}
		}
		entries = append(entries, n)
	}

	var routes, fnodes, events []Node
	var edges []Edge
	queues := map[string]bool{}
	y := top
	for _, f := range fns {
		spec := f.spec()
		fn := functionNode(in, f, &m)
		band := y

		var rs []Node
		for _, r := range spec.Routes {
			rs = append(rs, Node{ID: "route:" + f.key + ":" + r.String(), Kind: KindRoute, Label: r.String(), Health: HealthNone})
		}
		var es []Node
		for i, ev := range spec.Events {
			switch {
			case ev.Schedule != "":
				n := Node{ID: "schedule:" + f.key + ":" + strconv.Itoa(i), Kind: KindSchedule, Label: ev.Schedule, Health: HealthNone, Detail: []string{"schedule"}}
				if ev.TimeZone != "" {
					n.Detail = []string{"schedule · " + ev.TimeZone}
				}
				if in.SchedulesOff {
					n.Detail = []string{"schedule · off in this stage"}
				}
				es = append(es, n)
				edges = append(edges, Edge{From: n.ID, To: fn.ID, Health: HealthNone, Event: true})
			case ev.Queue != "":
				id := "queue:" + ev.Queue
				if !queues[id] {
					queues[id] = true
					n := Node{ID: id, Kind: KindQueue, Label: ev.Queue, Health: HealthNone, Detail: []string{"queue"}}
					if !declaresQueue(in.Queues, ev.Queue) {
						n.Detail = []string{"queue · not in the stack's queues"}
					}
					es = append(es, n)
				}
				edges = append(edges, Edge{From: id, To: fn.ID, Health: HealthNone, Event: true})
			}
		}
		if spec.Async != nil {
			n := Node{ID: "async:" + f.key, Kind: KindAsync, Label: "async invocations", Health: HealthNone,
				Detail: []string{plural(spec.Async.Retries, "retry", "retries")}}
			if spec.Async.OnFailure != "" {
				n.Detail = append(n.Detail, "on failure → "+spec.Async.OnFailure)
			}
			es = append(es, n)
			edges = append(edges, Edge{From: n.ID, To: fn.ID, Health: HealthNone, Event: true})
		}

		// The band is as tall as the tallest of the function's columns.
		ry := band
		for i := range rs {
			rs[i].X, rs[i].Y, rs[i].W, rs[i].H = colX[1], ry, colW[1], routeH
			ry += routeH + gap
		}
		fn.X, fn.Y, fn.W, fn.H = colX[2], band, colW[2], heightOf(fn, fnH)
		ey := band
		for i := range es {
			es[i].X, es[i].Y, es[i].W, es[i].H = colX[3], ey, colW[3], heightOf(es[i], eventH)
			ey += es[i].H + gap
		}
		y = max(ry, band+fn.H+gap, ey) + bandGap

		t := in.Traffic[f.key]
		rate := perMinute(t.Requests, in.Window)
		for i, r := range rs {
			e := Edge{From: r.ID, To: fn.ID, Health: fn.Health, PerMinute: rate}
			if i == 0 && in.Traffic != nil {
				e.Label = formatRate(rate) + " req/min"
			}
			edges = append(edges, e)
		}
		routes = append(routes, rs...)
		fnodes = append(fnodes, fn)
		events = append(events, es...)
	}

	ey := top
	for i := range entries {
		entries[i].X, entries[i].Y, entries[i].W, entries[i].H = colX[0], ey, colW[0], entryH
		ey += entryH + gap
	}
	bottom := max(y-bandGap, ey-gap, top+fnH)
	if len(routes) > 0 {
		m.BusX = colX[1] - busGap
		m.BusTop = min(routes[0].Y+routeH/2, entries[0].Y+entryH/2)
		m.BusBottom = max(routes[len(routes)-1].Y+routeH/2, entries[len(entries)-1].Y+entryH/2)
	}
	m.Nodes = slices.Concat(entries, routes, fnodes, events)
	m.Edges = edges
	m.Columns = 4
	if len(events) == 0 { // no events column: a narrower map reads larger
		m.Columns = 3
	}
	m.Width = colX[m.Columns-1] + colW[m.Columns-1] + margin
	m.Height = bottom + margin + legendH
	return m
}

// heightOf is a box tall enough for n's lines, at least min.
func heightOf(n Node, min int) int {
	return max(min, 25+lineH*len(n.Detail))
}

// functionNode is f's box: its health, what differs and its numbers.
func functionNode(in Input, f function, m *Map) Node {
	spec := f.spec()
	n := Node{ID: "fn:" + f.key, Kind: KindFunction, Label: f.key}
	if in.FunctionURL != nil {
		n.URL = in.FunctionURL(f.key)
	}
	t, counted := in.Traffic[f.key]
	rt := spec.Runtime
	if spec.Kind == stack.KindLambda {
		rt += " · lambda"
	}
	switch {
	case in.RunningKnown && f.running == nil:
		n.Drift, n.Health = DriftMissing, HealthDown
		n.Detail = []string{rt, "MISSING: declared, not running"}
		m.Missing++
	case in.RunningKnown && f.declared == nil:
		n.Drift = DriftNotInRelease
		n.Detail = []string{rt, "NOT IN RELEASE: runs, not declared"}
		m.NotInRelease++
	case t.Restarts >= CrashLoopRestarts:
		n.Drift, n.Health = DriftCrashLooping, HealthDown
		n.Detail = []string{rt, "CRASH-LOOPING: restarted " + strconv.FormatInt(t.Restarts, 10) + "× in " + formatWindow(in.Window)}
		m.CrashLooping++
	case in.RunningKnown && f.declared.Digest != f.running.Digest:
		n.Drift = DriftOtherBuild
		n.Detail = []string{rt, "runs another build than the release's"}
		m.OtherBuild++
	case in.Instances != nil && f.declared != nil && in.Instances[f.key] < minInstances(*f.declared):
		n.Drift = DriftShort
		n.Detail = []string{rt, fmt.Sprintf("SHORT: %d of at least %d instances run", in.Instances[f.key], minInstances(*f.declared))}
		m.Short++
	default:
		n.Detail = []string{rt}
		if t.Restarts > 0 {
			n.Detail = append(n.Detail, "restarted "+strconv.FormatInt(t.Restarts, 10)+"× in "+formatWindow(in.Window))
		}
	}
	if n.Health == "" {
		switch {
		case in.Traffic == nil:
			n.Health = HealthNone
		case t.Errors > 0 || t.Restarts > 0:
			n.Health = HealthErroring
		case !counted || t.Requests == 0:
			n.Health = HealthIdle
		default:
			n.Health = HealthOK
		}
	}
	if n.Health == HealthDown {
		m.Down++
	}
	if in.Traffic != nil {
		n.PerMinute = perMinute(t.Requests, in.Window)
		line := formatRate(n.PerMinute) + " req/min"
		if t.Requests > 0 {
			line += " · " + formatPercent(float64(t.Errors)/float64(t.Requests)) + " errors · p95 " + formatDuration(t.P95)
		}
		n.Detail = append(n.Detail, line)
	}
	return n
}

func declaresQueue(qs []stack.Queue, name string) bool {
	for _, q := range qs {
		if q.Name == name {
			return true
		}
	}
	return false
}

func perMinute(n int64, window time.Duration) float64 {
	if window <= 0 {
		return 0
	}
	return float64(n) / window.Minutes()
}

// formatRate writes a rate with one decimal under 10, none above.
func formatRate(r float64) string {
	if r < 10 {
		return strconv.FormatFloat(r, 'f', 1, 64)
	}
	return strconv.FormatFloat(r, 'f', 0, 64)
}

func formatPercent(f float64) string {
	p := f * 100
	if p > 0 && p < 1 {
		return "<1%"
	}
	return strconv.FormatFloat(p, 'f', 0, 64) + "%"
}

func formatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "–"
	case d < time.Millisecond:
		return "<1 ms"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	default:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	}
}

func formatWindow(d time.Duration) string {
	if d <= 0 {
		return "the window"
	}
	if d%time.Minute == 0 {
		return fmt.Sprintf("%d min", int(d.Minutes()))
	}
	return d.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// truncate cuts s to n runes with an ellipsis: boxes have a fixed width,
// and the full text is in the node's tooltip.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return strings.TrimSpace(string(r[:n-1])) + "…"
}

// Differences says in words where what runs differs from the release,
// one line per function, in the map's order.
func (m Map) Differences() []string {
	rel := "the release"
	if m.Release != 0 {
		rel = "release #" + strconv.FormatUint(uint64(m.Release), 10)
	}
	var out []string
	for _, n := range m.Nodes {
		if n.Kind != KindFunction {
			continue
		}
		switch n.Drift {
		case DriftMissing:
			out = append(out, n.Label+" is declared by "+rel+" but not running.")
		case DriftCrashLooping:
			out = append(out, n.Label+" is crash-looping: "+strings.ToLower(strings.TrimPrefix(n.Detail[1], "CRASH-LOOPING: "))+".")
		case DriftNotInRelease:
			out = append(out, n.Label+" runs, but "+rel+" does not declare it.")
		case DriftOtherBuild:
			out = append(out, n.Label+" runs another build than "+rel+"'s.")
		case DriftShort:
			out = append(out, n.Label+" is short of instances: "+strings.TrimPrefix(n.Detail[1], "SHORT: ")+".")
		}
	}
	return out
}
