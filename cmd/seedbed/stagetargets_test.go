package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
	"github.com/seedbed/seedbed/targets/kubernetes"
)

// noLocator stands in for the runner's signer: no artifact is located here.
type noLocator struct{}

func (noLocator) Locate(string) (string, string, error) {
	return "http://seedbed.test/runner/artifacts", "t", nil
}

// Where a stage was applied survives a restart: a new chooser recalls the
// cluster and namespace the stage was applied to, not the ones its
// settings name now, so that the dispatcher removes it from there.
func TestStageTargetsRememberWhereAStageWasApplied(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "seedbed.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// A kubeconfig for a cluster that is never contacted: targets are made
	// without a request.
	kc := filepath.Join(dir, "kube.yaml")
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	app := store.App{Name: "shop", RepoURL: "/src/shop", Branch: "main"}
	if err := st.CreateApp(ctx, &app, []store.Stage{{Name: "prod"}}); err != nil {
		t.Fatal(err)
	}
	prod, err := st.StageByName(ctx, app.ID, "prod")
	if err != nil {
		t.Fatal(err)
	}
	setNamespace := func(ns string) {
		t.Helper()
		prod.Target, prod.Kubernetes = "kubernetes", `{"kubeconfig":"`+kc+`","namespace":"`+ns+`"}`
		if err := st.SaveStageTarget(ctx, prod); err != nil {
			t.Fatal(err)
		}
	}
	chooser := func() *stageTargets {
		return &stageTargets{store: st, image: "registry.example/seedbed:1", locator: noLocator{}, kube: map[string]*kubernetes.Target{}}
	}
	ref := targets.StageRef{App: "shop", Stage: "prod"}
	namespaceOf := func(p any) string {
		t.Helper()
		k, ok := p.(*kubernetes.Target)
		if !ok {
			t.Fatalf("placement %T, want a kubernetes target", p)
		}
		return k.Namespace()
	}

	setNamespace("apps")
	first := chooser()
	if p, _, err := first.Recall(ctx, ref); err != nil || p != nil {
		t.Fatalf("recall before any deploy: %v, %v", p, err)
	}
	p, _, err := first.resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Remember(ctx, ref, p); err != nil {
		t.Fatal(err)
	}

	// Restart, with the stage moved to another namespace meanwhile.
	setNamespace("apps-2")
	second := chooser()
	now, _, err := second.resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	before, name, err := second.Recall(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if namespaceOf(before) != "apps" || name != "kubernetes namespace apps" || namespaceOf(now) != "apps-2" || before == now {
		t.Errorf("recalled %s (%q), resolved %s: want apps, then apps-2", namespaceOf(before), name, namespaceOf(now))
	}
	if again, _, _ := second.Recall(ctx, ref); again != before {
		t.Error("recalling twice made two targets for the same settings")
	}

	// Removed: nothing to recall.
	if err := second.Remember(ctx, ref, nil); err != nil {
		t.Fatal(err)
	}
	if p, _, err := second.Recall(ctx, ref); err != nil || p != nil {
		t.Errorf("recall after removal: %v, %v", p, err)
	}
}
