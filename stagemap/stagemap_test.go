package stagemap

import (
	"bytes"
	"encoding/xml"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/targets"
)

var update = flag.Bool("update", false, "rewrite the golden SVGs in testdata")

func fn(svc, name, digest string, routes ...string) targets.Function {
	f := targets.Function{Service: svc, Name: name, Runtime: "go", Digest: digest}
	for _, r := range routes {
		m, p, _ := strings.Cut(r, " ")
		f.Routes = append(f.Routes, stack.Route{Method: m, Path: p})
	}
	return f
}

// shop is a stage with routes, a domain, a schedule, a queue with two
// consumers and async settings, where one function crash-loops, one is
// missing, one runs without being declared and one runs another build.
func shop() Input {
	api := fn("api", "hello", "sha256:aa", "GET /hello", "ANY /hello/{proxy+}")
	orders := fn("api", "orders", "sha256:bb", "POST /orders")
	orders.Events = []stack.Event{{Queue: "orders"}}
	orders.Async = &stack.Async{Retries: 2, OnFailure: "api/alarm"}
	report := fn("jobs", "report", "sha256:cc")
	report.Events = []stack.Event{{Schedule: "rate(5 minutes)"}, {Queue: "orders"}}
	report.Runtime = "python"
	thumbs := fn("media", "thumbs", "sha256:dd", "POST /thumbs")
	thumbs.Kind = stack.KindLambda
	declared := []targets.Function{thumbs, report, orders, api} // any order: the map sorts
	oldThumbs := thumbs
	oldThumbs.Digest = "sha256:d0"
	running := []targets.Function{api, orders, oldThumbs, fn("api", "legacy", "sha256:ee", "GET /old")}
	return Input{
		App: "shop", Stage: "prod", URL: "http://127.0.0.1:8081/shop/prod/", Release: 7,
		Declared: declared, Queues: []stack.Queue{{Name: "orders"}},
		Domains: []Domain{{Name: "shop.example.com", Status: "active"}, {Name: "api.example.com", Status: "pending"}},
		Running: running, RunningKnown: true,
		Traffic: map[string]Traffic{
			"api/hello":  {Requests: 600, Errors: 0, P95: 42 * time.Millisecond},
			"api/orders": {Requests: 50, Errors: 5, Restarts: 4, P95: 1200 * time.Millisecond},
			"api/legacy": {Requests: 5},
		},
		Window: 5 * time.Minute,
		Firing: []string{"errors-high"},
		FunctionURL: func(key string) string {
			return "/apps/shop/stages/prod/functions/" + key
		},
	}
}

func TestGoldenSVG(t *testing.T) {
	tests := []struct {
		name string
		in   Input
	}{
		{"shop", shop()},
		{"empty", Input{App: "new", Stage: "dev", URL: "http://127.0.0.1:8081/new/dev/", RunningKnown: true}},
		{"unknown-running-no-metrics", func() Input {
			in := shop()
			in.Running, in.RunningKnown, in.Traffic = nil, false, nil
			return in
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SVG(Build(tt.in))
			again := SVG(Build(tt.in))
			if !bytes.Equal(got, again) {
				t.Fatal("the same input drew two different SVGs")
			}
			wellFormed(t, got)
			path := filepath.Join("testdata", tt.name+".svg")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the SVG drawn now; look at both, then run go test ./stagemap -update if the change is meant", path)
			}
		})
	}
}

// wellFormed parses svg as XML to its end.
func wellFormed(t *testing.T, svg []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(svg))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed XML: %v\n%s", err, svg)
		}
	}
}

func TestDrift(t *testing.T) {
	m := Build(shop())
	tests := []struct {
		name, id, health, drift string
	}{
		{"serves, no errors", "fn:api/hello", HealthOK, DriftNone},
		{"restarts past the threshold", "fn:api/orders", HealthDown, DriftCrashLooping},
		{"declared, not running", "fn:jobs/report", HealthDown, DriftMissing},
		{"runs, not declared", "fn:api/legacy", HealthOK, DriftNotInRelease},
		{"runs another artifact", "fn:media/thumbs", HealthIdle, DriftOtherBuild},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, ok := m.Node(tt.id)
			if !ok {
				t.Fatalf("no node %s", tt.id)
			}
			if n.Health != tt.health || n.Drift != tt.drift {
				t.Errorf("%s: health %q drift %q, want %q %q", tt.id, n.Health, n.Drift, tt.health, tt.drift)
			}
		})
	}
	if m.Missing != 1 || m.CrashLooping != 1 || m.NotInRelease != 1 || m.OtherBuild != 1 || m.Down != 2 || !m.Differs() {
		t.Errorf("counts: missing %d crash-looping %d not in release %d other build %d down %d", m.Missing, m.CrashLooping, m.NotInRelease, m.OtherBuild, m.Down)
	}
	// Without knowing what runs, nothing is called missing.
	in := shop()
	in.Running, in.RunningKnown = nil, false
	if u := Build(in); u.Missing+u.NotInRelease+u.OtherBuild != 0 {
		t.Errorf("with what runs unknown the map still marks drift: %+v", u)
	}
	if n, _ := Build(in).Node("fn:api/orders"); n.Drift != DriftCrashLooping {
		t.Errorf("crash-looping is read from metrics, also when what runs is unknown; got %q", n.Drift)
	}
}

func TestEdges(t *testing.T) {
	m := Build(shop())
	var rate *Edge
	queue := 0
	for i, e := range m.Edges {
		if e.From == "route:api/hello:GET /hello" {
			rate = &m.Edges[i]
		}
		if e.From == "queue:orders" {
			queue++
		}
	}
	if rate == nil || rate.PerMinute != 120 || rate.Label != "120 req/min" || rate.Health != HealthOK {
		t.Errorf("the route edge into api/hello: %+v, want 120 req/min, ok", rate)
	}
	if queue != 2 {
		t.Errorf("the queue orders has %d edges, want one to each of its 2 consumers", queue)
	}
	n := 0
	for _, node := range m.Nodes {
		if node.ID == "queue:orders" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("queue orders drawn %d times, want once", n)
	}
}

// TestStableOrder: adding a function keeps the others in their order,
// and the functions before it where they were.
func TestStableOrder(t *testing.T) {
	before := Build(shop())
	in := shop()
	added := fn("api", "inventory", "sha256:ff", "GET /stock")
	in.Declared = append(in.Declared, added)
	in.Running = append(in.Running, added)
	after := Build(in)
	ids := func(m Map) []string {
		var out []string
		for _, n := range m.Nodes {
			if n.ID != "fn:api/inventory" && !strings.HasPrefix(n.ID, "route:api/inventory:") {
				out = append(out, n.ID)
			}
		}
		return out
	}
	if a, b := ids(before), ids(after); !slices.Equal(a, b) {
		t.Errorf("adding a function reordered the others:\nbefore %v\nafter  %v", a, b)
	}
	for _, id := range []string{"fn:api/hello", "route:api/hello:GET /hello", "entry", "domain:api.example.com"} {
		b, _ := before.Node(id)
		a, _ := after.Node(id)
		if a.X != b.X || a.Y != b.Y {
			t.Errorf("%s moved from %d,%d to %d,%d though the new function sorts after it", id, b.X, b.Y, a.X, a.Y)
		}
	}
}

// TestHostileNames: names come from users' stack files and domains; none
// may break out of the SVG's text or attributes.
func TestHostileNames(t *testing.T) {
	evil := `x"/><script>alert(1)</script><a href="javascript:alert(2)">`
	f := fn("svc", evil, "sha256:aa", "GET /"+evil)
	f.Events = []stack.Event{{Schedule: evil}, {Queue: evil}}
	f.Async = &stack.Async{OnFailure: evil}
	in := Input{App: evil, Stage: evil, URL: "http://gw/" + evil, Release: 1, Declared: []targets.Function{f},
		Running: []targets.Function{f}, RunningKnown: true, Domains: []Domain{{Name: evil, Status: evil}},
		Traffic: map[string]Traffic{}, Firing: []string{evil}, Window: time.Minute,
		FunctionURL: func(key string) string { return "/apps/x/" + key }}
	svg := SVG(Build(in))
	wellFormed(t, svg)
	for _, bad := range []string{"<script", "javascript:alert(2)\">", "<a href=\"javascript"} {
		if bytes.Contains(svg, []byte(bad)) {
			t.Errorf("the SVG contains %q unescaped", bad)
		}
	}
	if !bytes.Contains(svg, []byte("&lt;script&gt;")) {
		t.Error("the hostile name is not in the SVG at all, escaped; the test proves nothing")
	}
	// Only the elements the renderer writes appear.
	d := xml.NewDecoder(bytes.NewReader(svg))
	allowed := map[string]bool{"svg": true, "title": true, "defs": true, "marker": true, "path": true, "rect": true, "text": true, "g": true, "a": true}
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		if se, ok := tok.(xml.StartElement); ok {
			if !allowed[se.Name.Local] {
				t.Errorf("element <%s> in the SVG", se.Name.Local)
			}
			if se.Name.Local == "a" {
				for _, a := range se.Attr {
					if a.Name.Local == "href" && !strings.HasPrefix(a.Value, "/apps/") {
						t.Errorf("a link to %q", a.Value)
					}
				}
			}
		}
	}
}

func TestDifferences(t *testing.T) {
	got := Build(shop()).Differences()
	want := []string{
		"api/orders is crash-looping: restarted 4× in 5 min.",
		"jobs/report is declared by release #7 but not running.",
		"media/thumbs runs another build than release #7's.",
		"api/legacy runs, but release #7 does not declare it.",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Differences:\n got %q\nwant %q", got, want)
	}
	in := shop()
	in.Running = in.Declared
	in.Traffic = nil
	if d := Build(in).Differences(); len(d) != 0 {
		t.Errorf("what runs is what is declared, yet: %q", d)
	}
}

// TestShortOfInstances marks a function running fewer instances than its
// instances.min (1 when the stack says none), and only when the target
// counts instances.
func TestShortOfInstances(t *testing.T) {
	web := fn("api", "web", "sha256:a1", "GET /")
	web.Instances = &stack.Instances{Min: 3, Max: 5}
	lazy := fn("api", "lazy", "sha256:a2", "GET /lazy")
	lazy.Instances = &stack.Instances{Min: 0, Max: 2}
	plain := fn("api", "plain", "sha256:a3", "GET /plain")
	site := fn("www", "site", "sha256:a4", "GET /site")
	site.Runtime = "static"
	fns := []targets.Function{web, lazy, plain, site}
	in := Input{App: "shop", Stage: "prod", Release: 3, Declared: fns, Running: fns, RunningKnown: true}
	tests := []struct {
		name      string
		instances map[string]int
		short     []string // function keys marked short
	}{
		{"not counted", nil, nil},
		{"all there", map[string]int{"api/web": 3, "api/plain": 1}, nil},
		{"one short of min", map[string]int{"api/web": 2, "api/plain": 1}, []string{"api/web"}},
		{"none of the default one", map[string]int{"api/web": 4}, []string{"api/plain"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in.Instances = tt.instances
			m := Build(in)
			var short []string
			for _, n := range m.Nodes {
				if n.Drift == DriftShort {
					short = append(short, strings.TrimPrefix(n.ID, "fn:"))
				}
			}
			if !slices.Equal(short, tt.short) || m.Short != len(tt.short) || m.Differs() != (len(tt.short) > 0) {
				t.Fatalf("short %v (count %d, differs %v), want %v", short, m.Short, m.Differs(), tt.short)
			}
		})
	}
	in.Instances = map[string]int{"api/web": 1, "api/plain": 1}
	m := Build(in)
	if d := m.Differences(); !slices.Equal(d, []string{"api/web is short of instances: 1 of at least 3 instances run."}) {
		t.Errorf("Differences: %q", d)
	}
	svg := string(SVG(m))
	if !strings.Contains(svg, `data-drift="short"`) || !strings.Contains(svg, "SHORT: 1 of at least 3 instances run") {
		t.Errorf("the SVG does not mark api/web short:\n%s", svg)
	}
}
