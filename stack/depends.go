package stack

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// dependsOn reads a service's depends_on list: names of other services.
// Whether they exist and form no cycle is checked once every service is
// read, by checkDependencies.
func (p *parser) dependsOn(svc *Service, n *yaml.Node, field string) {
	names, nodes := p.stringList(n, field, "[api]")
	if p.deps == nil {
		p.deps = map[string][]*yaml.Node{}
	}
	seen := map[string]bool{}
	for i, name := range names {
		if seen[name] {
			p.add(nodes[i], field, "service %q is listed twice; keep one", name)
			continue
		}
		seen[name] = true
		svc.DependsOn = append(svc.DependsOn, name)
		p.deps[svc.Name] = append(p.deps[svc.Name], nodes[i])
	}
}

// checkDependencies reports depends_on entries that name no service or
// the service itself, and every cycle, once, at the line of the entry
// that closes it.
func (p *parser) checkDependencies(services []Service) {
	names := make([]string, 0, len(services))
	for _, s := range services {
		names = append(names, s.Name)
	}
	valid := map[string][]string{} // service -> known dependencies
	for _, s := range services {
		for _, n := range p.deps[s.Name] {
			field := "services." + s.Name + ".depends_on"
			switch {
			case n.Value == s.Name:
				p.add(n, field, "service %s depends on itself; remove %q", s.Name, n.Value)
			case !slices.Contains(names, n.Value):
				msg := fmt.Sprintf("unknown service %q", n.Value)
				if c := closest(n.Value, names); c != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", c)
				}
				p.add(n, field, "%s; services: %s", msg, strings.Join(names, ", "))
			default:
				valid[s.Name] = append(valid[s.Name], n.Value)
			}
		}
	}
	// Depth-first search; a grey node reached again closes a cycle.
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stackPath []string
	var visit func(name string)
	visit = func(name string) {
		color[name] = grey
		stackPath = append(stackPath, name)
		for _, dep := range valid[name] {
			switch color[dep] {
			case grey:
				start := slices.Index(stackPath, dep)
				cycle := append(slices.Clone(stackPath[start:]), dep)
				n := p.nodeOf(name, dep)
				p.add(n, "services."+name+".depends_on", "depends_on forms a cycle: %s; remove one of these dependencies", strings.Join(cycle, " → "))
			case white:
				visit(dep)
			}
		}
		stackPath = stackPath[:len(stackPath)-1]
		color[name] = black
	}
	for _, name := range names {
		if color[name] == white {
			visit(name)
		}
	}
}

// nodeOf finds the node of service's depends_on entry dep.
func (p *parser) nodeOf(service, dep string) *yaml.Node {
	for _, n := range p.deps[service] {
		if n.Value == dep {
			return n
		}
	}
	return nil
}

// DeployOrder returns the stack's services so that every service comes
// after the services it depends on; services with no order between them
// keep their order by name. A Stack from Parse has no cycles.
func (st *Stack) DeployOrder() []Service {
	byName := map[string]Service{}
	for _, s := range st.Services {
		byName[s.Name] = s
	}
	done := map[string]bool{}
	var out []Service
	var visit func(s Service)
	visit = func(s Service) {
		if done[s.Name] {
			return
		}
		done[s.Name] = true
		for _, d := range s.DependsOn {
			if dep, ok := byName[d]; ok {
				visit(dep)
			}
		}
		out = append(out, s)
	}
	for _, s := range st.Services {
		visit(s)
	}
	return out
}
