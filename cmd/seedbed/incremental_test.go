package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web/apiv1"
)

// monorepoStack is a stack file with two Go services, api and web. Each
// build command appends a line to a file outside the workspace, so a
// test can count how often it ran. webDeps is web's depends_on list;
// apiHooks extra hook lines for api.
func monorepoStack(counts, webDeps, apiHooks string) string {
	svc := func(name, extra string) string {
		return fmt.Sprintf(`  %[1]s:
    path: services/%[1]s
    runtime: go
    build: echo ran >> %[2]s/%[1]s.count && go build -trimpath -buildvcs=false -ldflags="-s -w -buildid=" -o bootstrap .
%[3]s    functions:
      %[1]s:
        handler: bootstrap
        routes: ["GET /%[1]s"]
`, name, counts, extra)
	}
	apiExtra := `    hooks:
      before_build: ["echo hookvars app=$SEEDBED_APP stage=$SEEDBED_STAGE service=$SEEDBED_SERVICE build=$SEEDBED_BUILD_ID commit=$SEEDBED_COMMIT branch=$SEEDBED_BRANCH"]
      before_deploy: ["echo deployvars stage=$SEEDBED_STAGE service=$SEEDBED_SERVICE commit=$SEEDBED_COMMIT greeting=$GREETING token=$TOKEN; test -x bootstrap"]
` + apiHooks
	webExtra := ""
	if webDeps != "" {
		webExtra = "    depends_on: " + webDeps + "\n"
	}
	return "services:\n" + svc("api", apiExtra) + svc("web", webExtra)
}

func countRuns(t *testing.T, dir, svc string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, svc+".count"))
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "ran\n")
}

func artifactsOf(b apiv1.Build) map[string]apiv1.Artifact {
	m := map[string]apiv1.Artifact{}
	for _, a := range b.Artifacts {
		m[a.Service] = a
	}
	return m
}

// TestIncrementalMonorepoBuilds deploys a two-service monorepo again and
// again and checks that only what changed is rebuilt, that depends_on
// and --full rebuild more, that hooks see the SEEDBED_* variables, that
// phases are recorded and that a failing before_deploy hook keeps the
// stage serving its release.
func TestIncrementalMonorepoBuilds(t *testing.T) {
	t.Parallel()
	a := startApp(t, embedded)
	ctx := context.Background()
	counts := t.TempDir()
	repo := newMonorepo(t, counts)
	if _, err := a.api.CreateApp(ctx, apiv1.CreateAppRequest{Name: "mono", RepoURL: repo.Dir, Branch: "main"}); err != nil {
		t.Fatal(err)
	}
	if err := a.api.SetVar(ctx, "mono", "dev", "GREETING", apiv1.SetVarRequest{Value: "hello-from-dev"}); err != nil {
		t.Fatal(err)
	}
	const secret = "s3cr3t-token-value"
	if err := a.api.SetVar(ctx, "mono", "dev", "TOKEN", apiv1.SetVarRequest{Value: secret, Secret: true}); err != nil {
		t.Fatal(err)
	}

	deploy := func(full bool) (apiv1.Deploy, apiv1.Build) {
		t.Helper()
		resp, err := a.api.Deploy(ctx, "mono", apiv1.DeployRequest{Stage: "dev", Full: full})
		if err != nil {
			t.Fatal(err)
		}
		d := a.waitDeploy(resp.Deploy.ID)
		b, err := a.api.Build(ctx, resp.Build.ID)
		if err != nil {
			t.Fatal(err)
		}
		return d, b
	}
	mustSucceed := func(d apiv1.Deploy, b apiv1.Build) {
		t.Helper()
		if d.Status != "succeeded" {
			t.Fatalf("deploy %d: %s: %s\n%s\n%s", d.ID, d.Status, d.Error, a.logText("build", b.ID), a.logText("deploy", d.ID))
		}
	}
	wantRuns := func(api, web int) {
		t.Helper()
		if got := countRuns(t, counts, "api"); got != api {
			t.Errorf("api's build command ran %d times, want %d", got, api)
		}
		if got := countRuns(t, counts, "web"); got != web {
			t.Errorf("web's build command ran %d times, want %d", got, web)
		}
	}

	// 1. The first build builds both services and records its phases.
	d1, b1 := deploy(false)
	mustSucceed(d1, b1)
	wantRuns(1, 1)
	first := artifactsOf(b1)
	log1 := a.logText("build", b1.ID)
	wantVars := fmt.Sprintf("hookvars app=mono stage=dev service=api build=%d commit=%s branch=main", b1.ID, b1.Commit)
	if !strings.Contains(log1, wantVars) {
		t.Errorf("build log lacks %q:\n%s", wantVars, log1)
	}
	if !strings.Contains(log1, "Stage dev serves no release yet: building every service.") {
		t.Errorf("build log does not say why everything was built:\n%s", log1)
	}
	phases := map[string]int64{}
	for _, p := range b1.Phases {
		if p.FinishedAt.Before(p.StartedAt) {
			t.Errorf("phase %s of %s ends before it starts", p.Name, p.Service)
		}
		phases[p.Service+"/"+p.Name] += p.FinishedAt.Sub(p.StartedAt).Nanoseconds()
	}
	for _, k := range []string{"/checkout", "api/install", "api/hooks", "api/compile", "api/package", "web/compile", "web/package"} {
		if phases[k] <= 0 {
			t.Errorf("phase %s: duration %dns, want > 0; phases: %+v", k, phases[k], b1.Phases)
		}
	}
	dlog := a.logText("deploy", d1.ID)
	if want := fmt.Sprintf("deployvars stage=dev service=api commit=%s greeting=hello-from-dev token=••••••", b1.Commit); !strings.Contains(dlog, want) {
		t.Errorf("deploy log lacks %q:\n%s", want, dlog)
	}
	if strings.Contains(dlog, secret) {
		t.Errorf("deploy log shows the secret:\n%s", dlog)
	}

	// 2. A change to web rebuilds web only; api's artifact is reused.
	repo.Commit("change web", map[string]string{"services/web/main.go": goFunction("web-v2")})
	d2, b2 := deploy(false)
	mustSucceed(d2, b2)
	wantRuns(1, 2)
	second := artifactsOf(b2)
	if second["api"].Digest != first["api"].Digest || second["api"].ReusedFrom != b1.ID {
		t.Errorf("api artifact = %+v, want %s reused from build %d", second["api"], first["api"].Digest, b1.ID)
	}
	if second["web"].Digest == first["web"].Digest || second["web"].ReusedFrom != 0 {
		t.Errorf("web artifact = %+v, want a new one built by build %d", second["web"], b2.ID)
	}
	log2 := a.logText("build", b2.ID)
	wantReuse := fmt.Sprintf("Service api unchanged since release #%d (commit %s): reusing %s", d1.ReleaseID, b1.Commit[:7], first["api"].Digest)
	if !strings.Contains(log2, wantReuse) {
		t.Errorf("build log lacks %q:\n%s", wantReuse, log2)
	}
	if !strings.Contains(log2, "Service web is rebuilt: 1 file(s) changed under services/web (services/web/main.go)") {
		t.Errorf("build log does not say why web was rebuilt:\n%s", log2)
	}
	if _, body := a.get("/mono/dev/web"); !strings.Contains(body, "web-v2") {
		t.Errorf("GET /web = %q, want the new version", body)
	}
	if _, body := a.get("/mono/dev/api"); !strings.Contains(body, "api-v1") {
		t.Errorf("GET /api = %q, want the reused version", body)
	}

	// 3. A full build rebuilds both, to the same digests (Go builds are
	// reproducible).
	d3, b3 := deploy(true)
	mustSucceed(d3, b3)
	wantRuns(2, 3)
	if !b3.Full {
		t.Errorf("build %d: full = false, want true", b3.ID)
	}
	for svc, art := range artifactsOf(b3) {
		if art.ReusedFrom != 0 {
			t.Errorf("full build reused %s: %+v", svc, art)
		}
	}

	// 4. With web depending on api, a change to api rebuilds both.
	repo.Commit("web depends on api", map[string]string{"seedbed.yml": monorepoStack(counts, "[api]", "")})
	d4, b4 := deploy(false)
	mustSucceed(d4, b4)
	wantRuns(2, 4) // only web's entry changed: api is reused
	if !strings.Contains(a.logText("build", b4.ID), "Service web is rebuilt: its entry in seedbed.yml changed.") {
		t.Errorf("build %d log does not say web's entry changed:\n%s", b4.ID, a.logText("build", b4.ID))
	}
	repo.Commit("change api", map[string]string{"services/api/main.go": goFunction("api-v2")})
	d5, b5 := deploy(false)
	mustSucceed(d5, b5)
	wantRuns(3, 5)
	if !strings.Contains(a.logText("build", b5.ID), "Service web is rebuilt: service api, which it depends on, is rebuilt.") {
		t.Errorf("build %d log does not say web was rebuilt for api:\n%s", b5.ID, a.logText("build", b5.ID))
	}

	// 5. A failing before_deploy hook fails the deploy before anything
	// changes: the stage keeps serving api-v2.
	repo.Commit("failing hook", map[string]string{
		"seedbed.yml":          strings.Replace(monorepoStack(counts, "[api]", ""), "test -x bootstrap", "echo failing; exit 3", 1),
		"services/api/main.go": goFunction("api-v3"),
	})
	d6, b6 := deploy(false)
	if d6.Status != "failed" || !strings.Contains(d6.Error, "keeps serving its previous release") || !strings.Contains(d6.Error, "exit code 3") {
		t.Errorf("deploy %d: %s: %q, want failed by its before_deploy hook", d6.ID, d6.Status, d6.Error)
	}
	if !strings.Contains(a.logText("deploy", d6.ID), "failing") {
		t.Errorf("deploy log lacks the hook's output:\n%s", a.logText("deploy", d6.ID))
	}
	if _, body := a.get("/mono/dev/api"); !strings.Contains(body, "api-v2") {
		t.Errorf("GET /api = %q after a failed before_deploy hook, want api-v2 still served", body)
	}
	_ = b6

	// 6. web depends on api, so api goes live in a phase of its own before
	// web's before_deploy hook runs: the hook sees the new api.
	if err := a.api.SetVar(ctx, "mono", "dev", "GATEWAY", apiv1.SetVarRequest{Value: a.gateway}); err != nil {
		t.Fatal(err)
	}
	seen := filepath.Join(counts, "web-saw")
	withWebHook := strings.Replace(monorepoStack(counts, "[api]", ""), "    depends_on: [api]\n",
		"    depends_on: [api]\n    hooks:\n      before_deploy: [\"curl -fsS $GATEWAY/mono/dev/api > "+seen+"\"]\n", 1)
	repo.Commit("web's hook calls api", map[string]string{"seedbed.yml": withWebHook})
	d7, b7 := deploy(false)
	mustSucceed(d7, b7)
	dlog7 := a.logText("deploy", d7.ID)
	for _, want := range []string{"Deploying in 2 phases, each after the one before it succeeded: 1. api; 2. web", "Phase 1 of 2: api", "Phase 1 of 2 is live.", "Phase 2 of 2: web"} {
		if !strings.Contains(dlog7, want) {
			t.Errorf("deploy %d log lacks %q:\n%s", d7.ID, want, dlog7)
		}
	}
	if got, err := os.ReadFile(seen); err != nil || !strings.Contains(string(got), "api-v3") {
		t.Errorf("web's before_deploy hook saw %q (%v), want api-v3 already live", got, err)
	}

	// 7. When phase 2 fails, phase 1 is put back: the stage serves its
	// previous release whole.
	repo.Commit("api v4, web that cannot start", map[string]string{
		"services/api/main.go": goFunction("api-v4"),
		"services/web/main.go": "package main\n\nimport \"os\"\n\nfunc main() { os.Exit(7) }\n",
	})
	d8, _ := deploy(false)
	if d8.Status != "failed" || !strings.Contains(d8.Error, "put back after a later phase failed") || !strings.Contains(d8.Error, "phase 2 (web)") {
		t.Errorf("deploy %d: %s: %q, want failed in phase 2 and put back", d8.ID, d8.Status, d8.Error)
	}
	if _, body := a.get("/mono/dev/api"); !strings.Contains(body, "api-v3") {
		t.Errorf("GET /api = %q after phase 2 failed, want api-v3 put back", body)
	}
	if _, body := a.get("/mono/dev/web"); !strings.Contains(body, "web-v2") {
		t.Errorf("GET /web = %q after phase 2 failed, want web-v2 still served", body)
	}
	stages, err := a.api.Stages(ctx, "mono")
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range stages {
		if st.Name == "dev" && (st.LiveRelease == nil || st.LiveRelease.ID != d7.ReleaseID) {
			t.Errorf("dev's live release = %+v, want release %d of deploy %d", st.LiveRelease, d7.ReleaseID, d7.ID)
		}
	}
}

func newMonorepo(t *testing.T, counts string) *testutil.Repo {
	t.Helper()
	repo := testutil.NewRepo(t)
	repo.Commit("two services", map[string]string{
		"seedbed.yml":          monorepoStack(counts, "", ""),
		"services/api/go.mod":  goMod,
		"services/api/main.go": goFunction("api-v1"),
		"services/web/go.mod":  goMod,
		"services/web/main.go": goFunction("web-v1"),
	})
	return repo
}
