package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/web/apiv1"
)

// `seedbed target` shows and chooses where a stage runs, through the API on
// the real app: settings are checked with what to do, stored, shown as text
// and JSON; a deployer may neither read nor change them.
func TestCLIStageTarget(t *testing.T) {
	t.Parallel()
	a := startApp(t, embedded)
	as := func(email, password string) cli {
		c := cli{t: t, env: map[string]string{"SEEDBED_CLI_CONFIG": filepath.Join(t.TempDir(), "cli.json")}}
		c.must("login", "--server", a.ConsoleURL(), "--email", email, "--password", password)
		return c
	}
	admin := as(adminEmail, adminPassword)
	admin.must("apps", "create", "kube-app", "--repo", a.newAppRepoOnly().Dir)

	if out := admin.must("target", "kube-app", "dev"); !strings.Contains(out, "kube-app/dev runs on local") {
		t.Fatalf("a new stage:\n%s", out)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"bad namespace", []string{"--target", "kubernetes", "--namespace", "Apps_1"}, `namespace "Apps_1" is not a Kubernetes namespace name`},
		{"relative kubeconfig", []string{"--target", "kubernetes", "--namespace", "apps", "--kubeconfig", "kube.yaml"}, "must be an absolute path"},
		{"bad cpu", []string{"--target", "kubernetes", "--namespace", "apps", "--cpu", "lots"}, `cpu "lots" is not a CPU quantity`},
		{"no settings", []string{"--target", "kubernetes"}, "needs its settings"},
		{"unknown target", []string{"--target", "lambda"}, `"lambda" is not a target: use local or kubernetes`},
		{"kubernetes flags on local", []string{"--target", "local", "--namespace", "apps"}, "go with --target kubernetes"},
	}
	for _, tc := range cases {
		if code, _, errOut := admin.run(append([]string{"target", "kube-app", "dev"}, tc.args...)...); code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d, %q; want %q", tc.name, code, errOut, tc.want)
		}
	}
	out := admin.must("target", "kube-app", "prod", "--target", "kubernetes", "--namespace", "apps", "--kubeconfig", "/etc/seedbed/kube.yaml",
		"--image", "registry.example/seedbed:1.4", "--replicas", "3", "--memory", "512", "--cpu", "250m")
	for _, want := range []string{"kube-app/prod runs on kubernetes", "namespace:         apps", "kubeconfig:        /etc/seedbed/kube.yaml",
		"image:             registry.example/seedbed:1.4", "replicas 3, memory 512 MiB, cpu 250m", "next deploy"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	var got apiv1.StageTarget
	if err := json.Unmarshal([]byte(admin.must("target", "kube-app", "prod", "--output", "json")), &got); err != nil {
		t.Fatal(err)
	}
	if got.Target != "kubernetes" || got.Kubernetes == nil || got.Kubernetes.Namespace != "apps" || got.Kubernetes.Replicas != 3 {
		t.Errorf("as JSON: %+v", got)
	}
	if out := admin.must("target", "kube-app", "dev"); !strings.Contains(out, "runs on local") {
		t.Errorf("dev changed with prod:\n%s", out)
	}

	admin.must("users", "create", "--email", "dee@example.com", "--password", "long-enough")
	admin.must("members", "set", "kube-app", "dee@example.com", "--role", "deployer")
	dee := as("dee@example.com", "long-enough")
	if code, _, errOut := dee.run("target", "kube-app", "prod"); code == 0 || !strings.Contains(errOut, "owner") {
		t.Errorf("a deployer reads the target: exit %d, %q", code, errOut)
	}
	if code, _, errOut := dee.run("target", "kube-app", "prod", "--target", "local"); code == 0 || !strings.Contains(errOut, "owner") {
		t.Errorf("a deployer moves a stage: exit %d, %q", code, errOut)
	}
	admin.must("target", "kube-app", "prod", "--target", "local")
	if out := admin.must("target", "kube-app", "prod"); !strings.Contains(out, "runs on local") || strings.Contains(out, "namespace") {
		t.Errorf("back on local:\n%s", out)
	}
}
