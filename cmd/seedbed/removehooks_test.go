package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/web/apiv1"
)

// removeStack is a stack file with the api service and, when worker is
// not empty, a worker service with those hook lines.
func removeStack(worker string) string {
	s := `services:
  api:
    path: services/api
    runtime: go
    functions:
      hello:
        handler: bootstrap
        routes: ["GET /hello"]
`
	if worker != "" {
		s += `  worker:
    path: services/api
    runtime: go
    hooks:
` + worker + `    functions:
      work:
        handler: bootstrap
        routes: ["GET /work"]
`
	}
	return s
}

// A deploy that removes every function of a service runs the service's
// before_remove and after_remove hooks, taken from the release the stage
// served; a failing before_remove leaves the stage as it was.
func TestRemoveHooks(t *testing.T) {
	t.Parallel()
	a := startApp(t, embedded)
	out := filepath.Join(t.TempDir(), "removed.txt")
	repo := a.newAppRepoOnly()
	hooks := `      before_remove: ["echo before $SEEDBED_SERVICE $SEEDBED_STAGE $GREETING $(test -x bootstrap && echo has-artifact) >> ` + out + `"]
      after_remove: ["echo after $SEEDBED_SERVICE $SEEDBED_STAGE >> ` + out + `"]
`
	repo.Commit("with a worker", map[string]string{"seedbed.yml": removeStack(hooks)})
	ctx := context.Background()
	if _, err := a.api.CreateApp(ctx, apiv1.CreateAppRequest{Name: "rm", RepoURL: repo.Dir, Branch: "main"}); err != nil {
		t.Fatal(err)
	}
	a.mustDeploy("rm", "dev", "")
	if code, _ := a.get("/rm/dev/work"); code != 200 {
		t.Fatalf("GET /rm/dev/work = %d before the removal", code)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("a remove hook ran on a deploy that removed nothing (%v)", err)
	}
	if err := a.api.SetVar(ctx, "rm", "dev", "GREETING", apiv1.SetVarRequest{Value: "bye"}); err != nil {
		t.Fatal(err)
	}

	// The new release knows nothing of worker: its hooks come from the
	// release the stage serves.
	repo.Commit("without the worker", map[string]string{"seedbed.yml": removeStack("")})
	d := a.mustDeploy("rm", "dev", "")
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("the remove hooks did not run: %v\n%s", err, a.logText("deploy", d.ID))
	}
	if want := "before worker dev bye has-artifact\nafter worker dev\n"; string(b) != want {
		t.Errorf("remove hooks wrote %q, want %q", b, want)
	}
	if code, _ := a.get("/rm/dev/work"); code != 404 {
		t.Errorf("GET /rm/dev/work = %d after the removal, want 404", code)
	}
	if code, _ := a.get("/rm/dev/hello"); code != 200 {
		t.Errorf("GET /rm/dev/hello = %d, want 200", code)
	}
	log := a.logText("deploy", d.ID)
	for _, want := range []string{"Running the before_remove hooks of service worker", "Running the after_remove hooks of service worker"} {
		if !strings.Contains(log, want) {
			t.Errorf("deploy log lacks %q:\n%s", want, log)
		}
	}

	// A failing before_remove fails the deploy before anything changes.
	repo.Commit("worker again", map[string]string{"seedbed.yml": removeStack(`      before_remove: ["echo not yet; exit 3"]
`)})
	a.mustDeploy("rm", "dev", "")
	repo.Commit("without the worker again", map[string]string{"seedbed.yml": removeStack("")})
	d, _ = a.deploy("rm", "dev", "")
	if d.Status != "failed" || !strings.Contains(d.Error, "keeps serving its previous release") || !strings.Contains(d.Error, "before_remove") {
		t.Errorf("deploy with a failing before_remove: %s %q", d.Status, d.Error)
	}
	if code, _ := a.get("/rm/dev/work"); code != 200 {
		t.Errorf("GET /rm/dev/work = %d after a failed removal, want 200", code)
	}
	if log := a.logText("deploy", d.ID); !strings.Contains(log, "not yet") {
		t.Errorf("the failing hook's output is not in the log:\n%s", log)
	}

	// Deleting the stage runs the hooks of the release it serves: the
	// failing before_remove keeps the stage; --force skips it.
	err = a.api.DeleteStage(ctx, "rm", "dev", apiv1.RemoveOptions{})
	if err == nil || !strings.Contains(err.Error(), "before_remove hook failed") || !strings.Contains(err.Error(), "not yet") || !strings.Contains(err.Error(), "--force") {
		t.Errorf("delete with a failing before_remove: %v, want refused with the hook's output and how to force", err)
	}
	if code, _ := a.get("/rm/dev/work"); code != 200 {
		t.Errorf("GET /rm/dev/work = %d after a refused delete, want 200", code)
	}
	c := cli{t: t, env: map[string]string{"SEEDBED_CLI_CONFIG": filepath.Join(t.TempDir(), "cli.json")}}
	c.must("login", "--server", a.ConsoleURL(), "--email", adminEmail, "--password", adminPassword)
	c.must("stages", "delete", "rm", "dev", "--force")
	if code, _ := a.get("/rm/dev/hello"); code != 404 {
		t.Errorf("GET /rm/dev/hello = %d after a forced delete, want 404", code)
	}

	// Closing a preview stage runs them too; while before_remove fails
	// the preview stays open and serving.
	if _, err := a.api.CreateStage(ctx, "rm", apiv1.StageRequest{Name: "qa"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.api.SetPreviews(ctx, "rm", apiv1.PreviewSettings{TemplateStage: "qa"}); err != nil {
		t.Fatal(err)
	}
	closed, block := filepath.Join(t.TempDir(), "closed.txt"), filepath.Join(t.TempDir(), "block")
	if err := os.WriteFile(block, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	commit := repo.Commit("worker with close hooks", map[string]string{"seedbed.yml": removeStack(`      before_remove: ["echo before $SEEDBED_STAGE >> ` + closed + `; test ! -e ` + block + ` || { echo blocked; exit 4; }"]
      after_remove: ["echo after $SEEDBED_STAGE >> ` + closed + `"]
`)})
	res, err := a.api.OpenPreview(ctx, "rm", apiv1.PreviewRequest{Number: 3, Commit: commit})
	if err != nil {
		t.Fatal(err)
	}
	if pd := a.waitDeploy(res.Deploy.ID); pd.Status != "succeeded" {
		t.Fatalf("preview deploy: %s %s", pd.Status, pd.Error)
	}
	if _, err := a.api.ClosePreview(ctx, "rm", 3, apiv1.RemoveOptions{}); err == nil || !strings.Contains(err.Error(), "blocked") {
		t.Errorf("close with a failing before_remove: %v, want refused with the hook's output", err)
	}
	if code, _ := a.get("/rm/pr-3/work"); code != 200 {
		t.Errorf("GET /rm/pr-3/work = %d after a refused close, want 200", code)
	}
	if p, err := a.api.Previews(ctx, "rm"); err != nil || len(p.Previews) != 1 || p.Previews[0].Status != "open" || p.Previews[0].LiveRelease == nil {
		t.Errorf("previews after a refused close = %+v, %v; want pr-3 open with its live release", p, err)
	}
	if err := os.Remove(block); err != nil {
		t.Fatal(err)
	}
	if p, err := a.api.ClosePreview(ctx, "rm", 3, apiv1.RemoveOptions{}); err != nil || p.Status != "closed" {
		t.Fatalf("close: %+v, %v", p, err)
	}
	if code, _ := a.get("/rm/pr-3/work"); code != 404 {
		t.Errorf("GET /rm/pr-3/work = %d after close, want 404", code)
	}
	if b, err := os.ReadFile(closed); err != nil || string(b) != "before pr-3\nbefore pr-3\nafter pr-3\n" {
		t.Errorf("close hooks wrote %q (%v), want two before_remove runs and one after_remove", b, err)
	}
}
