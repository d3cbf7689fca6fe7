package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web/apiv1"
	"github.com/seedbed/seedbed/web/auth"
)

// liveRelease returns the release a stage serves.
func (a *testApp) liveRelease(app, stage string) *apiv1.Release {
	a.t.Helper()
	stages, err := a.api.Stages(context.Background(), app)
	if err != nil {
		a.t.Fatal(err)
	}
	for _, st := range stages {
		if st.Name == stage {
			return st.LiveRelease
		}
	}
	a.t.Fatalf("app %s has no stage %s", app, stage)
	return nil
}

func digests(r *apiv1.Release) map[string]string {
	out := map[string]string{}
	for _, f := range r.Functions {
		out[f.Key] = f.Digest
	}
	return out
}

// userClient signs in a user who is neither admin nor approver, and has no
// role on any app until one is given.
func (a *testApp) userClient(email string) *apiv1.Client {
	a.t.Helper()
	ctx := context.Background()
	if _, err := auth.New(a.store, 4).CreateUser(ctx, email, "user-password", false, false); err != nil {
		a.t.Fatal(err)
	}
	c := apiv1.NewClient(a.ConsoleURL(), "")
	resp, err := c.Login(ctx, apiv1.LoginRequest{Email: email, Password: "user-password"})
	if err != nil {
		a.t.Fatal(err)
	}
	c.Token = resp.Token
	return c
}

// Promotion deploys the same artifacts with no build; the next stage's
// function sees its own env; dev keeps its own.
func TestPromotionReusesArtifacts(t *testing.T) {
	t.Parallel()
	a := startApp(t, embedded)
	a.newAppRepo("promo")
	ctx := context.Background()
	a.mustDeploy("promo", "dev", "")
	if err := a.api.SetVar(ctx, "promo", "staging", "GREETING", apiv1.SetVarRequest{Value: "hallo"}); err != nil {
		t.Fatal(err)
	}
	buildsBefore, _ := a.api.Builds(ctx, "promo")

	plan, err := a.api.PlanPromotion(ctx, "promo", apiv1.PromoteRequest{From: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	if plan.To != "staging" || !plan.ChangeSet.Major || len(plan.Commits) != 1 || plan.Commits[0].Message != "first version" {
		t.Fatalf("plan = %+v", plan)
	}
	d, err := a.api.Promote(ctx, "promo", apiv1.PromoteRequest{From: "dev", ReleaseID: plan.Release.ID})
	if err != nil {
		t.Fatal(err)
	}
	if d = a.waitDeploy(d.ID); d.Status != "succeeded" || d.Trigger != "promotion" || d.SourceStage != "dev" {
		t.Fatalf("promotion deploy = %+v", d)
	}
	buildsAfter, _ := a.api.Builds(ctx, "promo")
	if len(buildsAfter) != len(buildsBefore) {
		t.Fatalf("the promotion ran a build: %d builds before, %d after", len(buildsBefore), len(buildsAfter))
	}
	dev, staging := a.liveRelease("promo", "dev"), a.liveRelease("promo", "staging")
	if dev.ID != staging.ID || fmt.Sprint(digests(dev)) != fmt.Sprint(digests(staging)) {
		t.Fatalf("staging serves release %d %v, dev %d %v: want the same artifacts", staging.ID, digests(staging), dev.ID, digests(dev))
	}
	if code, body := a.get("/promo/staging/hello"); code != 200 || body != "v1 hallo /hello" {
		t.Fatalf("staging answered %d %q, want its own env (GREETING=hallo)", code, body)
	}
	if code, body := a.get("/promo/dev/hello"); code != 200 || body != "v1 hi /hello" {
		t.Fatalf("dev answered %d %q", code, body)
	}

	// Promoting again changes nothing, and says so.
	plan, err = a.api.PlanPromotion(ctx, "promo", apiv1.PromoteRequest{From: "dev", To: "staging"})
	if err != nil || !strings.HasPrefix(plan.ChangeSet.Summary, "Nothing changes") || len(plan.Commits) != 0 {
		t.Fatalf("second plan: %+v, %v", plan, err)
	}
}

// A promotion into a stage that needs approval waits; a user who may not
// approve gets 403; a rejection changes nothing; an approval deploys.
func TestApprovalGate(t *testing.T) {
	t.Parallel()
	a := startApp(t, embedded)
	a.newAppRepo("gate")
	ctx := context.Background()
	a.mustDeploy("gate", "dev", "")
	if _, err := a.api.UpdateStage(ctx, "gate", "staging", apiv1.StageRequest{Approval: true}); err != nil {
		t.Fatal(err)
	}
	d, err := a.api.Promote(ctx, "gate", apiv1.PromoteRequest{From: "dev", To: "staging", Live: true})
	if err != nil || d.Status != "awaiting_approval" {
		t.Fatalf("promotion into an approval stage: %+v, %v", d, err)
	}
	time.Sleep(500 * time.Millisecond)
	if code, _ := a.get("/gate/staging/hello"); code != 404 {
		t.Fatalf("staging serves before approval: %d", code)
	}
	// A deployer of the app who is not an approver may not decide.
	viewer := a.userClient("dev@example.com")
	if _, err := a.api.SetMember(ctx, "gate", "dev@example.com", "deployer"); err != nil {
		t.Fatal(err)
	}
	var ae *apiv1.APIError
	if _, err := viewer.Approve(ctx, d.ID); !errors.As(err, &ae) || ae.Status != 403 {
		t.Fatalf("approval by a user who may not approve: %v, want 403", err)
	}
	if _, err := viewer.Reject(ctx, d.ID, "nope"); !errors.As(err, &ae) || ae.Status != 403 {
		t.Fatalf("rejection by a user who may not approve: %v, want 403", err)
	}
	rejected, err := a.api.Reject(ctx, d.ID, "not on a Friday")
	if err != nil || rejected.Status != "rejected" || rejected.DecidedBy != adminEmail || rejected.DecidedAt == nil || !strings.Contains(rejected.Error, "not on a Friday") {
		t.Fatalf("reject: %+v, %v", rejected, err)
	}
	if a.liveRelease("gate", "staging") != nil {
		t.Fatal("a rejected promotion changed the stage")
	}
	if _, err := a.api.Approve(ctx, d.ID); !errors.As(err, &ae) || ae.Status != 409 {
		t.Fatalf("approving a rejected deploy: %v, want 409", err)
	}

	d, err = a.api.Promote(ctx, "gate", apiv1.PromoteRequest{From: "dev", To: "staging", Live: true})
	if err != nil {
		t.Fatal(err)
	}
	approved, err := a.api.Approve(ctx, d.ID)
	if err != nil || approved.DecidedBy != adminEmail {
		t.Fatalf("approve: %+v, %v", approved, err)
	}
	if d = a.waitDeploy(d.ID); d.Status != "succeeded" {
		t.Fatalf("approved promotion: %s %s", d.Status, d.Error)
	}
	if code, body := a.get("/gate/staging/hello"); code != 200 || body != "v1 hi /hello" {
		t.Fatalf("after approval staging answered %d %q", code, body)
	}
}

// Rollback deploys the previous release again and the old response returns.
func TestRollbackRestoresOldResponse(t *testing.T) {
	t.Parallel()
	a := startApp(t, embedded)
	repo := a.newAppRepo("back")
	ctx := context.Background()
	first := a.mustDeploy("back", "dev", "")
	repo.Commit("v2", map[string]string{"services/api/main.go": goFunction("v2")})
	a.mustDeploy("back", "dev", "")
	if _, body := a.get("/back/dev/hello"); !strings.HasPrefix(body, "v2") {
		t.Fatalf("before rollback: %q", body)
	}
	d, err := a.api.Rollback(ctx, "back", "dev", apiv1.RollbackRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if d = a.waitDeploy(d.ID); d.Status != "succeeded" || d.Trigger != "rollback" || d.ReleaseID != first.ReleaseID {
		t.Fatalf("rollback deploy = %+v, want release %d", d, first.ReleaseID)
	}
	if d.ChangeSet == nil || len(d.ChangeSet.Functions) != 1 || d.ChangeSet.Functions[0].Kind != "change" || d.ChangeSet.Functions[0].Major {
		t.Fatalf("rollback change set = %+v, want one minor (code) change", d.ChangeSet)
	}
	if code, body := a.get("/back/dev/hello"); code != 200 || body != "v1 hi /hello" {
		t.Fatalf("after rollback: %d %q", code, body)
	}
	// Rolling back again goes to the release before the current one: v2.
	d, _ = a.api.Rollback(ctx, "back", "dev", apiv1.RollbackRequest{})
	if d = a.waitDeploy(d.ID); d.Status != "succeeded" {
		t.Fatal(d.Error)
	}
	if _, body := a.get("/back/dev/hello"); !strings.HasPrefix(body, "v2") {
		t.Fatalf("after the second rollback: %q", body)
	}
	var ae *apiv1.APIError
	if _, err := a.api.Rollback(ctx, "back", "staging", apiv1.RollbackRequest{}); !errors.As(err, &ae) || ae.Status != 409 {
		t.Fatalf("rollback of a stage with no history: %v, want 409", err)
	}
}

// A secret reaches the function but never the API, the database in clear,
// a change set or a log.
func TestSecretsNeverShown(t *testing.T) {
	t.Parallel()
	a := startApp(t, embedded)
	repo := a.newAppRepo("vault")
	ctx := context.Background()
	const secret = "s3cr3t-Value-9000"
	if err := a.api.SetVar(ctx, "vault", "dev", "API_KEY", apiv1.SetVarRequest{Value: secret, Secret: true}); err != nil {
		t.Fatal(err)
	}
	vars, err := a.api.Vars(ctx, "vault", "dev")
	if err != nil || len(vars) != 1 || vars[0].Value != "" || !vars[0].Secret {
		t.Fatalf("vars = %+v, %v", vars, err)
	}
	stored, _ := a.store.StageVars(ctx, 1)
	if len(stored) != 1 || strings.Contains(stored[0].Value, secret) {
		t.Fatalf("the database holds %q", stored[0].Value)
	}
	// The function prints its secret and then dies: the deploy's error
	// carries its last output, masked.
	repo.Commit("leak and crash", map[string]string{"services/api/main.go": `package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Println("key is " + os.Getenv("API_KEY"))
	os.Exit(1)
}
`})
	d, _ := a.deploy("vault", "dev", "")
	if d.Status != "failed" || !strings.Contains(d.Error, "key is ••••••") {
		t.Fatalf("deploy %s, error %q: want the masked output", d.Status, d.Error)
	}
	for _, text := range []string{d.Error, fmt.Sprint(d.ChangeSet), a.logText("deploy", d.ID), a.logText("build", d.BuildID)} {
		if strings.Contains(text, secret) {
			t.Fatalf("the secret leaked:\n%s", text)
		}
	}
}

// Many deploy requests fired at once at one stage: no two applies overlap,
// the stage ends on the newest requested release, and the others end as
// succeeded or superseded; on PostgreSQL + Redis.
func TestConcurrentDeploysToOneStage(t *testing.T) {
	t.Parallel()
	a := startApp(t, servers)
	repo := testutil.NewRepo(t)
	stackFile := `services:
  web:
    path: web
    runtime: process
    functions:
      page:
        handler: python3 -m http.server $PORT --bind 127.0.0.1
        routes: ["GET /{file+}"]
`
	const n = 6
	var shas []string
	for i := 0; i < n; i++ {
		shas = append(shas, repo.Commit(fmt.Sprintf("v%d", i), map[string]string{"seedbed.yml": stackFile, "web/version.txt": fmt.Sprintf("v%d", i)}))
	}
	ctx := context.Background()
	if _, err := a.api.CreateApp(ctx, apiv1.CreateAppRequest{Name: "busy", RepoURL: repo.Dir}); err != nil {
		t.Fatal(err)
	}
	ids := make([]uint, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// Requests arrive in order, a moment apart, as people click.
			time.Sleep(time.Duration(i) * 30 * time.Millisecond)
			resp, err := a.api.Deploy(ctx, "busy", apiv1.DeployRequest{Stage: "dev", Ref: shas[i]})
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = resp.Deploy.ID
		}(i)
	}
	wg.Wait()
	// The newest request is the one with the highest deploy id: under load
	// the requests, a moment apart, may still arrive out of order.
	var newest apiv1.Deploy
	newestVersion := -1
	var spans [][2]time.Time
	statuses := map[string]int{}
	for i, id := range ids {
		d := a.waitDeploy(id)
		statuses[d.Status]++
		if d.Status != "succeeded" && d.Status != "superseded" {
			t.Errorf("deploy %d ended %s: %s", d.ID, d.Status, d.Error)
		}
		if d.StartedAt != nil && d.FinishedAt != nil {
			spans = append(spans, [2]time.Time{*d.StartedAt, *d.FinishedAt})
		}
		if d.ID > newest.ID {
			newest, newestVersion = d, i
		}
	}
	for i := range spans {
		for j := range spans {
			if i != j && spans[i][0].Before(spans[j][1]) && spans[j][0].Before(spans[i][1]) {
				t.Fatalf("two applies overlapped: %v and %v", spans[i], spans[j])
			}
		}
	}
	if newest.Status != "succeeded" {
		t.Fatalf("the newest deploy #%d ended %s", newest.ID, newest.Status)
	}
	if code, body := a.get("/busy/dev/version.txt"); code != 200 || strings.TrimSpace(body) != fmt.Sprintf("v%d", newestVersion) {
		t.Fatalf("the stage serves %d %q, want v%d of the newest deploy #%d", code, body, newestVersion, newest.ID)
	}
	t.Logf("%d requests: %v", n, statuses)
}

// Cancelling a running build stops it and its deploy; the stage keeps what it had.
func TestCancelBuild(t *testing.T) {
	a := startApp(t, embedded)
	repo := a.newAppRepo("stop")
	ctx := context.Background()
	a.mustDeploy("stop", "dev", "")
	repo.Commit("slow hook", map[string]string{"seedbed.yml": strings.Replace(stackFile(helloFunction), "    runtime: go\n", "    runtime: go\n    hooks:\n      before_build: [\"echo waiting; sleep 60\"]\n", 1)})
	resp, err := a.api.Deploy(ctx, "stop", apiv1.DeployRequest{Stage: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(a.logText("build", resp.Build.ID), "waiting") {
		if time.Now().After(deadline) {
			t.Fatal("the hook did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}
	start := time.Now()
	if _, err := a.api.CancelBuild(ctx, resp.Build.ID); err != nil {
		t.Fatal(err)
	}
	d := a.waitDeploy(resp.Deploy.ID)
	b, _ := a.api.Build(ctx, resp.Build.ID)
	if b.Status != "cancelled" || d.Status != "cancelled" || time.Since(start) > 20*time.Second {
		t.Fatalf("after cancel: build %s, deploy %s, in %s", b.Status, d.Status, time.Since(start))
	}
	if code, body := a.get("/stop/dev/hello"); code != 200 || body != "v1 hi /hello" {
		t.Fatalf("after the cancelled build the stage answers %d %q", code, body)
	}
}

// Stages: created, reordered and deleted through the API; declared in
// seedbed.yml they appear on the next build; protected ones refuse direct deploys.
func TestStageManagement(t *testing.T) {
	t.Parallel()
	a := startApp(t, embedded)
	repo := a.newAppRepo("stagey")
	ctx := context.Background()
	if _, err := a.api.CreateStage(ctx, "stagey", apiv1.StageRequest{Name: "qa", Branch: "release/*"}); err != nil {
		t.Fatal(err)
	}
	var ae *apiv1.APIError
	if _, err := a.api.CreateStage(ctx, "stagey", apiv1.StageRequest{Name: "qa"}); !errors.As(err, &ae) || ae.Status != 409 {
		t.Fatalf("duplicate stage: %v", err)
	}
	if _, err := a.api.CreateStage(ctx, "stagey", apiv1.StageRequest{Name: "../x"}); !errors.As(err, &ae) || ae.Status != 422 {
		t.Fatalf("bad stage name: %v", err)
	}
	stages, err := a.api.ReorderStages(ctx, "stagey", []string{"dev", "qa", "staging", "prod"})
	if err != nil || len(stages) != 4 || stages[1].Name != "qa" {
		t.Fatalf("reorder: %+v, %v", stages, err)
	}
	if _, err := a.api.UpdateStage(ctx, "stagey", "prod", apiv1.StageRequest{Protected: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.api.Deploy(ctx, "stagey", apiv1.DeployRequest{Stage: "prod"}); !errors.As(err, &ae) || ae.Status != 409 || !strings.Contains(ae.Error(), "protected") {
		t.Fatalf("direct deploy to a protected stage: %v", err)
	}
	repo.Commit("declare stages", map[string]string{"seedbed.yml": stackFile(helloFunction) + "stages:\n  - name: dev\n    branch: main\n  - name: canary\n    approval: true\n"})
	a.mustDeploy("stagey", "dev", "")
	stages, _ = a.api.Stages(ctx, "stagey")
	if len(stages) != 5 || stages[4].Name != "canary" || !stages[4].Approval {
		t.Fatalf("stages after a build of a stack that declares canary: %+v", stages)
	}
	if err := a.api.DeleteStage(ctx, "stagey", "dev", apiv1.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if code, _ := a.get("/stagey/dev/hello"); code != 404 {
		t.Fatalf("a deleted stage still answers: %d", code)
	}
	if _, err := a.store.StageByName(ctx, 1, "dev"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted stage still stored: %v", err)
	}
}
