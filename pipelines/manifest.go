package pipelines

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/targets"
)

// Manifest is what a release contains: the commit it came from and every
// function with its artifact digest and resolved settings. It is stored as
// JSON in the release and never changes once written.
type Manifest struct {
	App       string             `json:"app"`
	BuildID   uint               `json:"build_id"`
	Commit    string             `json:"commit"`
	Message   string             `json:"message,omitempty"`
	Author    string             `json:"author,omitempty"`
	Functions []targets.Function `json:"functions"`
	// Branch is the branch the release was built from, when known.
	Branch string `json:"branch,omitempty"`
	// Services holds what deploys need of the services beyond their
	// functions: deploy hooks and dependencies (only services with some).
	Services []ServiceSpec `json:"services,omitempty"`
	// Queues are the stack's queues; each stage the release goes to has
	// its own. SchedulesOff names the stages whose stack entry says
	// schedules: false. Both travel with the release when it is promoted.
	Queues       []stack.Queue `json:"queues,omitempty"`
	SchedulesOff []string      `json:"schedules_off,omitempty"`
}

// schedulesOff names the stages the stack turns schedules off for.
func schedulesOff(stages []stack.StageSpec) []string {
	var off []string
	for _, s := range stages {
		if s.Schedules != nil && !*s.Schedules {
			off = append(off, s.Name)
		}
	}
	return off
}

func decodeManifest(s string) (Manifest, error) {
	var m Manifest
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return m, fmt.Errorf("decode release manifest: %w", err)
	}
	return m, nil
}

func encodeJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Only plain data types are encoded here; failing is a programming error.
		panic(fmt.Sprintf("encode %T: %v", v, err))
	}
	return string(b)
}

// Change kinds of one function in a change set.
const (
	ChangeAdd    = "add"
	ChangeUpdate = "change"
	ChangeRemove = "remove"
	ChangeKeep   = "keep"
)

// FunctionChange is what a deploy does to one function of the stage.
type FunctionChange struct {
	Kind   string   `json:"kind"`
	Key    string   `json:"key"`
	Before string   `json:"before,omitempty"` // digest served now
	After  string   `json:"after,omitempty"`  // digest served afterwards
	Detail []string `json:"detail,omitempty"` // e.g. "route added: GET /hi"
	// Major marks a change to the stage's shape: a function or route added
	// or removed, a runtime or handler changed. Code and env changes are minor.
	Major bool `json:"major,omitempty"`
}

// ChangeSet is what a deploy will do to a stage.
type ChangeSet struct {
	FromRelease uint             `json:"from_release,omitempty"`
	ToRelease   uint             `json:"to_release"`
	Functions   []FunctionChange `json:"functions"`
}

// Counts tells how many functions are added, changed and removed.
func (c ChangeSet) Counts() (added, changed, removed int) {
	for _, f := range c.Functions {
		switch f.Kind {
		case ChangeAdd:
			added++
		case ChangeUpdate:
			changed++
		case ChangeRemove:
			removed++
		}
	}
	return
}

// Summary says in words what the change set does.
func (c ChangeSet) Summary() string {
	a, ch, r := c.Counts()
	if a+ch+r == 0 {
		return "Nothing changes: the stage already serves these functions."
	}
	kind := "Minor change (code or env only)"
	if c.Major() {
		kind = "Major change (functions, routes, runtimes or handlers)"
	}
	return fmt.Sprintf("%s: %d added, %d changed, %d removed", kind, a, ch, r)
}

// Major reports whether any function change is major.
func (c ChangeSet) Major() bool {
	for _, f := range c.Functions {
		if f.Major {
			return true
		}
	}
	return false
}

// Plan compares what a stage serves (from, nil for an empty stage) with a
// release's functions and lists the changes, sorted by function key.
func Plan(from []targets.Function, fromRelease uint, to []targets.Function, toRelease uint) ChangeSet {
	cs := ChangeSet{FromRelease: fromRelease, ToRelease: toRelease}
	before := map[string]targets.Function{}
	for _, f := range from {
		before[f.Key()] = f
	}
	seen := map[string]bool{}
	for _, f := range to {
		seen[f.Key()] = true
		old, ok := before[f.Key()]
		if !ok {
			cs.Functions = append(cs.Functions, FunctionChange{Kind: ChangeAdd, Key: f.Key(), After: f.Digest, Detail: append(routeLines("route added", f.Routes), eventLines("event added", f.Events)...), Major: true})
			continue
		}
		detail, major := functionDiff(old, f)
		kind := ChangeKeep
		if len(detail) > 0 {
			kind = ChangeUpdate
		}
		cs.Functions = append(cs.Functions, FunctionChange{Kind: kind, Key: f.Key(), Before: old.Digest, After: f.Digest, Detail: detail, Major: major})
	}
	for _, f := range from {
		if !seen[f.Key()] {
			cs.Functions = append(cs.Functions, FunctionChange{Kind: ChangeRemove, Key: f.Key(), Before: f.Digest, Detail: append(routeLines("route removed", f.Routes), eventLines("event removed", f.Events)...), Major: true})
		}
	}
	sort.Slice(cs.Functions, func(i, j int) bool { return cs.Functions[i].Key < cs.Functions[j].Key })
	return cs
}

func eventLines(prefix string, events []stack.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, prefix+": "+e.String())
	}
	return out
}

func routeLines(prefix string, routes []stack.Route) []string {
	var out []string
	for _, r := range routes {
		out = append(out, prefix+": "+r.String())
	}
	return out
}

// functionDiff lists what differs between two versions of one function,
// and whether any of it is major. Env values are never shown, only their
// keys: they may be secrets.
func functionDiff(a, b targets.Function) (d []string, major bool) {
	if a.Digest != b.Digest {
		d = append(d, "code: "+shortDigest(a.Digest)+" → "+shortDigest(b.Digest))
	}
	if a.Runtime != b.Runtime {
		d, major = append(d, "runtime: "+a.Runtime+" → "+b.Runtime), true
	}
	if a.Handler != b.Handler {
		d, major = append(d, "handler: "+a.Handler+" → "+b.Handler), true
	}
	if a.Kind != b.Kind {
		d, major = append(d, "type: "+kindName(a.Kind)+" → "+kindName(b.Kind)), true
	}
	oldRoutes, newRoutes := map[string]bool{}, map[string]bool{}
	for _, r := range a.Routes {
		oldRoutes[r.String()] = true
	}
	for _, r := range b.Routes {
		newRoutes[r.String()] = true
		if !oldRoutes[r.String()] {
			d, major = append(d, "route added: "+r.String()), true
		}
	}
	for _, r := range a.Routes {
		if !newRoutes[r.String()] {
			d, major = append(d, "route removed: "+r.String()), true
		}
	}
	// Events are compared as a set: a schedule or subscription added or
	// removed changes when the function runs, so it is major; an overlap
	// or batch setting changed is a removal and an addition too.
	oldEvents, newEvents := map[string]bool{}, map[string]bool{}
	for _, e := range a.Events {
		oldEvents[eventKey(e)] = true
	}
	for _, e := range b.Events {
		newEvents[eventKey(e)] = true
		if !oldEvents[eventKey(e)] {
			d, major = append(d, "event added: "+e.String()), true
		}
	}
	for _, e := range a.Events {
		if !newEvents[eventKey(e)] {
			d, major = append(d, "event removed: "+e.String()), true
		}
	}
	if aa, ba := stack.AsyncOf(a.Async), stack.AsyncOf(b.Async); aa != ba {
		d = append(d, fmt.Sprintf("async: retries %d, backoff %s, on failure %q → retries %d, backoff %s, on failure %q",
			aa.Retries, aa.Backoff, aa.OnFailure, ba.Retries, ba.Backoff, ba.OnFailure))
	}
	var keys []string
	for k := range a.Env {
		keys = append(keys, k)
	}
	for k := range b.Env {
		if _, ok := a.Env[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		av, inA := a.Env[k]
		bv, inB := b.Env[k]
		switch {
		case !inA:
			d = append(d, "env added: "+k)
		case !inB:
			d = append(d, "env removed: "+k)
		case av != bv:
			d = append(d, "env changed: "+k)
		}
	}
	if a.Timeout != b.Timeout {
		d = append(d, fmt.Sprintf("timeout: %s → %s", a.Timeout, b.Timeout))
	}
	if a.IdleTimeout != b.IdleTimeout {
		d = append(d, fmt.Sprintf("idle timeout: %s → %s", a.IdleTimeout, b.IdleTimeout))
	}
	if a.BodyLimit != b.BodyLimit {
		d = append(d, fmt.Sprintf("body limit: %d → %d MiB", a.BodyLimit, b.BodyLimit))
	}
	if a.Memory != b.Memory {
		d = append(d, fmt.Sprintf("memory: %d → %d MiB", a.Memory, b.Memory))
	}
	if ai, bi := instancesText(a.Instances), instancesText(b.Instances); ai != bi {
		d = append(d, fmt.Sprintf("instances: %s → %s", ai, bi))
	}
	if a.Concurrency != b.Concurrency {
		d = append(d, fmt.Sprintf("concurrency: %d → %d", a.Concurrency, b.Concurrency))
	}
	return d, major
}

// instancesText renders instances for a change list; nil is the default.
func instancesText(in *stack.Instances) string {
	if in == nil {
		return "default (1)"
	}
	s := fmt.Sprintf("min %d, max %d", in.Min, in.Max)
	if in.ScaleDownAfter > 0 {
		s += ", scale down after " + in.ScaleDownAfter.String()
	}
	return s
}

func eventKey(e stack.Event) string { return encodeJSON(e) }

func kindName(k string) string {
	if k == "" {
		return "http"
	}
	return k
}

func shortDigest(d string) string {
	h := strings.TrimPrefix(d, "sha256:")
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}
