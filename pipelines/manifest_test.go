package pipelines

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/targets"
)

var update = flag.Bool("update", false, "rewrite golden files")

func fn(key, digest string, routes ...string) targets.Function {
	svc, name, _ := strings.Cut(key, "/")
	f := targets.Function{Service: svc, Name: name, Runtime: "go", Handler: "bootstrap", Digest: digest}
	for _, r := range routes {
		m, p, _ := strings.Cut(r, " ")
		f.Routes = append(f.Routes, stack.Route{Method: m, Path: p})
	}
	return f
}

func withEnv(f targets.Function, env map[string]string) targets.Function {
	f.Env = env
	return f
}

func withEvents(f targets.Function, events ...stack.Event) targets.Function {
	f.Events = events
	return f
}

func TestPlanGolden(t *testing.T) {
	hello := fn("api/hello", "sha256:1111111111111111aaaa", "GET /hello")
	tests := []struct {
		name     string
		from, to []targets.Function
	}{
		{"first-deploy", nil, []targets.Function{hello, fn("api/bye", "sha256:2222222222222222bbbb", "GET /bye")}},
		{"nothing-changes", []targets.Function{hello}, []targets.Function{hello}},
		{"code-and-routes", []targets.Function{hello}, []targets.Function{fn("api/hello", "sha256:3333333333333333cccc", "GET /hello", "POST /hello")}},
		{"remove-and-add", []targets.Function{hello}, []targets.Function{fn("api/bye", "sha256:2222222222222222bbbb", "GET /bye")}},
		{"env-values-never-shown",
			[]targets.Function{withEnv(hello, map[string]string{"API_KEY": "old-secret-value", "GONE": "x"})},
			[]targets.Function{withEnv(hello, map[string]string{"API_KEY": "new-secret-value", "NEW": "y"})}},
		{"runtime-handler-timeout", []targets.Function{hello}, []targets.Function{func() targets.Function {
			f := hello
			f.Runtime, f.Handler, f.Timeout = "process", "./serve", 5*time.Second
			return f
		}()}},
		{"events-added-and-removed",
			[]targets.Function{withEvents(hello, stack.Event{Schedule: "rate(5 minutes)"}), withEvents(fn("api/gone", "sha256:4444444444444444dddd"), stack.Event{Queue: "old", Batch: 1, Concurrency: 1})},
			[]targets.Function{
				withEvents(hello, stack.Event{Schedule: "rate(1 hour)"}, stack.Event{Queue: "orders", Batch: 10, Concurrency: 2}),
				withEvents(fn("api/nightly", "sha256:5555555555555555eeee"), stack.Event{Schedule: "0 3 * * *", TimeZone: "Europe/Berlin", Path: "/nightly"}),
			}},
		{"async-settings-are-minor", []targets.Function{hello}, []targets.Function{func() targets.Function {
			f := hello
			f.Async = &stack.Async{Retries: 0, Backoff: time.Second, OnFailure: "api/dead"}
			return f
		}()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := Plan(tt.from, 1, tt.to, 2)
			got, err := json.MarshalIndent(struct {
				Summary string    `json:"summary"`
				Plan    ChangeSet `json:"plan"`
			}{cs.Summary(), cs}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(got), "secret-value") {
				t.Fatalf("an env value leaked into the change set:\n%s", got)
			}
			path := filepath.Join("testdata", "changesets", tt.name+".golden.json")
			if *update {
				if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			if strings.TrimSpace(string(want)) != string(got) {
				t.Fatalf("change set differs from %s:\n got: %s\nwant: %s", path, got, want)
			}
		})
	}
}

func TestStageFollows(t *testing.T) {
	tests := []struct {
		name string
		rule string
		push Push
		want bool
	}{
		{"exact branch", "main", Push{Branch: "main"}, true},
		{"other branch", "main", Push{Branch: "dev"}, false},
		{"glob", "release/*", Push{Branch: "release/1.2"}, true},
		{"glob stays in one segment", "release/*", Push{Branch: "release/1/2"}, false},
		{"no rule follows nothing", "", Push{Branch: "main"}, false},
		{"branch rule ignores tags", "main", Push{Tag: "main"}, false},
		{"tag rule", "tag:v*", Push{Tag: "v1.0.0"}, true},
		{"tag rule ignores branches", "tag:v*", Push{Branch: "v1"}, false},
		{"tag rule mismatch", "tag:v*", Push{Tag: "nightly"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stageFollows(tt.rule, tt.push); got != tt.want {
				t.Fatalf("stageFollows(%q, %+v) = %v, want %v", tt.rule, tt.push, got, tt.want)
			}
		})
	}
}

func TestSkipDeploy(t *testing.T) {
	for msg, want := range map[string]bool{"fix [skip deploy]": true, "[Deploy Skip] docs": true, "skip deploy": false, "": false} {
		if SkipDeploy(msg) != want {
			t.Errorf("SkipDeploy(%q) = %v", msg, !want)
		}
	}
}
