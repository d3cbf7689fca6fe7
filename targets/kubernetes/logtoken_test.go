package kubernetes

import (
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/seedbed/seedbed/targets"
)

// TestLogTokenIsInTheSecretNotTheDeployment checks that a function's pod
// is told where to ship its log lines (a plain value) and its stage's log
// token (from the function's Secret), that a new token rolls the pods,
// and that a target without log shipping gives pods neither.
func TestLogTokenIsInTheSecretNotTheDeployment(t *testing.T) {
	ref := targets.StageRef{App: "shop", Stage: "dev"}
	fn := targets.Function{Service: "api", Name: "web", Runtime: "go", Handler: "bootstrap", Digest: "sha256:" + strings.Repeat("ab", 32)}
	token := "sbl1_first"
	logs := func(r targets.StageRef) (string, string) {
		return "http://seedbed:8080/runner/logs", token + "-" + r.String()
	}
	cases := []struct {
		name string
		logs func(targets.StageRef) (string, string)
		want map[string]string // env name → "value:…" or "secret:KEY"; "" for absent
	}{
		{"shipping", logs, map[string]string{"SEEDBED_LOGS_URL": "value:http://seedbed:8080/runner/logs", "SEEDBED_LOGS_TOKEN": "secret:" + secretLogsKey}},
		{"no shipping", nil, map[string]string{"SEEDBED_LOGS_URL": "", "SEEDBED_LOGS_TOKEN": ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tg, err := New(Config{Client: fake.NewSimpleClientset(), Namespace: "apps", Image: "seedbed:1", Artifacts: fixedLocator{}, Logs: tc.logs})
			if err != nil {
				t.Fatal(err)
			}
			plan, err := tg.plan(ref, []targets.Function{fn})
			if err != nil {
				t.Fatal(err)
			}
			p := plan.fns[0]
			sec := tg.secret(ref, p)
			_, has := sec.Data[secretLogsKey]
			if has != (tc.logs != nil) {
				t.Errorf("the Secret has a log token: %v", has)
			}
			if tc.logs != nil && string(sec.Data[secretLogsKey]) != "sbl1_first-shop/dev" {
				t.Errorf("the Secret holds log token %q", sec.Data[secretLogsKey])
			}
			got := map[string]string{}
			for _, e := range tg.deployment(ref, p).Spec.Template.Spec.Containers[0].Env {
				switch {
				case e.Value != nil:
					got[*e.Name] = "value:" + *e.Value
				case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && *e.ValueFrom.SecretKeyRef.Name == p.deployName:
					got[*e.Name] = "secret:" + *e.ValueFrom.SecretKeyRef.Key
				}
			}
			for name, want := range tc.want {
				if got[name] != want {
					t.Errorf("%s = %q, want %q", name, got[name], want)
				}
			}
		})
	}
	tg, _ := New(Config{Client: fake.NewSimpleClientset(), Namespace: "apps", Image: "seedbed:1", Artifacts: fixedLocator{}, Logs: logs})
	first, err := tg.plan(ref, []targets.Function{fn})
	if err != nil {
		t.Fatal(err)
	}
	token = "sbl1_second"
	again, err := tg.plan(ref, []targets.Function{fn})
	if err != nil {
		t.Fatal(err)
	}
	if again.fns[0].rev == first.fns[0].rev {
		t.Error("a new log token keeps the revision: running pods would keep the old one")
	}
}
