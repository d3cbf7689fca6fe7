package gateway

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/targets"
)

// segKind orders path segments by how specific they are: a higher kind wins
// when two routes match the same path.
type segKind uint8

const (
	segGreedy segKind = iota // "{name+}": one or more trailing segments
	segParam                 // "{name}": exactly one segment
	segExact                 // a literal segment
)

type patternSeg struct {
	kind segKind
	lit  string // the literal, for segExact
	name string // the parameter's name, for segParam and segGreedy
}

// pattern is a parsed stack.Route.
type pattern struct {
	method string // upper case; "ANY" matches every method
	segs   []patternSeg
}

// parseRoute checks a route the way the gateway understands it. The stack
// package validates routes already; this is the target's own guard.
func parseRoute(r stack.Route) (pattern, error) {
	method := strings.ToUpper(strings.TrimSpace(r.Method))
	if method == "" || strings.IndexFunc(method, func(c rune) bool { return c < 'A' || c > 'Z' }) >= 0 {
		return pattern{}, fmt.Errorf("route %q: method must be a word like GET or ANY", r.String())
	}
	if !strings.HasPrefix(r.Path, "/") {
		return pattern{}, fmt.Errorf("route %q: path must start with /", r.String())
	}
	p := pattern{method: method}
	parts := splitPath(r.Path)
	for i, part := range parts {
		switch {
		case strings.HasPrefix(part, "{") && strings.HasSuffix(part, "+}"):
			name := part[1 : len(part)-2]
			if name == "" || strings.ContainsAny(name, "{}+") {
				return pattern{}, fmt.Errorf("route %q: bad parameter %q", r.String(), part)
			}
			if i != len(parts)-1 {
				return pattern{}, fmt.Errorf("route %q: %s must be the last segment", r.String(), part)
			}
			p.segs = append(p.segs, patternSeg{kind: segGreedy, name: name})
		case strings.HasPrefix(part, "{") && strings.HasSuffix(part, "}"):
			name := part[1 : len(part)-1]
			if name == "" || strings.ContainsAny(name, "{}+") {
				return pattern{}, fmt.Errorf("route %q: bad parameter %q", r.String(), part)
			}
			p.segs = append(p.segs, patternSeg{kind: segParam, name: name})
		case strings.ContainsAny(part, "{}"):
			return pattern{}, fmt.Errorf("route %q: segment %q mixes text and a parameter", r.String(), part)
		default:
			p.segs = append(p.segs, patternSeg{kind: segExact, lit: part})
		}
	}
	return p, nil
}

// splitPath splits a path into its non-empty segments, so "/a//b/" and
// "/a/b" are the same path.
func splitPath(p string) []string {
	var segs []string
	for s := range strings.SplitSeq(p, "/") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	return segs
}

// splitEscapedPath splits an escaped request path into decoded segments, so
// that an encoded slash (%2F) stays inside its segment.
func splitEscapedPath(escaped string) []string {
	segs := splitPath(escaped)
	for i, s := range segs {
		if d, err := url.PathUnescape(s); err == nil {
			segs[i] = d
		}
	}
	return segs
}

func (p pattern) matchPath(segs []string) bool {
	for i, ps := range p.segs {
		switch ps.kind {
		case segGreedy:
			return len(segs) > i // at least one segment, as in API Gateway
		case segParam:
			if i >= len(segs) {
				return false
			}
		case segExact:
			if i >= len(segs) || segs[i] != ps.lit {
				return false
			}
		}
	}
	return len(segs) == len(p.segs)
}

// params returns the values of the pattern's parameters in segs, a path
// the pattern matched (decoded segments), or nil when it has none. A
// greedy parameter gets the rest of the path joined with "/", as API
// Gateway's {proxy+} does.
func (p pattern) params(segs []string) map[string]string {
	var params map[string]string
	for i, ps := range p.segs {
		if ps.kind == segExact || i >= len(segs) {
			continue
		}
		if params == nil {
			params = map[string]string{}
		}
		if ps.kind == segGreedy {
			params[ps.name] = strings.Join(segs[i:], "/")
			break
		}
		params[ps.name] = segs[i]
	}
	return params
}

// tail returns the segments of segs (a path the pattern matched) that its
// trailing greedy parameter took, or all of segs when it has none: the
// file a static function serves.
func (p pattern) tail(segs []string) []string {
	if n := len(p.segs); n > 0 && p.segs[n-1].kind == segGreedy && len(segs) >= n {
		return segs[n-1:]
	}
	return segs
}

// key renders the pattern without parameter names: two routes with the same
// key and method answer exactly the same requests.
func (p pattern) key() string {
	var b strings.Builder
	for _, s := range p.segs {
		b.WriteByte('/')
		switch s.kind {
		case segGreedy:
			b.WriteString("{+}")
		case segParam:
			b.WriteString("{}")
		default:
			b.WriteString(s.lit)
		}
	}
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}

// compareSpecificity orders more specific patterns first: segment by
// segment, exact beats parameter beats greedy; then a named method beats ANY.
func compareSpecificity(a, b pattern) int {
	for i := range min(len(a.segs), len(b.segs)) {
		if c := cmp.Compare(b.segs[i].kind, a.segs[i].kind); c != 0 {
			return c
		}
	}
	if c := cmp.Compare(len(b.segs), len(a.segs)); c != 0 {
		return c
	}
	if aa, ba := a.method == "ANY", b.method == "ANY"; aa != ba {
		if aa {
			return 1
		}
		return -1
	}
	return cmp.Or(cmp.Compare(a.key(), b.key()), cmp.Compare(a.method, b.method))
}

// Key renders the route the way API Gateway names it in an event:
// "GET /users/{id}".
func (r *Route) Key() string { return r.method + " " + r.spec.Path }

// Function is the function the route belongs to.
func (r *Route) Function() targets.Function { return r.fn }

// Spec is the route as the stack file wrote it.
func (r *Route) Spec() stack.Route { return r.spec }

// Params returns the values of the route's parameters in segs, a path it
// matched (decoded segments), or nil when it has none. A greedy parameter
// gets the rest of the path joined with "/", as API Gateway's {proxy+}
// does.
func (r *Route) Params(segs []string) map[string]string { return r.params(segs) }

// Tail returns the segments of segs (a path the route matched) that its
// trailing greedy parameter took, or all of segs when it has none: the file
// a static function serves.
func (r *Route) Tail(segs []string) []string { return r.tail(segs) }

// Route is one route pattern bound to the function, and the upstream, that
// serve it.
type Route struct {
	pattern
	spec     stack.Route // as the stack file wrote it, for API Gateway's routeKey
	fn       targets.Function
	upstream Upstream
}

// Table is one whole release of a stage as the gateway sees it. It is never
// changed once published: a target builds a new one (NewTable, then Bind)
// and swaps it in.
type Table struct {
	routes []Route            // most specific first
	fns    []targets.Function // sorted by Key
}

// NewTable parses the routes of fns and checks that no two functions claim
// the same route. Upstreams are bound later (Bind), once they are ready, so
// a release whose routes clash is refused before anything starts.
func NewTable(fns []targets.Function) (*Table, error) {
	t := &Table{fns: slices.Clone(fns)}
	slices.SortFunc(t.fns, func(a, b targets.Function) int { return cmp.Compare(a.Key(), b.Key()) })
	owner := map[string]string{} // method + key → function key
	for _, fn := range t.fns {
		for _, r := range fn.Routes {
			p, err := parseRoute(r)
			if err != nil {
				return nil, fmt.Errorf("function %s: %w", fn.Key(), err)
			}
			k := p.method + " " + p.key()
			if prev, ok := owner[k]; ok {
				if prev == fn.Key() {
					continue // the same route twice in one function
				}
				return nil, fmt.Errorf("route %s is claimed by both %s and %s", r.String(), prev, fn.Key())
			}
			owner[k] = fn.Key()
			t.routes = append(t.routes, Route{pattern: p, spec: r, fn: fn})
		}
	}
	slices.SortStableFunc(t.routes, func(a, b Route) int { return compareSpecificity(a.pattern, b.pattern) })
	return t, nil
}

// Bind points every route at the upstream upstreamOf returns for its
// function's key (nil leaves the route unserved: requests are retried and
// then answered 503). Call it before publishing the table.
func (t *Table) Bind(upstreamOf func(fnKey string) Upstream) {
	for i := range t.routes {
		t.routes[i].upstream = upstreamOf(t.routes[i].fn.Key())
	}
}

// Functions returns the functions of the release, sorted by Key.
func (t *Table) Functions() []targets.Function { return slices.Clone(t.fns) }

// Routes returns the table's routes, most specific first.
func (t *Table) Routes() []*Route {
	out := make([]*Route, len(t.routes))
	for i := range t.routes {
		out[i] = &t.routes[i]
	}
	return out
}

// Match finds the route for a request. When the path matches routes but
// none accepts the method, it returns nil and the methods that would have
// been accepted (for a 405); when nothing matches, nil and nil.
func (t *Table) Match(method string, segs []string) (*Route, []string) {
	var allowed []string
	for i := range t.routes {
		r := &t.routes[i]
		if !r.matchPath(segs) {
			continue
		}
		if r.method == "ANY" || r.method == method {
			return r, nil
		}
		allowed = append(allowed, r.method)
	}
	if method == "HEAD" && len(allowed) > 0 {
		// A HEAD request is a GET without the body; let GET routes answer it.
		if r, _ := t.Match("GET", segs); r != nil {
			return r, nil
		}
	}
	slices.Sort(allowed)
	return nil, slices.Compact(allowed)
}
