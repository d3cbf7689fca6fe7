package stack

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestDependsOn(t *testing.T) {
	svc := func(name, deps string) string {
		s := "  " + name + ":\n    path: " + name + "\n    runtime: process\n"
		if deps != "" {
			s += "    depends_on: " + deps + "\n"
		}
		return s + "    functions: {" + name + ": {handler: ./run, routes: [\"GET /" + name + "\"]}}\n"
	}
	tests := []struct {
		name     string
		file     string
		order    []string // DeployOrder when valid
		problems []string // "line: text" fragments when invalid
	}{
		{name: "chain", file: "services:\n" + svc("web", "[api]") + svc("api", "[db]") + svc("db", ""),
			order: []string{"db", "api", "web"}},
		{name: "none", file: "services:\n" + svc("b", "") + svc("a", ""), order: []string{"a", "b"}},
		{name: "unknown", file: "services:\n" + svc("web", "[apx]") + svc("api", ""),
			problems: []string{`seedbed.yml:5: services.web.depends_on: unknown service "apx" (did you mean "api"?)`}},
		{name: "itself", file: "services:\n" + svc("web", "[web]"),
			problems: []string{"seedbed.yml:5: services.web.depends_on: service web depends on itself"}},
		{name: "cycle", file: "services:\n" + svc("a", "[b]") + svc("b", "[c]") + svc("c", "[a]"),
			problems: []string{"seedbed.yml:15: services.c.depends_on: depends_on forms a cycle: a → b → c → a"}},
		{name: "not a list", file: "services:\n" + svc("a", "b"),
			problems: []string{"seedbed.yml:5: services.a.depends_on: must be a list"}},
		{name: "twice", file: "services:\n" + svc("a", "[b, b]") + svc("b", ""),
			problems: []string{`seedbed.yml:5: services.a.depends_on: service "b" is listed twice`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := Parse([]byte(tc.file))
			if tc.problems == nil {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				var order []string
				for _, s := range st.DeployOrder() {
					order = append(order, s.Name)
				}
				if !slices.Equal(order, tc.order) {
					t.Errorf("DeployOrder = %v, want %v", order, tc.order)
				}
				return
			}
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Parse error = %v, want Problems", err)
			}
			for _, want := range tc.problems {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("problems:\n%v\nwant one containing %q", err, want)
				}
			}
		})
	}
}
