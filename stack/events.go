package stack

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

var (
	eventKeys = []string{"batch", "concurrency", "overlap", "path", "queue", "schedule", "time_zone"}
	asyncKeys = []string{"backoff", "on_failure", "retries"}
	queueKeys = []string{"max_receives", "visibility_timeout"}
)

const eventExample = `[{schedule: "rate(5 minutes)"}, {queue: orders, batch: 10}]`

// eventRef is a reference to something declared elsewhere in the file
// (a queue, a function), checked once the whole file is read.
type eventRef struct {
	name  string
	node  *yaml.Node
	field string
	owner string // "service/function" that refers
}

// events reads a function's events list.
func (p *parser) events(fn *Function, svc *Service, n *yaml.Node, field string) {
	n = p.resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		p.add(n, field, "must be a list of events, e.g. %s; got %s", eventExample, kindName(n))
		return
	}
	for i, item := range n.Content {
		f := fmt.Sprintf("%s[%d]", field, i)
		if ev, ok := p.event(fn, svc, item, f); ok {
			fn.Events = append(fn.Events, ev)
		}
	}
}

func (p *parser) event(fn *Function, svc *Service, item *yaml.Node, field string) (Event, bool) {
	var ev Event
	pairs, ok := p.mapping(item, field, `{schedule: "rate(5 minutes)"}`)
	if !ok {
		return ev, false
	}
	item = p.resolve(item)
	var schedNode, tzNode, queueNode, pathNode *yaml.Node
	for _, kv := range p.checkKeys(pairs, field, "event", eventKeys) {
		f := field + "." + kv.key.Value
		switch kv.key.Value {
		case "schedule":
			schedNode = kv.val
			ev.Schedule, _ = p.scalar(kv.val, f, `schedule: "rate(5 minutes)"`)
		case "time_zone":
			tzNode = kv.val
			ev.TimeZone, _ = p.scalar(kv.val, f, "time_zone: Europe/Berlin")
		case "overlap":
			ev.Overlap = p.boolean(kv.val, f, "overlap")
		case "queue":
			queueNode = kv.val
			ev.Queue, _ = p.scalar(kv.val, f, "queue: orders")
		case "batch":
			ev.Batch = p.count(kv.val, f, "batch", 1, MaxBatch)
		case "concurrency":
			ev.Concurrency = p.count(kv.val, f, "concurrency", 1, MaxConcurrency)
		case "path":
			pathNode = kv.val
			ev.Path, _ = p.scalar(kv.val, f, "path: /tick")
		}
	}
	switch {
	case schedNode == nil && queueNode == nil:
		p.add(item, field, "an event needs schedule or queue, e.g. %s", eventExample)
		return ev, false
	case schedNode != nil && queueNode != nil:
		p.add(item, field, "an event is a schedule or a queue subscription, not both; write two events")
		return ev, false
	case schedNode != nil:
		for _, k := range []string{"batch", "concurrency"} {
			if hasKey(pairs, k) {
				p.add(item, field+"."+k, "%s is for queue events; remove it from the schedule", k)
			}
		}
		if _, err := ParseSchedule(ev.Schedule, ev.TimeZone); err != nil {
			at := schedNode
			if tzNode != nil && strings.HasPrefix(err.Error(), "unknown time zone") {
				at = tzNode
			}
			p.add(p.resolve(at), field+".schedule", "%s", err.Error())
		}
	default:
		for _, k := range []string{"time_zone", "overlap"} {
			if hasKey(pairs, k) {
				p.add(item, field+"."+k, "%s is for schedules; remove it from the queue event", k)
			}
		}
		if ev.Batch == 0 {
			ev.Batch = MaxBatch
		}
		if ev.Concurrency == 0 {
			ev.Concurrency = 1
		}
		p.queueRefs = append(p.queueRefs, eventRef{name: ev.Queue, node: p.resolve(queueNode), field: field + ".queue", owner: svc.Name + "/" + fn.Name})
	}
	switch {
	case fn.Kind == KindLambda && pathNode != nil:
		p.add(p.resolve(pathNode), field+".path", "path is for http functions; a lambda function receives the event itself, so remove path")
	case fn.Kind != KindLambda && pathNode == nil && svc.Runtime != "static":
		p.add(item, field+".path", "an http function receives the event as a POST; name the path, e.g. path: /events/tick (or write type: lambda for an AWS Lambda handler)")
	case pathNode != nil:
		if _, msg := normalizePath(ev.Path); msg != "" || strings.Contains(ev.Path, "{") {
			if msg == "" {
				msg = "the path may not hold parameters"
			}
			p.add(p.resolve(pathNode), field+".path", "path %q: %s", ev.Path, msg)
		}
	}
	if svc.Runtime == "static" {
		p.add(item, field, "a static function only serves files and cannot take events; move the event to a function of runtime go, node, python or process")
	}
	return ev, true
}

func hasKey(pairs []pair, k string) bool {
	return slices.ContainsFunc(pairs, func(kv pair) bool { return kv.key.Value == k })
}

// async reads a function's async settings.
func (p *parser) async(svc *Service, fnName string, n *yaml.Node, field string) *Async {
	a := AsyncOf(nil)
	pairs, ok := p.mapping(n, field, "{retries: 2, backoff: 1s, on_failure: notify}")
	if !ok {
		return nil
	}
	for _, kv := range p.checkKeys(pairs, field, "async", asyncKeys) {
		f := field + "." + kv.key.Value
		switch kv.key.Value {
		case "retries":
			a.Retries = p.count(kv.val, f, "retries", 0, MaxRetries)
		case "backoff":
			v, ok := p.scalar(kv.val, f, "backoff: 1s")
			if !ok {
				continue
			}
			d, err := time.ParseDuration(v)
			if err != nil || d < 100*time.Millisecond || d > time.Hour {
				p.add(p.resolve(kv.val), f, "backoff %q must be a duration between 100ms and 1h, e.g. backoff: 1s (it doubles with each retry)", v)
				continue
			}
			a.Backoff = d
		case "on_failure":
			v, ok := p.scalar(kv.val, f, "on_failure: notify")
			if !ok || v == "" {
				p.add(p.resolve(kv.val), f, "on_failure names the function that gets a failed invocation, e.g. on_failure: notify or on_failure: other-service/notify")
				continue
			}
			if !strings.Contains(v, "/") {
				v = svc.Name + "/" + v
			}
			a.OnFailure = v
			p.fnRefs = append(p.fnRefs, eventRef{name: v, node: p.resolve(kv.val), field: f, owner: svc.Name + "/" + fnName})
		}
	}
	return &a
}

// count reads a whole number between lo and hi.
func (p *parser) count(n *yaml.Node, field, what string, lo, hi int) int {
	v, ok := p.scalar(n, field, fmt.Sprintf("%s: %d", what, lo))
	if !ok {
		return 0
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < lo || i > hi {
		p.add(p.resolve(n), field, "%s %q must be a whole number from %d to %d", what, v, lo, hi)
		return 0
	}
	return i
}

// boolean reads true or false.
func (p *parser) boolean(n *yaml.Node, field, what string) bool {
	vn := p.resolve(n)
	if vn == nil {
		return false
	}
	var b bool
	if vn.Kind != yaml.ScalarNode || vn.Decode(&b) != nil {
		p.add(vn, field, "%s must be true or false; got %s", what, kindName(vn))
		return false
	}
	return b
}

// queues reads the top-level queues mapping.
func (p *parser) queues(n *yaml.Node) []Queue {
	pairs, ok := p.mapping(n, "queues", "{orders: {visibility_timeout: 30s, max_receives: 5}}")
	if !ok {
		return nil
	}
	var out []Queue
	for _, kv := range pairs {
		field := "queues." + kv.key.Value
		p.checkName(kv.key, field, "queue")
		q := Queue{Name: kv.key.Value, VisibilityTimeout: DefaultVisibilityTimeout, MaxReceives: DefaultMaxReceives}
		qpairs, ok := p.mapping(kv.val, field, "{visibility_timeout: 30s, max_receives: 5}")
		if !ok {
			continue
		}
		for _, qkv := range p.checkKeys(qpairs, field, "queue", queueKeys) {
			f := field + "." + qkv.key.Value
			switch qkv.key.Value {
			case "visibility_timeout":
				v, ok := p.scalar(qkv.val, f, "visibility_timeout: 30s")
				if !ok {
					continue
				}
				d, err := time.ParseDuration(v)
				if err != nil || d < time.Second || d > 12*time.Hour {
					p.add(p.resolve(qkv.val), f, "visibility_timeout %q must be a duration between 1s and 12h, e.g. 30s", v)
					continue
				}
				q.VisibilityTimeout = d
			case "max_receives":
				q.MaxReceives = p.count(qkv.val, f, "max_receives", 1, 1000)
			}
		}
		p.queueDecl = append(p.queueDecl, q.Name)
		out = append(out, q)
	}
	slices.SortFunc(out, func(a, b Queue) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// checkEventRefs reports queues and functions named by events that the
// file does not declare.
func (p *parser) checkEventRefs(st *Stack) {
	for _, r := range p.queueRefs {
		if r.name == "" {
			p.add(r.node, r.field, "queue is empty; name a queue declared under queues:, e.g. queue: orders")
			continue
		}
		if !slices.Contains(p.queueDecl, r.name) {
			msg := fmt.Sprintf("function %s subscribes to queue %q, which is not declared", r.owner, r.name)
			if s := closest(r.name, p.queueDecl); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			p.add(r.node, r.field, "%s; declare it at the top level, e.g. queues: {%s: {max_receives: 5}}", msg, r.name)
		}
	}
	fns := map[string]bool{}
	for _, s := range st.Services {
		for _, f := range s.Functions {
			fns[s.Name+"/"+f.Name] = true
		}
	}
	for _, r := range p.fnRefs {
		switch {
		case r.name == r.owner:
			p.add(r.node, r.field, "on_failure names the function itself; name another function, which gets the failed invocation")
		case !fns[r.name]:
			p.add(r.node, r.field, "on_failure names %s, which is not a function of this stack; write function or service/function", r.name)
		}
	}
}
