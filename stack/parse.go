package stack

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Limits and defaults of the stack file.
const (
	// MaxTimeout is the longest per-request timeout a function may ask for.
	MaxTimeout = 15 * time.Minute
	// MaxIdleTimeout is the longest a stream or WebSocket may stay silent.
	MaxIdleTimeout = time.Hour
	// MaxBodyLimit is the largest request body limit a function may ask
	// for, in MiB.
	MaxBodyLimit = 1024
	// DefaultGoHandler is the binary a go function starts when it names none.
	DefaultGoHandler = "bootstrap"
	// maxFileSize keeps a hostile repository from making the parser read
	// (and echo back) something huge.
	maxFileSize = 1 << 20
	// maxAliases bounds alias expansion, so that a few lines of anchors
	// cannot make the parser walk an exponentially large tree.
	maxAliases = 1000
)

// ErrNoFile is wrapped by the error ParseFile returns when the repository
// has no stack file.
var ErrNoFile = errors.New("no " + FileName)

// Methods a route may name; ANY matches every method.
var methods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"}

var (
	nameRe        = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	envNameRe     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	paramNameRe   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	yamlLineRe    = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	topKeys       = []string{"queues", "services", "stages"}
	serviceKeys   = []string{"build", "depends_on", "functions", "hooks", "output", "path", "runtime"}
	instancesKeys = []string{"max", "min", "scale_down_after"}
	functionKeys  = []string{"async", "body_limit", "concurrency", "env", "events", "handler", "idle_timeout", "instances", "memory", "routes", "timeout", "type"}
	stageKeys     = []string{"approval", "branch", "name", "schedules"}
	hookKeys      = []string{"after_build", "after_deploy", "after_remove", "before_build", "before_deploy", "before_remove"}
)

// exampleFile is the smallest useful stack file, shown when there is none.
const exampleFile = `services:
  api:
    path: .            # the folder of the service in the repository
    runtime: go        # go | node | python | static | process
    functions:
      hello:
        routes: ["GET /hello"]
`

// inlineExample is exampleFile on one line, for problems (one per line).
const inlineExample = `services: {api: {path: ., runtime: go, functions: {hello: {routes: ["GET /hello"]}}}}`

const emptyMessage = "the file is empty; declare your services, e.g. " + inlineExample

// ParseFile reads and validates the stack file at the root of the checkout
// in dir. A missing file yields an error wrapping ErrNoFile that shows an
// example; an invalid one yields Problems.
func ParseFile(dir string) (*Stack, error) {
	name := filepath.Join(dir, FileName)
	fi, err := os.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		for _, alt := range []string{"seedbed.yaml", "Seedbed.yml", ".seedbed.yml"} {
			if _, err := os.Lstat(filepath.Join(dir, alt)); err == nil {
				return nil, fmt.Errorf("%w at the root of the repository, but there is %s: rename it to %s", ErrNoFile, alt, FileName)
			}
		}
		return nil, fmt.Errorf("%w at the root of the repository; add one that declares your services, for example:\n\n%s", ErrNoFile, exampleFile)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", FileName, err)
	}
	// Following a symlink could read (and echo back in problems) a file
	// of the server's that is not part of the repository.
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s must be a regular file in the repository, not a symlink or directory", FileName)
	}
	if fi.Size() > maxFileSize {
		return nil, fmt.Errorf("%s is %d bytes; a stack file may be at most %d", FileName, fi.Size(), maxFileSize)
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", FileName, err)
	}
	return Parse(data)
}

// Parse reads and validates a stack file. When it is invalid the error is
// Problems, listing every problem found with its line.
func Parse(data []byte) (*Stack, error) {
	if len(data) > maxFileSize {
		return nil, Problems{{Message: fmt.Sprintf("the file is %d bytes; a stack file may be at most %d", len(data), maxFileSize)}}
	}
	root, prob := decode(data)
	if prob != nil {
		return nil, Problems{*prob}
	}
	p := &parser{routes: map[string][]routeSite{}}
	st := p.stack(root)
	if len(p.probs) > 0 {
		slices.SortStableFunc(p.probs, func(a, b Problem) int {
			if a.Line != b.Line {
				return a.Line - b.Line
			}
			return a.Column - b.Column
		})
		return nil, p.probs
	}
	return st, nil
}

// decode turns data into the root node of its single YAML document.
func decode(data []byte) (root *yaml.Node, prob *Problem) {
	defer func() {
		// yaml.v3 has panicked on hostile input before; a stack file
		// comes from a user's repository, so turn that into a problem.
		if r := recover(); r != nil {
			root, prob = nil, &Problem{Message: fmt.Sprintf("cannot read the file as YAML (%v)", r)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Problem{Message: emptyMessage}
		}
		return nil, syntaxProblem(data, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxProblem(data, err)
	default:
		return nil, &Problem{Line: extra.Line, Column: extra.Column, Message: "a second YAML document (after \"---\"); a stack file holds exactly one"}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, &Problem{Message: emptyMessage}
	}
	return doc.Content[0], nil
}

func syntaxProblem(data []byte, err error) *Problem {
	msg := err.Error()
	m := yamlLineRe.FindStringSubmatch(msg)
	if m == nil {
		return &Problem{Message: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
	}
	line, _ := strconv.Atoi(m[1])
	return &Problem{Line: errorLine(data, line, m[2]), Message: "invalid YAML: " + m[2] + "; check the indentation and quoting on this line and the one before"}
}

// errorLine finds the line a YAML syntax error is on. yaml.v3 reports the
// line where the enclosing block starts ("while parsing a block mapping"),
// which for a mis-indented key is often line 1. The first prefix of the
// file that fails with the same message ends on the offending line.
func errorLine(data []byte, reported int, msg string) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) > 2000 {
		return reported
	}
	for k := max(reported, 1); k < len(lines); k++ {
		prefix := bytes.Join(lines[:k], nil)
		var n yaml.Node
		err := yaml.Unmarshal(prefix, &n)
		if err == nil {
			continue
		}
		if m := yamlLineRe.FindStringSubmatch(err.Error()); m != nil && m[2] == msg {
			return k
		}
	}
	return reported
}

// parser walks the YAML tree, building the Stack and collecting every
// problem instead of stopping at the first.
type parser struct {
	probs   Problems
	aliases int
	// routes holds every route seen so far by its normalised path, to
	// find duplicates across all functions of the stack.
	routes map[string][]routeSite
	// deps holds the depends_on entries of every service, by service
	// name, with their nodes for the lines of problems.
	deps map[string][]*yaml.Node
	// queueDecl lists the queues declared; queueRefs and fnRefs are the
	// queues and functions events name, checked at the end.
	queueDecl         []string
	queueRefs, fnRefs []eventRef
}

type routeSite struct {
	route Route
	owner string // "service/function"
	line  int
}

type pair struct {
	key *yaml.Node
	val *yaml.Node
}

func (p *parser) add(n *yaml.Node, field, format string, args ...any) {
	pr := Problem{Field: field, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		pr.Line, pr.Column = n.Line, n.Column
	}
	p.probs = append(p.probs, pr)
}

// resolve follows an alias to the node it names.
func (p *parser) resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		p.aliases++
		if p.aliases == maxAliases+1 {
			p.add(n, "", "more than %d alias expansions; use fewer anchors (*name)", maxAliases)
		}
		if p.aliases > maxAliases {
			return nil
		}
		n = n.Alias
	}
	return n
}

// isEmptyList reports a null node or a list without items.
func isEmptyList(n *yaml.Node) bool {
	return isNull(n) || n.Kind == yaml.SequenceNode && len(n.Content) == 0
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// kindName says what a node is, for messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// mapping returns the key/value pairs of n, expanding merge keys ("<<")
// and reporting duplicate keys. A null node is an empty mapping; anything
// else that is not a mapping is reported (with example as the hint) and
// yields ok == false.
func (p *parser) mapping(n *yaml.Node, field, example string) (pairs []pair, ok bool) {
	n = p.resolve(n)
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.MappingNode {
		p.add(n, field, "must be a mapping of keys to values, e.g. %s; got %s", example, kindName(n))
		return nil, false
	}
	seen := map[string]*yaml.Node{}
	var merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			merged = append(merged, p.mergePairs(v, field)...)
			continue
		}
		kk := p.resolve(k)
		if kk == nil || kk.Kind != yaml.ScalarNode {
			p.add(k, field, "keys must be plain names, not lists or mappings")
			continue
		}
		if first, dup := seen[kk.Value]; dup {
			p.add(k, join(field, kk.Value), "key %q appears twice (first on line %d); keep one", kk.Value, first.Line)
			continue
		}
		seen[kk.Value] = k
		pairs = append(pairs, pair{key: kk, val: v})
	}
	// Keys written out win over merged ones, as in YAML's merge semantics.
	for _, m := range merged {
		if _, dup := seen[m.key.Value]; !dup {
			seen[m.key.Value] = m.key
			pairs = append(pairs, m)
		}
	}
	return pairs, true
}

func (p *parser) mergePairs(v *yaml.Node, field string) []pair {
	v = p.resolve(v)
	if v == nil {
		return nil
	}
	var sources []*yaml.Node
	switch v.Kind {
	case yaml.MappingNode:
		sources = []*yaml.Node{v}
	case yaml.SequenceNode:
		sources = v.Content
	default:
		p.add(v, field, "a merge key (<<) takes a mapping or a list of mappings, e.g. <<: *defaults")
		return nil
	}
	var out []pair
	for _, s := range sources {
		s = p.resolve(s)
		if s == nil || s.Kind != yaml.MappingNode {
			if s != nil {
				p.add(s, field, "a merge key (<<) takes a mapping or a list of mappings, e.g. <<: *defaults")
			}
			continue
		}
		// Nested merges and duplicate checks are handled the same way.
		ps, _ := p.mapping(s, field, "")
		out = append(out, ps...)
	}
	return out
}

// checkKeys reports keys of pairs not in valid, suggesting the closest one.
func (p *parser) checkKeys(pairs []pair, field, what string, valid []string) []pair {
	var known []pair
	for _, kv := range pairs {
		if slices.Contains(valid, kv.key.Value) {
			known = append(known, kv)
			continue
		}
		msg := fmt.Sprintf("unknown %s key %q", what, kv.key.Value)
		if s := closest(kv.key.Value, valid); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		hint := ""
		if field == "" {
			hint = " (or x-anything for anchors)"
		}
		p.add(kv.key, join(field, kv.key.Value), "%s; valid keys: %s%s", msg, strings.Join(valid, ", "), hint)
	}
	return known
}

// scalar returns n's text, reporting anything that is not a scalar.
func (p *parser) scalar(n *yaml.Node, field, example string) (string, bool) {
	n = p.resolve(n)
	if n == nil {
		return "", false
	}
	if n.Kind != yaml.ScalarNode {
		p.add(n, field, "must be a single value, e.g. %s; got %s", example, kindName(n))
		return "", false
	}
	if n.Tag == "!!null" {
		return "", true
	}
	return n.Value, true
}

// stringList reads a list of non-empty strings.
func (p *parser) stringList(n *yaml.Node, field, example string) ([]string, []*yaml.Node) {
	n = p.resolve(n)
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		p.add(n, field, "must be a list, e.g. %s; got %s", example, kindName(n))
		return nil, nil
	}
	var out []string
	var nodes []*yaml.Node
	for i, item := range n.Content {
		f := fmt.Sprintf("%s[%d]", field, i)
		item = p.resolve(item)
		if item == nil {
			continue
		}
		if item.Kind != yaml.ScalarNode || item.Tag == "!!null" {
			p.add(item, f, "must be a string, e.g. %s; got %s", example, kindName(item))
			continue
		}
		if strings.TrimSpace(item.Value) == "" {
			p.add(item, f, "is empty; remove it or write the text")
			continue
		}
		out = append(out, item.Value)
		nodes = append(nodes, item)
	}
	return out, nodes
}

func (p *parser) stack(root *yaml.Node) *Stack {
	st := &Stack{}
	pairs, ok := p.mapping(root, "", "services: {...}")
	if !ok {
		return st
	}
	var services *pair
	// Top-level keys starting with "x-" hold anchors for the rest of the
	// file (as in docker compose) and are otherwise ignored.
	pairs = slices.DeleteFunc(pairs, func(kv pair) bool { return strings.HasPrefix(kv.key.Value, "x-") })
	for _, kv := range p.checkKeys(pairs, "", "top-level", topKeys) {
		switch kv.key.Value {
		case "services":
			services = &kv
		case "stages":
			st.Stages = p.stages(kv.val)
		case "queues":
			st.Queues = p.queues(kv.val)
		}
	}
	if services == nil {
		p.add(nil, "services", "no services declared; add at least one, e.g. %s", inlineExample)
		return st
	}
	svcPairs, ok := p.mapping(services.val, "services", "api: {path: ., runtime: go, ...}")
	if ok && len(svcPairs) == 0 {
		p.add(services.key, "services", "no services declared; add at least one under services:, e.g. api: {path: ., runtime: go, functions: {hello: {routes: [\"GET /hello\"]}}}")
	}
	for _, kv := range svcPairs {
		if svc, ok := p.service(kv.key, kv.val); ok {
			st.Services = append(st.Services, svc)
		}
	}
	slices.SortFunc(st.Services, func(a, b Service) int { return strings.Compare(a.Name, b.Name) })
	p.checkDependencies(st.Services)
	p.checkEventRefs(st)
	return st
}

func (p *parser) checkName(n *yaml.Node, field, what string) {
	if !nameRe.MatchString(n.Value) || len(n.Value) > 63 {
		p.add(n, field, "%s name %q is not valid; use up to 63 lower-case letters, digits and dashes, starting with a letter or digit (e.g. \"my-api\")", what, n.Value)
	}
}

func (p *parser) service(key, val *yaml.Node) (Service, bool) {
	svc := Service{Name: key.Value}
	field := "services." + key.Value
	p.checkName(key, field, "service")
	pairs, ok := p.mapping(val, field, "{path: services/api, runtime: go, functions: {...}}")
	if !ok {
		return svc, false
	}
	if len(pairs) == 0 {
		p.add(key, field, "service %s is empty; give it a path, a runtime and functions", key.Value)
		return svc, false
	}
	var fnKey, fnVal, outKey *yaml.Node
	var hasPath, hasRuntime bool
	for _, kv := range p.checkKeys(pairs, field, "service", serviceKeys) {
		f := field + "." + kv.key.Value
		switch kv.key.Value {
		case "path":
			hasPath = true
			svc.Path = p.relPath(kv.val, f, "folder", "the repository root", "services/api (or . for the root)")
		case "runtime":
			hasRuntime = true
			if v, ok := p.scalar(kv.val, f, "runtime: go"); ok {
				svc.Runtime = v
				p.checkRuntime(kv.val, f, v)
			}
		case "build":
			svc.Build, _ = p.scalar(kv.val, f, "build: go build -o bootstrap .")
		case "output":
			outKey = kv.key
			if out := p.relPath(kv.val, f, "folder", "the service folder", "output: dist"); out != "." {
				svc.Output = out
			}
		case "hooks":
			svc.Hooks = p.hooks(kv.val, f)
		case "depends_on":
			p.dependsOn(&svc, kv.val, f)
		case "functions":
			fnKey, fnVal = kv.key, kv.val
		}
	}
	if !hasPath {
		p.add(key, field+".path", "path is missing; give the service's folder relative to the repository root, e.g. path: services/api (or path: . for the root)")
	}
	if !hasRuntime {
		p.add(key, field+".runtime", "runtime is missing; valid runtimes: %s", strings.Join(Runtimes, ", "))
	}
	if outKey != nil && hasRuntime && svc.Runtime != "static" && slices.Contains(Runtimes, svc.Runtime) {
		p.add(outKey, field+".output", "output is only for runtime static (the folder its build leaves the site in); remove it, or use runtime: static")
		svc.Output = ""
	}
	if fnKey == nil {
		p.add(key, field+".functions", "no functions declared; add at least one, e.g. functions: {hello: {routes: [\"GET /hello\"]}}")
		return svc, true
	}
	fnPairs, ok := p.mapping(fnVal, field+".functions", "{hello: {routes: [\"GET /hello\"]}}")
	if ok && len(fnPairs) == 0 {
		p.add(fnKey, field+".functions", "no functions declared; add at least one, e.g. hello: {routes: [\"GET /hello\"]}")
	}
	for _, kv := range fnPairs {
		if fn, ok := p.function(&svc, kv.key, kv.val, field+".functions."+kv.key.Value); ok {
			svc.Functions = append(svc.Functions, fn)
		}
	}
	slices.SortFunc(svc.Functions, func(a, b Function) int { return strings.Compare(a.Name, b.Name) })
	return svc, true
}

func (p *parser) checkRuntime(n *yaml.Node, field, v string) {
	if slices.Contains(Runtimes, v) {
		return
	}
	msg := fmt.Sprintf("unknown runtime %q", v)
	if v == "" {
		msg = "runtime is empty"
	} else if s := closest(v, Runtimes); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	p.add(n, field, "%s; valid runtimes: %s", msg, strings.Join(Runtimes, ", "))
}

// relPath reads a slash-separated path that must stay inside the
// repository (or the service folder), and returns it cleaned.
func (p *parser) relPath(n *yaml.Node, field, what, base, example string) string {
	v, ok := p.scalar(n, field, example)
	if !ok {
		return ""
	}
	n = p.resolve(n)
	switch {
	case strings.TrimSpace(v) == "":
		p.add(n, field, "is empty; give a %s relative to %s, e.g. %s", what, base, example)
	case strings.ContainsRune(v, 0) || strings.Contains(v, `\`):
		p.add(n, field, "%q is not a valid %s; use forward slashes, e.g. %s", v, what, example)
	case path.IsAbs(v) || filepath.IsAbs(v):
		p.add(n, field, "%q is absolute; give a %s relative to %s, e.g. %s", v, what, base, example)
	default:
		c := path.Clean(v)
		if c == ".." || strings.HasPrefix(c, "../") {
			p.add(n, field, "%q leads outside %s; give a %s inside it, e.g. %s", v, base, what, example)
			return ""
		}
		return c
	}
	return ""
}

func (p *parser) hooks(n *yaml.Node, field string) Hooks {
	var h Hooks
	pairs, ok := p.mapping(n, field, "{before_build: [\"go test ./...\"]}")
	if !ok {
		return h
	}
	for _, kv := range p.checkKeys(pairs, field, "hook", hookKeys) {
		f := field + "." + kv.key.Value
		list, _ := p.stringList(kv.val, f, `["go test ./..."]`)
		switch kv.key.Value {
		case "before_build":
			h.BeforeBuild = list
		case "after_build":
			h.AfterBuild = list
		case "before_deploy":
			h.BeforeDeploy = list
		case "after_deploy":
			h.AfterDeploy = list
		case "before_remove":
			h.BeforeRemove = list
		case "after_remove":
			h.AfterRemove = list
		}
	}
	return h
}

func (p *parser) function(svc *Service, key, val *yaml.Node, field string) (Function, bool) {
	fn := Function{Name: key.Value, Kind: KindHTTP}
	p.checkName(key, field, "function")
	pairs, ok := p.mapping(val, field, "{handler: bootstrap, routes: [\"GET /hello\"]}")
	if !ok {
		return fn, false
	}
	var handler, routes, events, instances, concurrency *yaml.Node
	owner := svc.Name + "/" + fn.Name
	for _, kv := range p.checkKeys(pairs, field, "function", functionKeys) {
		f := field + "." + kv.key.Value
		switch kv.key.Value {
		case "type":
			fn.Kind = p.kind(svc.Runtime, kv.val, f)
		case "handler":
			handler = kv.val
		case "routes":
			routes = kv.val
			list, nodes := p.stringList(kv.val, f, `["GET /hello", "ANY /hello/{proxy+}"]`)
			for i, s := range list {
				if r, ok := p.route(nodes[i], fmt.Sprintf("%s[%d]", f, i), s, owner); ok {
					fn.Routes = append(fn.Routes, r)
				}
			}
		case "env":
			fn.Env = p.env(kv.val, f)
		case "timeout":
			fn.Timeout = p.timeout(kv.val, f)
		case "idle_timeout":
			fn.IdleTimeout = p.idleTimeout(kv.val, f)
		case "body_limit":
			fn.BodyLimit = p.bodyLimit(kv.val, f)
		case "memory":
			fn.Memory = p.memory(kv.val, f)
		case "instances":
			instances = kv.val
			fn.Instances = p.instances(kv.val, f)
		case "concurrency":
			concurrency = kv.val
			fn.Concurrency = p.count(kv.val, f, "concurrency", 1, MaxFunctionConcurrency)
		case "events":
			events = kv.val
		case "async":
			fn.Async = p.async(svc, fn.Name, kv.val, f)
		}
	}
	// The handler is read once the type is known, wherever it was written;
	// so are the events, which differ for http and lambda functions.
	fn.Handler = p.handler(svc.Runtime, fn.Kind, key, handler, field+".handler")
	p.scaling(svc.Runtime, &fn, instances, concurrency, field)
	if events != nil {
		p.events(&fn, svc, events, field+".events")
	}
	switch rn := p.resolve(routes); {
	case routes == nil && events != nil && !isEmptyList(p.resolve(events)):
		// Started by its events only (problems with them are reported).
	case routes == nil:
		p.add(key, field+".routes", "routes are missing; a function is reached only through its routes or events, e.g. routes: [\"GET /hello\"] or events: [{schedule: \"rate(5 minutes)\"}]")
	case rn != nil && (isNull(rn) || rn.Kind == yaml.SequenceNode && len(rn.Content) == 0):
		p.add(rn, field+".routes", "routes is empty; give at least one, e.g. routes: [\"GET /hello\"]")
	}
	return fn, true
}

// kind reads a function's type.
func (p *parser) kind(runtime string, n *yaml.Node, field string) string {
	kinds := []string{KindHTTP, KindLambda}
	v, ok := p.scalar(n, field, "type: lambda")
	n = p.resolve(n)
	switch {
	case !ok:
		return KindHTTP
	case v == "":
		p.add(n, field, "type is empty; valid types: http (the function serves HTTP on $PORT, the default), lambda (an unchanged AWS Lambda handler)")
		return KindHTTP
	case !slices.Contains(kinds, v):
		msg := fmt.Sprintf("unknown type %q", v)
		if s := closest(v, kinds); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		p.add(n, field, "%s; valid types: http (the function serves HTTP on $PORT, the default), lambda (an unchanged AWS Lambda handler)", msg)
		return KindHTTP
	case v == KindLambda && (runtime == "static" || runtime == "process"):
		p.add(n, field, "type lambda is for runtimes go, node and python; a %s function serves HTTP, so remove type or write type: http", runtime)
		return KindHTTP
	}
	return v
}

// handler reads (or, when n is nil, defaults) a function's handler, which
// means something else for each runtime and kind (see Function).
func (p *parser) handler(runtime, kind string, key, n *yaml.Node, field string) string {
	rn := p.resolve(n)
	if n != nil && rn == nil {
		return "" // an alias bomb, already reported
	}
	missing := n == nil || isNull(rn)
	switch runtime {
	case "go":
		if missing {
			return DefaultGoHandler
		}
		// The binary the build produced, inside the service folder.
		h := p.relPath(n, field, "file", "the service folder", DefaultGoHandler)
		if h == "." {
			p.add(rn, field, "handler names the service folder itself; give the file the build produces, e.g. %s", DefaultGoHandler)
			return ""
		}
		return h
	case "static":
		if !missing {
			p.add(rn, field, "runtime static has no handler: the gateway serves the service's files (or its output folder) under the routes; remove handler")
		}
		return ""
	case "node", "python":
		return p.sourceHandler(runtime, kind, key, n, missing, field)
	case "process":
		if missing {
			p.add(key, field, "handler is missing; for runtime process it is the command that starts the function, e.g. handler: ./server or handler: node server.js")
			return ""
		}
		v, ok := p.scalar(n, field, "handler: ./server")
		if ok && strings.TrimSpace(v) == "" {
			p.add(rn, field, "handler is empty; for runtime process it is the command that starts the function, e.g. handler: ./server")
		}
		return v
	default:
		// An unknown runtime is reported already; read what is there.
		if missing {
			return ""
		}
		v, _ := p.scalar(n, field, "handler: ./server")
		return v
	}
}

// sourceHandler reads the handler of a node or python function: a lambda
// handler (file.export) or the entry file of an HTTP server.
func (p *parser) sourceHandler(runtime, kind string, key, n *yaml.Node, missing bool, field string) string {
	lambdaExample, entryExample, exts := nodeLambdaExample, "server.js (or src/server.ts); it is bundled and run with node", NodeSourceExts()
	if runtime == "python" {
		lambdaExample, entryExample, exts = pythonLambdaExample, "app.py; it is run with python3 from the service folder", []string{".py"}
	}
	if kind == KindLambda {
		if missing {
			p.add(key, field, "handler is missing; for a lambda function of runtime %s it is file.export, e.g. handler: %s", runtime, lambdaExample)
			return ""
		}
		v, ok := p.scalar(n, field, "handler: "+lambdaExample)
		if !ok {
			return ""
		}
		if _, _, err := SplitLambdaHandler(runtime, v); err != nil {
			p.add(p.resolve(n), field, "%s", err.Error())
			return ""
		}
		return v
	}
	if missing {
		p.add(key, field, "handler is missing; for an http function of runtime %s it is the entry file that serves HTTP on $PORT, e.g. handler: %s (or write type: lambda for an AWS Lambda handler)", runtime, entryExample)
		return ""
	}
	v, ok := p.scalar(n, field, "handler: "+entryExample)
	if !ok {
		return ""
	}
	rn := p.resolve(n)
	if !slices.Contains(exts, path.Ext(v)) || strings.ContainsAny(v, " \t") {
		msg := fmt.Sprintf("handler %q is not a %s file; for an http function of runtime %s it is the entry file that serves HTTP on $PORT, e.g. handler: %s", v, runtime, runtime, entryExample)
		if _, _, err := SplitLambdaHandler(runtime, v); err == nil {
			msg = fmt.Sprintf("handler %q looks like an AWS Lambda handler; add type: lambda, or give the entry file that serves HTTP on $PORT, e.g. handler: %s", v, entryExample)
		}
		p.add(rn, field, "%s", msg)
		return ""
	}
	h := p.relPath(n, field, "file", "the service folder", entryExample)
	if h == "." {
		return ""
	}
	return h
}

// route parses "METHOD /path" and reports a route some other function
// (or this one) already serves.
func (p *parser) route(n *yaml.Node, field, s, owner string) (Route, bool) {
	parts := strings.Fields(s)
	if len(parts) != 2 {
		p.add(n, field, "route %q must be \"METHOD /path\", e.g. \"GET /hello\" or \"ANY /hello/{proxy+}\"", s)
		return Route{}, false
	}
	r := Route{Method: strings.ToUpper(parts[0]), Path: parts[1]}
	ok := true
	if !slices.Contains(methods, r.Method) {
		p.add(n, field, "unknown method %q in route %q; valid methods: %s", parts[0], s, strings.Join(methods, ", "))
		ok = false
	}
	norm, msg := normalizePath(r.Path)
	if msg != "" {
		p.add(n, field, "route %q: %s", s, msg)
		ok = false
	}
	if !ok {
		return Route{}, false
	}
	for _, other := range p.routes[norm] {
		if other.route.Method == r.Method || other.route.Method == "ANY" || r.Method == "ANY" {
			p.add(n, field, "route %q of function %s overlaps %q of function %s (line %d); each method and path may be served by one function only",
				r.String(), owner, other.route.String(), other.owner, other.line)
			return r, true
		}
	}
	p.routes[norm] = append(p.routes[norm], routeSite{route: r, owner: owner, line: n.Line})
	return r, true
}

// normalizePath checks a route path and returns it with parameter names
// erased, so that "/users/{id}" and "/users/{uid}" compare equal. A
// non-empty message says what is wrong.
func normalizePath(p string) (string, string) {
	if !strings.HasPrefix(p, "/") {
		return "", "the path must start with \"/\", e.g. \"/hello\""
	}
	if strings.ContainsAny(p, "?#") {
		return "", "the path may not contain a query (?) or fragment (#)"
	}
	if p == "/" {
		return p, ""
	}
	segs := strings.Split(p[1:], "/")
	params := map[string]bool{}
	for i, seg := range segs {
		last := i == len(segs)-1
		switch {
		case seg == "" && last:
			// A trailing slash is a distinct path.
		case seg == "":
			return "", "the path has an empty segment (\"//\")"
		case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}"):
			name := seg[1 : len(seg)-1]
			greedy := strings.HasSuffix(name, "+")
			name = strings.TrimSuffix(name, "+")
			if !paramNameRe.MatchString(name) {
				return "", fmt.Sprintf("parameter %q must be {name} or, last, {name+}, with a name of letters, digits and _", seg)
			}
			if greedy && !last {
				return "", fmt.Sprintf("greedy parameter %q must be the last segment of the path", seg)
			}
			if params[name] {
				return "", fmt.Sprintf("parameter {%s} appears twice", name)
			}
			params[name] = true
			segs[i] = "{}"
			if greedy {
				segs[i] = "{+}"
			}
		case strings.ContainsAny(seg, "{}"):
			return "", fmt.Sprintf("segment %q: a parameter must be a whole segment, e.g. /users/{id}", seg)
		}
	}
	return "/" + strings.Join(segs, "/"), ""
}

func (p *parser) env(n *yaml.Node, field string) map[string]string {
	pairs, ok := p.mapping(n, field, "{GREETING: hi}")
	if !ok || len(pairs) == 0 {
		return nil
	}
	env := map[string]string{}
	for _, kv := range pairs {
		k := kv.key.Value
		f := field + "." + k
		switch {
		case !envNameRe.MatchString(k):
			p.add(kv.key, f, "%q is not a valid variable name; use letters, digits and _, not starting with a digit (e.g. GREETING)", k)
			continue
		case k == "PORT":
			p.add(kv.key, f, "PORT is set by Seedbed (the port the function must listen on); use another name")
			continue
		}
		v := p.resolve(kv.val)
		if v == nil {
			continue
		}
		if v.Kind != yaml.ScalarNode {
			p.add(v, f, "must be a string, number or boolean, e.g. %s: hi; got %s", k, kindName(v))
			continue
		}
		if v.Tag == "!!null" {
			env[k] = ""
		} else {
			env[k] = v.Value
		}
	}
	return env
}

// instances reads `instances: {min, max, scale_down_after}`.
func (p *parser) instances(n *yaml.Node, field string) *Instances {
	const example = "{min: 0, max: 3}"
	pairs, ok := p.mapping(n, field, example)
	if !ok {
		return nil
	}
	in := &Instances{Min: -1}
	var minNode, maxNode *yaml.Node
	for _, kv := range p.checkKeys(pairs, field, "instances", instancesKeys) {
		f := field + "." + kv.key.Value
		switch kv.key.Value {
		case "min":
			minNode = kv.val
			if v, ok := p.scalar(kv.val, f, "min: 0"); ok {
				if m, err := strconv.Atoi(v); err != nil || m < 0 || m > MaxInstances {
					p.add(p.resolve(kv.val), f, "min %q must be a whole number from 0 (scale to zero) to %d", v, MaxInstances)
				} else {
					in.Min = m
				}
			}
		case "max":
			maxNode = kv.val
			in.Max = p.count(kv.val, f, "max", 1, MaxInstances)
		case "scale_down_after":
			in.ScaleDownAfter = p.duration(kv.val, f, "scale_down_after", "5m", "30s or 5m", MaxScaleDownAfter)
		}
	}
	switch {
	case maxNode == nil:
		p.add(p.resolve(n), field, "instances needs max, the most instances that may run at once, e.g. instances: %s", example)
		return nil
	case in.Max == 0:
		return nil // reported
	case minNode == nil:
		in.Min = min(1, in.Max) // scale to zero is asked for, not assumed
	case in.Min < 0:
		return nil // reported
	case in.Min > in.Max:
		p.add(p.resolve(minNode), field+".min", "min %d is more than max %d; min instances always run and max bounds them all", in.Min, in.Max)
		return nil
	}
	return in
}

// scaling checks instances and concurrency against the function's runtime
// and kind.
func (p *parser) scaling(runtime string, fn *Function, instances, concurrency *yaml.Node, field string) {
	if runtime == "static" {
		for _, kv := range []struct {
			key string
			n   *yaml.Node
		}{{"instances", instances}, {"concurrency", concurrency}} {
			if kv.n != nil {
				p.add(p.resolve(kv.n), field+"."+kv.key, "runtime static has no instances: the gateway serves the files itself; remove %s", kv.key)
			}
		}
		fn.Instances, fn.Concurrency = nil, 0
		return
	}
	if fn.Kind == KindLambda && fn.Concurrency > 1 {
		p.add(p.resolve(concurrency), field+".concurrency", "a Lambda-style handler takes one event at a time per instance, as on AWS Lambda; remove concurrency (or write 1) and raise instances.max instead")
		fn.Concurrency = 1
	}
}

func (p *parser) timeout(n *yaml.Node, field string) time.Duration {
	return p.duration(n, field, "timeout", "10s", "10s, 500ms or 1m30s", MaxTimeout)
}

func (p *parser) idleTimeout(n *yaml.Node, field string) time.Duration {
	return p.duration(n, field, "idle_timeout", "5m", "90s or 5m", MaxIdleTimeout)
}

// duration reads a positive duration of at most max; key and the examples
// make its messages.
func (p *parser) duration(n *yaml.Node, field, key, example, examples string, max time.Duration) time.Duration {
	v, ok := p.scalar(n, field, key+": "+example)
	if !ok {
		return 0
	}
	n = p.resolve(n)
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		p.add(n, field, "%s %q is not a duration; write it like %s (at most %s)", key, v, examples, fmtDuration(max))
	case d <= 0:
		p.add(n, field, "%s %q must be more than zero, e.g. %s", key, v, example)
	case d > max:
		p.add(n, field, "%s %q is too long; it may be at most %s", key, v, fmtDuration(max))
	default:
		return d
	}
	return 0
}

func (p *parser) bodyLimit(n *yaml.Node, field string) int {
	return p.mib(n, field, "body_limit", 50, MaxBodyLimit)
}

func (p *parser) memory(n *yaml.Node, field string) int {
	return p.mib(n, field, "memory", 256, 1<<20)
}

// mib reads a whole number of MiB between 1 and max.
func (p *parser) mib(n *yaml.Node, field, key string, example, max int) int {
	v, ok := p.scalar(n, field, fmt.Sprintf("%s: %d", key, example))
	if !ok {
		return 0
	}
	n = p.resolve(n)
	m, err := strconv.Atoi(v)
	if err != nil || m <= 0 || m > max {
		p.add(n, field, "%s %q must be a whole number of MiB between 1 and %d, e.g. %s: %d", key, v, max, key, example)
		return 0
	}
	return m
}

func fmtDuration(d time.Duration) string {
	return strings.TrimSuffix(strings.TrimSuffix(d.String(), "0s"), "0m")
}

func (p *parser) stages(n *yaml.Node) []StageSpec {
	const example = `[{name: dev, branch: main}, {name: prod, approval: true}]`
	n = p.resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.add(n, "stages", "must be a list of stages in pipeline order, e.g. %s; got %s", example, kindName(n))
		return nil
	}
	var out []StageSpec
	seen := map[string]int{}
	for i, item := range n.Content {
		field := fmt.Sprintf("stages[%d]", i)
		pairs, ok := p.mapping(item, field, "{name: dev, branch: main}")
		if !ok {
			continue
		}
		var st StageSpec
		var hasName bool
		for _, kv := range p.checkKeys(pairs, field, "stage", stageKeys) {
			f := field + "." + kv.key.Value
			switch kv.key.Value {
			case "name":
				v, ok := p.scalar(kv.val, f, "name: dev")
				hasName = true
				if !ok {
					continue
				}
				vn := p.resolve(kv.val)
				if !nameRe.MatchString(v) || len(v) > 63 {
					p.add(vn, f, "stage name %q is not valid; use up to 63 lower-case letters, digits and dashes, starting with a letter or digit (e.g. \"staging\")", v)
					continue
				}
				if first, dup := seen[v]; dup {
					p.add(vn, f, "stage %q is declared twice (first on line %d); stage names must be unique", v, first)
					continue
				}
				seen[v] = vn.Line
				st.Name = v
			case "branch":
				v, ok := p.scalar(kv.val, f, "branch: main")
				if ok && !validBranch(v) {
					p.add(p.resolve(kv.val), f, "%q is not a valid branch name; give a branch of the repository, e.g. main", v)
					continue
				}
				st.Branch = v
			case "approval":
				vn := p.resolve(kv.val)
				if vn == nil {
					continue
				}
				var b bool
				if vn.Kind != yaml.ScalarNode || vn.Decode(&b) != nil {
					p.add(vn, f, "approval must be true or false; got %s", kindName(vn))
					continue
				}
				st.Approval = b
			case "schedules":
				b := p.boolean(kv.val, f, "schedules")
				st.Schedules = &b
			}
		}
		if !hasName {
			p.add(p.resolve(item), field+".name", "stage has no name; give it one, e.g. name: staging")
			continue
		}
		if st.Name != "" {
			out = append(out, st)
		}
	}
	return out
}

// validBranch applies the rules of git check-ref-format that a typo or a
// pasted command would break.
func validBranch(b string) bool {
	if b == "" || strings.HasPrefix(b, "-") || strings.HasPrefix(b, "/") || strings.HasSuffix(b, "/") ||
		strings.HasSuffix(b, ".lock") || strings.HasSuffix(b, ".") || strings.Contains(b, "..") ||
		strings.Contains(b, "//") || strings.Contains(b, "@{") {
		return false
	}
	for _, r := range b {
		if r <= ' ' || r == 0x7f || strings.ContainsRune("~^:?*[\\", r) {
			return false
		}
	}
	return true
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

// closest returns the candidate within a small edit distance of s, if any.
func closest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		d := editDistance(strings.ToLower(s), c)
		if d < bestD && d < len(c) {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
