package pipelines

import (
	"slices"
	"testing"

	"github.com/seedbed/seedbed/targets"
)

func TestPhasesOf(t *testing.T) {
	fn := func(svc string) targets.Function { return targets.Function{Service: svc, Name: "fn"} }
	tests := []struct {
		name     string
		services []ServiceSpec
		fns      []string
		want     [][]string
	}{
		{"no dependencies", nil, []string{"web", "api"}, [][]string{{"api", "web"}}},
		{"no functions: one empty phase, so the stage is still applied", nil, nil, [][]string{nil}},
		{"chain", []ServiceSpec{{Name: "web", DependsOn: []string{"api"}}, {Name: "api", DependsOn: []string{"db"}}},
			[]string{"web", "api", "db"}, [][]string{{"db"}, {"api"}, {"web"}}},
		{"diamond", []ServiceSpec{{Name: "web", DependsOn: []string{"api", "auth"}}, {Name: "api", DependsOn: []string{"db"}}, {Name: "auth", DependsOn: []string{"db"}}},
			[]string{"web", "api", "auth", "db", "cron"}, [][]string{{"cron", "db"}, {"api", "auth"}, {"web"}}},
		{"uneven depths go after the deepest", []ServiceSpec{{Name: "web", DependsOn: []string{"db", "api"}}, {Name: "api", DependsOn: []string{"db"}}},
			[]string{"web", "api", "db"}, [][]string{{"db"}, {"api"}, {"web"}}},
		{"dependency outside the release is ignored", []ServiceSpec{{Name: "web", DependsOn: []string{"gone"}}},
			[]string{"web", "api"}, [][]string{{"api", "web"}}},
		{"a spec without functions makes no phase", []ServiceSpec{{Name: "web", DependsOn: []string{"api"}}, {Name: "hooksonly"}},
			[]string{"web", "api"}, [][]string{{"api"}, {"web"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Manifest{Services: tt.services}
			for _, s := range tt.fns {
				m.Functions = append(m.Functions, fn(s))
			}
			var got [][]string
			for _, p := range phasesOf(m) {
				got = append(got, p.services)
			}
			if !slices.EqualFunc(got, tt.want, slices.Equal) {
				t.Errorf("phases = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPhaseFunctions(t *testing.T) {
	f := func(svc, digest string) targets.Function {
		return targets.Function{Service: svc, Name: "fn", Digest: digest}
	}
	phases := []deployPhase{{services: []string{"db"}}, {services: []string{"api", "new"}}, {services: []string{"web"}}}
	running := []targets.Function{f("db", "db1"), f("api", "api1"), f("web", "web1"), f("gone", "gone1")}
	next := []targets.Function{f("db", "db2"), f("api", "api2"), f("new", "new2"), f("web", "web2")}
	digests := func(fns []targets.Function) []string {
		var out []string
		for _, fn := range fns {
			out = append(out, fn.Digest)
		}
		slices.Sort(out)
		return out
	}
	tests := []struct {
		upTo int
		want []string
	}{
		// Later services keep what runs; the removed one stays until the end.
		{0, []string{"api1", "db2", "gone1", "web1"}},
		{1, []string{"api2", "db2", "gone1", "new2", "web1"}},
		{2, []string{"api2", "db2", "new2", "web2"}},
	}
	for _, tt := range tests {
		if got := digests(phaseFunctions(phases, tt.upTo, next, running)); !slices.Equal(got, tt.want) {
			t.Errorf("after phase %d: serving %v, want %v", tt.upTo+1, got, tt.want)
		}
	}
}
