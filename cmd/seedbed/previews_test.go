package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/web/apiv1"
)

// A preview stage's life: cloned from the template stage (its variable and
// its secret), serving the pull request's commit, updated by a second push,
// closed (routes 404, history kept, listed as closed), and kept out of the
// pipeline throughout.
func TestPreviewStageLife(t *testing.T) {
	t.Parallel()
	a := startApp(t, embedded)
	repo := a.newAppRepo("pr-app")
	ctx := context.Background()
	if err := a.api.SetVar(ctx, "pr-app", "dev", "GREETING", apiv1.SetVarRequest{Value: "from-dev"}); err != nil {
		t.Fatal(err)
	}
	if err := a.api.SetVar(ctx, "pr-app", "dev", "API_KEY", apiv1.SetVarRequest{Value: "s3cret-value", Secret: true}); err != nil {
		t.Fatal(err)
	}

	if _, err := a.api.OpenPreview(ctx, "pr-app", apiv1.PreviewRequest{Number: 7, HeadBranch: "main"}); err == nil || !strings.Contains(err.Error(), "previews enable") {
		t.Fatalf("open before previews are on: %v, want an error saying how to turn them on", err)
	}
	p, err := a.api.SetPreviews(ctx, "pr-app", apiv1.PreviewSettings{TemplateStage: "dev"})
	if err != nil || p.TemplateStage != "dev" {
		t.Fatalf("enable previews: %+v, %v", p, err)
	}

	repo.Git("checkout", "-q", "-b", "feature")
	v2 := repo.Commit("v2", map[string]string{"services/api/main.go": goFunction("v2")})
	res, err := a.api.OpenPreview(ctx, "pr-app", apiv1.PreviewRequest{Number: 7, HeadBranch: "feature", Commit: v2, Title: "Try v2"})
	if err != nil || !res.Created || res.Preview.Stage != "pr-7" {
		t.Fatalf("open preview: %+v, %v", res, err)
	}
	waitOK(a, res.Deploy.ID)
	if code, body := a.get("/pr-app/pr-7/hello"); code != 200 || body != "v2 from-dev /hello" {
		t.Fatalf("pr-7 after open: %d %q, want the commit with the template's env", code, body)
	}
	vars, err := a.api.Vars(ctx, "pr-app", "pr-7")
	if err != nil || len(vars) != 2 || vars[0].Key != "API_KEY" || !vars[0].Secret || vars[0].Value != "" {
		t.Fatalf("pr-7 vars = %+v, %v; want GREETING and the secret API_KEY, copied", vars, err)
	}
	if code, body := a.get("/pr-app/dev/hello"); code != 404 {
		t.Fatalf("dev was never deployed but answers %d %q", code, body)
	}
	stages, err := a.api.Stages(ctx, "pr-app")
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range stages {
		if strings.HasPrefix(st.Name, "pr-") {
			t.Fatalf("preview stage %s listed in the pipeline: %+v", st.Name, stages)
		}
	}

	v3 := repo.Commit("v3", map[string]string{"services/api/main.go": goFunction("v3")})
	res, err = a.api.OpenPreview(ctx, "pr-app", apiv1.PreviewRequest{Number: 7, HeadBranch: "feature", Commit: v3})
	if err != nil || res.Created {
		t.Fatalf("update preview: %+v, %v", res, err)
	}
	waitOK(a, res.Deploy.ID)
	if code, body := a.get("/pr-app/pr-7/hello"); code != 200 || body != "v3 from-dev /hello" {
		t.Fatalf("pr-7 after the second push: %d %q", code, body)
	}

	page := consolePage(t, a, "/apps/pr-app")
	if !strings.Contains(page, `data-testid="preview-pr-7"`) || !strings.Contains(page, `data-testid="preview-url-pr-7"`) ||
		!strings.Contains(page, a.GatewayURL()+"/pr-app/pr-7/") || strings.Contains(page, `data-testid="stage-pr-7"`) {
		t.Fatalf("the app page does not list pr-7 with its URL apart from the pipeline:\n%s", page)
	}
	c := cli{t: t, env: map[string]string{"SEEDBED_CLI_CONFIG": filepath.Join(t.TempDir(), "cli.json")}}
	c.must("login", "--server", a.ConsoleURL(), "--email", adminEmail, "--password", adminPassword)
	if out := c.must("previews", "list", "pr-app"); !strings.Contains(out, "cloned from dev") || !regexp.MustCompile(`#7\s+pr-7\s+open\s+feature`).MatchString(out) {
		t.Fatalf("previews list:\n%s", out)
	}

	closed, err := a.api.ClosePreview(ctx, "pr-app", 7, apiv1.RemoveOptions{})
	if err != nil || closed.Status != "closed" || closed.ClosedAt == nil {
		t.Fatalf("close: %+v, %v", closed, err)
	}
	if code, body := a.get("/pr-app/pr-7/hello"); code != 404 {
		t.Fatalf("pr-7 after close: %d %q, want 404", code, body)
	}
	p, err = a.api.Previews(ctx, "pr-app")
	if err != nil || len(p.Previews) != 1 {
		t.Fatalf("previews = %+v, %v", p, err)
	}
	if pr := p.Previews[0]; pr.Number != 7 || pr.Status != "closed" || pr.Title != "Try v2" || pr.LiveRelease != nil || pr.LastDeploy == nil {
		t.Fatalf("closed preview listed as %+v", pr)
	}
	deploys, err := a.api.Deploys(ctx, "pr-app")
	if err != nil {
		t.Fatal(err)
	}
	var history int
	for _, d := range deploys {
		if d.Stage == "pr-7" && d.Status == "succeeded" {
			history++
		}
	}
	if history != 2 {
		t.Fatalf("%d succeeded deploys of pr-7 kept after close, want 2: %+v", history, deploys)
	}
	if out := c.must("previews", "list", "pr-app"); !regexp.MustCompile(`#7\s+pr-7\s+closed`).MatchString(out) {
		t.Fatalf("previews list after close:\n%s", out)
	}
	if page := consolePage(t, a, "/apps/pr-app"); strings.Contains(page, `data-testid="preview-url-pr-7"`) || !strings.Contains(page, `data-testid="preview-pr-7"`) {
		t.Fatalf("the app page still links the closed pr-7, or no longer lists it:\n%s", page)
	}
	if _, err := a.api.ClosePreview(ctx, "pr-app", 8, apiv1.RemoveOptions{}); err == nil || !strings.Contains(err.Error(), "no preview stage") {
		t.Fatalf("closing a preview that does not exist: %v", err)
	}

	// Opening it again deploys to it once more.
	res, err = a.api.OpenPreview(ctx, "pr-app", apiv1.PreviewRequest{Number: 7, Commit: v2})
	if err != nil || res.Created {
		t.Fatalf("reopen: %+v, %v", res, err)
	}
	waitOK(a, res.Deploy.ID)
	if code, body := a.get("/pr-app/pr-7/hello"); code != 200 || body != "v2 from-dev /hello" {
		t.Fatalf("pr-7 after reopening: %d %q", code, body)
	}
}

// waitOK waits for a deploy and fails the test unless it succeeded.
func waitOK(a *testApp, id uint) apiv1.Deploy {
	a.t.Helper()
	d := a.waitDeploy(id)
	if d.Status != "succeeded" {
		a.t.Fatalf("deploy %d: %s: %s\n%s", id, d.Status, d.Error, a.logText("build", d.BuildID)+a.logText("deploy", id))
	}
	return d
}

// githubPullRequest is GitHub's pull_request delivery (testdata from
// octokit/webhooks) for pull request number at sha on branch; fork makes
// its head repository another one.
func githubPullRequest(t *testing.T, action string, number int, branch, sha string, fork bool) []byte {
	t.Helper()
	raw, err := os.ReadFile("../../pipelines/forge/testdata/github/pull_request-opened.json")
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	d["action"], d["number"] = action, number
	pr := d["pull_request"].(map[string]any)
	pr["number"], pr["title"] = number, "Preview me"
	head := pr["head"].(map[string]any)
	head["ref"], head["sha"] = branch, sha
	if fork {
		head["repo"].(map[string]any)["full_name"] = "someone/Hello-World"
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A signed pull_request delivery opens a preview stage when the app has
// previews, is ignored with a reason when it has none or the request comes
// from a fork, and a closing delivery stops the preview.
func TestWebhookPullRequestPreview(t *testing.T) {
	t.Parallel()
	a := startApp(t, embedded)
	repo := a.newAppRepo("hooked-pr")
	ctx := context.Background()
	hooks, err := a.api.Webhooks(ctx, "hooked-pr")
	if err != nil {
		t.Fatal(err)
	}
	url := hooks.URLs["github"]
	repo.Git("checkout", "-q", "-b", "changes")
	sha := repo.Commit("v2", map[string]string{"services/api/main.go": goFunction("v2")})

	code, answer := deliver(t, url, hooks.Secret, "pr-off", "pull_request", githubPullRequest(t, "opened", 2, "changes", sha, false))
	if code != 202 || !strings.Contains(answer, "no preview stages") {
		t.Fatalf("pull request with previews off: %d %s", code, answer)
	}
	if _, err := a.api.SetPreviews(ctx, "hooked-pr", apiv1.PreviewSettings{TemplateStage: "dev"}); err != nil {
		t.Fatal(err)
	}
	code, answer = deliver(t, url, hooks.Secret, "pr-fork", "pull_request", githubPullRequest(t, "opened", 3, "changes", sha, true))
	if code != 202 || !strings.Contains(answer, "fork") {
		t.Fatalf("pull request from a fork: %d %s", code, answer)
	}
	code, answer = deliver(t, url, hooks.Secret, "pr-open", "pull_request", githubPullRequest(t, "opened", 2, "changes", sha, false))
	if code != 201 || !strings.Contains(answer, `"accepted"`) {
		t.Fatalf("pull request opened: %d %s", code, answer)
	}
	p, err := a.api.Previews(ctx, "hooked-pr")
	if err != nil || len(p.Previews) != 1 || p.Previews[0].Stage != "pr-2" || p.Previews[0].LastDeploy == nil {
		t.Fatalf("previews after the delivery = %+v, %v (only pr-2, not the fork's pr-3)", p, err)
	}
	d := waitOK(a, p.Previews[0].LastDeploy.ID)
	if d.Trigger != "webhook" {
		t.Fatalf("preview deploy triggered by %q, want webhook", d.Trigger)
	}
	if code, body := a.get("/hooked-pr/pr-2/hello"); code != 200 || body != "v2 hi /hello" {
		t.Fatalf("pr-2 after the delivery: %d %q", code, body)
	}
	code, answer = deliver(t, url, hooks.Secret, "pr-close", "pull_request", githubPullRequest(t, "closed", 2, "changes", sha, false))
	if code != 200 || !strings.Contains(answer, `"accepted"`) || !strings.Contains(answer, "pr-2 stopped") {
		t.Fatalf("pull request closed: %d %s", code, answer)
	}
	hooks, _ = a.api.Webhooks(ctx, "hooked-pr")
	if d := hooks.Deliveries[0]; d.DeliveryID != "pr-close" || d.Outcome != "accepted" || !strings.Contains(d.Reason, "preview stage pr-2 stopped") {
		t.Errorf("the closing delivery is listed as %+v, want accepted with what it did", d)
	}
	if code, body := a.get("/hooked-pr/pr-2/hello"); code != 404 {
		t.Fatalf("pr-2 after the closing delivery: %d %q", code, body)
	}
}

// consolePage signs in to the console as the admin and returns the page
// at path.
func consolePage(t *testing.T, a *testApp, path string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	get := func(u string) string {
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", u, resp.StatusCode, b)
		}
		return string(b)
	}
	m := regexp.MustCompile(`name="_csrf" value="([^"]+)"`).FindStringSubmatch(get(a.ConsoleURL() + "/login"))
	if m == nil {
		t.Fatal("no CSRF field on the login page")
	}
	resp, err := c.PostForm(a.ConsoleURL()+"/login", url.Values{"email": {adminEmail}, "password": {adminPassword}, "_csrf": {m[1]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return get(a.ConsoleURL() + path)
}
