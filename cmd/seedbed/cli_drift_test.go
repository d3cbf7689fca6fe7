package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/web/apiv1"
)

// `seedbed drift` through the real app's wiring: a stage on the local
// target has nothing that can drift (text and JSON); a stage on a
// kubernetes cluster that cannot be reached is an error that says so
// (never "none"), with the cause for its owner, and a viewer may ask.
// Drift found on a real cluster is TestDriftThroughDispatch (tag k8s).
func TestCLIDrift(t *testing.T) {
	t.Parallel()
	a := startApp(t, embedded)
	as := func(email, password string) cli {
		c := cli{t: t, env: map[string]string{"SEEDBED_CLI_CONFIG": filepath.Join(t.TempDir(), "cli.json")}}
		c.must("login", "--server", a.ConsoleURL(), "--email", email, "--password", password)
		return c
	}
	admin := as(adminEmail, adminPassword)
	admin.must("apps", "create", "drifty", "--repo", a.newAppRepoOnly().Dir)

	if out := admin.must("drift", "drifty", "--stage", "dev"); !strings.Contains(out, "runs on the local target: nothing of it can drift") {
		t.Errorf("a stage on the local target:\n%s", out)
	}
	var got apiv1.StageDrift
	if err := json.Unmarshal([]byte(admin.must("drift", "drifty", "--stage", "dev", "--output", "json", "--exit-code")), &got); err != nil {
		t.Fatal(err)
	}
	if got.Target != "local" || got.Checked || got.Drift == nil || len(got.Drift) != 0 || got.CheckedAt.IsZero() {
		t.Errorf("as JSON: %+v", got)
	}

	missing := filepath.Join(t.TempDir(), "no-such-kubeconfig.yaml")
	admin.must("target", "drifty", "prod", "--target", "kubernetes", "--namespace", "apps", "--kubeconfig", missing, "--image", "registry.example/seedbed:1")
	code, out, errOut := admin.run("drift", "drifty", "--stage", "prod")
	if code == 0 || !strings.Contains(errOut, "could not be reached or read") || !strings.Contains(errOut, "no-such-kubeconfig.yaml") ||
		strings.Contains(out+errOut, "Drift: none") {
		t.Errorf("an unreachable cluster, as an owner: exit %d, %q %q; want an error with the cause", code, out, errOut)
	}

	admin.must("users", "create", "--email", "vic@example.com", "--password", "long-enough")
	admin.must("members", "set", "drifty", "vic@example.com", "--role", "viewer")
	vic := as("vic@example.com", "long-enough")
	if out := vic.must("drift", "drifty", "--stage", "dev"); !strings.Contains(out, "nothing of it can drift") {
		t.Errorf("a viewer checks drift:\n%s", out)
	}
	if code, _, errOut := vic.run("drift", "drifty", "--stage", "prod"); code == 0 || !strings.Contains(errOut, "could not be reached") || strings.Contains(errOut, "no-such-kubeconfig") {
		t.Errorf("an unreachable cluster, as a viewer: exit %d, %q; want the error without the cluster's settings", code, errOut)
	}
	if code, _, errOut := admin.run("drift", "drifty"); code != 2 || !strings.Contains(errOut, "stage") {
		t.Errorf("no --stage: exit %d, %q; want a usage error", code, errOut)
	}
}
