package stack

import (
	"reflect"
	"testing"
	"time"
)

func TestParseScalingFields(t *testing.T) {
	const api = "services:\n  api:\n    path: .\n    runtime: go\n    functions:\n"
	tests := []struct {
		name        string
		fn          string
		instances   *Instances
		concurrency int
	}{
		{"unset: one instance, default concurrency", `{routes: ["GET /a"]}`, nil, 0},
		{"scale to zero", `{routes: ["GET /a"], instances: {min: 0, max: 3}, concurrency: 10}`, &Instances{Min: 0, Max: 3}, 10},
		{"min left out is 1", `{routes: ["GET /a"], instances: {max: 4}}`, &Instances{Min: 1, Max: 4}, 0},
		{"scale down after", `{routes: ["GET /a"], instances: {min: 2, max: 2, scale_down_after: 30s}}`, &Instances{Min: 2, Max: 2, ScaleDownAfter: 30 * time.Second}, 0},
		{"lambda concurrency 1", `{type: lambda, routes: ["GET /a"], instances: {min: 0, max: 5}, concurrency: 1}`, &Instances{Min: 0, Max: 5}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := Parse([]byte(api + "      a: " + tt.fn + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			fn := st.Services[0].Functions[0]
			if !reflect.DeepEqual(fn.Instances, tt.instances) || fn.Concurrency != tt.concurrency {
				t.Errorf("instances %+v, concurrency %d; want %+v, %d", fn.Instances, fn.Concurrency, tt.instances, tt.concurrency)
			}
		})
	}
}

func TestParseScalingProblems(t *testing.T) {
	const api = "services:\n  api:\n    path: .\n    runtime: go\n    functions:\n"
	tests := []struct {
		name string
		yaml string
		want []wantProblem
	}{
		{
			name: "min over max",
			yaml: api + "      a: {routes: [\"GET /a\"], instances: {min: 4, max: 2}}\n",
			want: []wantProblem{{6, "services.api.functions.a.instances.min", "min 4 is more than max 2"}},
		},
		{
			name: "max missing",
			yaml: api + "      a: {routes: [\"GET /a\"], instances: {min: 0}}\n",
			want: []wantProblem{{6, "services.api.functions.a.instances", "instances needs max"}},
		},
		{
			name: "bad numbers",
			yaml: api + "      a: {routes: [\"GET /a\"], instances: {min: -1, max: 3}}\n      b: {routes: [\"GET /b\"], instances: {max: 0}}\n      c: {routes: [\"GET /c\"], instances: {max: 101}}\n      d: {routes: [\"GET /d\"], instances: {max: lots}}\n",
			want: []wantProblem{
				{6, "services.api.functions.a.instances.min", `min "-1" must be a whole number from 0 (scale to zero) to 100`},
				{7, "services.api.functions.b.instances.max", `max "0" must be a whole number from 1 to 100`},
				{8, "services.api.functions.c.instances.max", `max "101" must be a whole number from 1 to 100`},
				{9, "services.api.functions.d.instances.max", `max "lots" must be a whole number`},
			},
		},
		{
			name: "unknown key and bad duration",
			yaml: api + "      a: {routes: [\"GET /a\"], instances: {mx: 3}}\n      b: {routes: [\"GET /b\"], instances: {max: 3, scale_down_after: soon}}\n",
			want: []wantProblem{
				{6, "services.api.functions.a.instances", "instances needs max"},
				{6, "services.api.functions.a.instances.mx", `did you mean "max"?`},
				{7, "services.api.functions.b.instances.scale_down_after", `scale_down_after "soon" is not a duration`},
			},
		},
		{
			name: "instances not a mapping",
			yaml: api + "      a: {routes: [\"GET /a\"], instances: 3}\n",
			want: []wantProblem{{6, "services.api.functions.a.instances", "must be a mapping"}},
		},
		{
			name: "concurrency",
			yaml: api + "      a: {routes: [\"GET /a\"], concurrency: 0}\n      b: {routes: [\"GET /b\"], concurrency: 5000}\n      c: {type: lambda, routes: [\"GET /c\"], concurrency: 4}\n",
			want: []wantProblem{
				{6, "services.api.functions.a.concurrency", `concurrency "0" must be a whole number from 1 to 1000`},
				{7, "services.api.functions.b.concurrency", `concurrency "5000" must be a whole number from 1 to 1000`},
				{8, "services.api.functions.c.concurrency", "a Lambda-style handler takes one event at a time per instance"},
			},
		},
		{
			name: "static has no instances",
			yaml: "services:\n  web:\n    path: .\n    runtime: static\n    functions:\n      site: {routes: [\"GET /\"], instances: {max: 2}, concurrency: 3}\n",
			want: []wantProblem{
				{6, "services.web.functions.site.instances", "runtime static has no instances"},
				{6, "services.web.functions.site.concurrency", "runtime static has no instances"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded with %+v; want %d problems", st, len(tt.want))
			}
			checkProblems(t, err, tt.want)
		})
	}
}
