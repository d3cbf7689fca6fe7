package kubernetes

import (
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/seedbed/seedbed/targets"
)

// TestQueueTokenIsInTheSecretNotTheDeployment checks that a function's
// pod gets its stage's queue send token from the function's Secret (the
// Deployment, which more people may read, only names it), and that a new
// token (a new secret key) makes a new revision, since a pod reads its env
// once.
func TestQueueTokenIsInTheSecretNotTheDeployment(t *testing.T) {
	ref := targets.StageRef{App: "shop", Stage: "dev"}
	fn := targets.Function{Service: "api", Name: "web", Runtime: "go", Handler: "bootstrap", Digest: "sha256:" + strings.Repeat("ab", 32)}
	token := "sbq1_first"
	tg, err := New(Config{Client: fake.NewSimpleClientset(), Namespace: "apps", Image: "seedbed:1", Artifacts: fixedLocator{},
		QueueToken: func(r targets.StageRef) string { return token + "-" + r.String() }})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := tg.plan(ref, []targets.Function{fn})
	if err != nil {
		t.Fatal(err)
	}
	p := plan.fns[0]
	sec := tg.secret(ref, p)
	if got := string(sec.Data[secretQueueKey]); got != "sbq1_first-shop/dev" {
		t.Errorf("the Secret holds queue token %q", got)
	}
	var found bool
	for _, e := range tg.deployment(ref, p).Spec.Template.Spec.Containers[0].Env {
		if *e.Name != "SEEDBED_QUEUE_TOKEN" {
			continue
		}
		found = true
		if e.Value != nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || *e.ValueFrom.SecretKeyRef.Key != secretQueueKey ||
			*e.ValueFrom.SecretKeyRef.Name != p.deployName {
			t.Errorf("SEEDBED_QUEUE_TOKEN is not taken from the function's Secret: %+v", e)
		}
	}
	if !found {
		t.Error("the pod gets no SEEDBED_QUEUE_TOKEN")
	}
	token = "sbq1_second"
	again, err := tg.plan(ref, []targets.Function{fn})
	if err != nil {
		t.Fatal(err)
	}
	if again.fns[0].rev == p.rev {
		t.Error("a new queue token keeps the revision: running pods would keep the old one")
	}
}
