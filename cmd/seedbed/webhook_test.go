package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web/apiv1"
)

// githubPush is a push delivery shaped like GitHub's (see
// pipelines/forge/testdata for whole real ones).
func githubPush(ref, sha, message string) []byte {
	b, _ := json.Marshal(map[string]any{
		"ref": ref, "before": strings.Repeat("0", 40), "after": sha, "created": false, "deleted": false,
		"repository": map[string]any{"full_name": "octo/shop", "clone_url": "https://github.com/octo/shop.git", "html_url": "https://github.com/octo/shop"},
		"head_commit": map[string]any{"id": sha, "message": message, "url": "https://github.com/octo/shop/commit/" + sha,
			"author": map[string]any{"name": "Octo Cat", "email": "octo@example.com"}},
		"commits": []any{map[string]any{"id": sha, "message": message}},
		"sender":  map[string]any{"login": "octocat"},
		"pusher":  map[string]any{"name": "octocat"},
	})
	return b
}

// deliver posts a GitHub delivery signed with secret.
func deliver(t *testing.T, url, secret, id, event string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", id)
	if secret != "" {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A signed push deploys the stages following the branch; forged, replayed,
// oversized and uninteresting deliveries change nothing and are recorded.
func TestWebhookPushDeploys(t *testing.T) {
	t.Parallel()
	a := startApp(t, embedded)
	repo := a.newAppRepo("hooked")
	ctx := context.Background()
	hooks, err := a.api.Webhooks(ctx, "hooked")
	if err != nil || len(hooks.Secret) < 32 || hooks.URLs["github"] != a.ConsoleURL()+"/hooks/github/hooked" {
		t.Fatalf("webhooks = %+v, %v", hooks, err)
	}
	url := hooks.URLs["github"]
	sha := repo.Git("rev-parse", "HEAD")
	builds := func() int { bs, _ := a.api.Builds(ctx, "hooked"); return len(bs) }

	tests := []struct {
		name       string
		secret, id string
		event      string
		body       []byte
		wantStatus int
		wantText   string
	}{
		{"wrong signature", "not-the-secret", "d-1", "push", githubPush("refs/heads/main", sha, "x"), 401, "does not match"},
		{"missing signature", "", "d-2", "push", githubPush("refs/heads/main", sha, "x"), 401, "X-Hub-Signature-256 header is missing"},
		{"malformed body", hooks.Secret, "d-3", "push", []byte("{not json"), 400, ""},
		{"too large", hooks.Secret, "d-4", "push", bytes.Repeat([]byte(" "), 6<<20), 413, ""},
		{"unknown event", hooks.Secret, "d-5", "issues", []byte(`{"action":"opened"}`), 202, "ignored"},
		{"branch nobody follows", hooks.Secret, "d-6", "push", githubPush("refs/heads/feature", sha, "x"), 202, "no stage follows branch feature"},
		{"skip deploy", hooks.Secret, "d-7", "push", githubPush("refs/heads/main", sha, "docs [skip deploy]"), 202, "skip deploy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := deliver(t, url, tt.secret, tt.id, tt.event, tt.body)
			if code != tt.wantStatus || !strings.Contains(body, tt.wantText) {
				t.Fatalf("got %d %s, want %d containing %q", code, body, tt.wantStatus, tt.wantText)
			}
		})
	}
	if n := builds(); n != 0 {
		t.Fatalf("%d builds started by deliveries that should start none", n)
	}

	// main moves on before the delivery arrives: the build is of the
	// commit the delivery names, not of main's tip.
	later := repo.Commit("later", map[string]string{"NOTES": "later\n"})
	body := githubPush("refs/heads/main", sha, "first version")
	code, answer := deliver(t, url, hooks.Secret, "d-ok", "push", body)
	if code != 201 || !strings.Contains(answer, `"accepted"`) {
		t.Fatalf("valid push: %d %s", code, answer)
	}
	if code, answer := deliver(t, url, hooks.Secret, "d-ok", "push", body); code != 409 || !strings.Contains(answer, "received already") {
		t.Fatalf("replayed delivery: %d %s", code, answer)
	}
	if n := builds(); n != 1 {
		t.Fatalf("%d builds after one valid push and a replay, want 1", n)
	}
	deploys, _ := a.api.Deploys(ctx, "hooked")
	if len(deploys) != 1 || deploys[0].Stage != "dev" || deploys[0].Trigger != "webhook" || deploys[0].TriggeredBy != "octocat" {
		t.Fatalf("deploys = %+v", deploys)
	}
	if d := a.waitDeploy(deploys[0].ID); d.Status != "succeeded" {
		t.Fatalf("webhook deploy %s: %s", d.Status, d.Error)
	}
	if code, body := a.get("/hooked/dev/hello"); code != 200 || body != "v1 hi /hello" {
		t.Fatalf("after the webhook deploy: %d %q", code, body)
	}

	hooks, _ = a.api.Webhooks(ctx, "hooked")
	outcomes := map[string]string{}
	for _, d := range hooks.Deliveries {
		outcomes[d.DeliveryID] = d.Outcome
	}
	want := map[string]string{"d-1": "rejected", "d-2": "rejected", "d-3": "rejected", "d-5": "ignored", "d-6": "ignored", "d-7": "ignored", "d-ok": "accepted"}
	for id, o := range want {
		if outcomes[id] != o {
			t.Errorf("delivery %s recorded as %q, want %q (all: %v)", id, outcomes[id], o, outcomes)
		}
	}
	// The refused replay is recorded too, as refused deliveries are.
	if d := hooks.Deliveries[0]; d.DeliveryID != "d-ok" || d.Outcome != "rejected" || !strings.Contains(d.Reason, "received already") || d.Event != "push" {
		t.Errorf("newest delivery %+v, want the replay of d-ok, rejected", d)
	}

	// The build is listed under the branch pushed and built that commit.
	bs, err := a.api.ListBuilds(ctx, "hooked", apiv1.BuildsQuery{Ref: "main", Trigger: "webhook"})
	if err != nil || len(bs) != 1 || bs[0].Commit != sha || bs[0].Status != "succeeded" {
		t.Fatalf("builds of main by webhook: %v, %+v; want one of %s (not main's tip %s)", err, bs, sha, later)
	}

	// An annotated tag: GitHub's after is the tag object. With no
	// head_commit to name the commit, the build peels the tag.
	if _, err := a.api.UpdateStage(ctx, "hooked", "dev", apiv1.StageRequest{Branch: "tag:v*"}); err != nil {
		t.Fatal(err)
	}
	commit := repo.Commit("v2", map[string]string{"services/api/main.go": goFunction("v2")})
	repo.Git("tag", "-a", "v2.0.0", "-m", "release 2.0.0")
	tagObject := repo.Git("rev-parse", "v2.0.0")
	var tagPush map[string]any
	_ = json.Unmarshal(githubPush("refs/tags/v2.0.0", tagObject, ""), &tagPush)
	tagPush["head_commit"], tagPush["commits"] = nil, []any{}
	body, _ = json.Marshal(tagPush)
	if code, answer := deliver(t, url, hooks.Secret, "d-tag", "push", body); code != 201 {
		t.Fatalf("annotated tag push: %d %s", code, answer)
	}
	deploys, _ = a.api.Deploys(ctx, "hooked")
	if d := a.waitDeploy(deploys[0].ID); d.Status != "succeeded" {
		t.Fatalf("deploy of the tag: %s: %s", d.Status, d.Error)
	}
	if code, body := a.get("/hooked/dev/hello"); code != 200 || body != "v2 hi /hello" {
		t.Fatalf("after the tag's deploy: %d %q", code, body)
	}
	bs, err = a.api.ListBuilds(ctx, "hooked", apiv1.BuildsQuery{Ref: "v2.0.0"})
	if err != nil || len(bs) != 1 || bs[0].Commit != commit {
		t.Fatalf("builds of v2.0.0: %v, %+v; want one of the commit %s (tag object %s)", err, bs, commit, tagObject)
	}

	// Replays count as failed deliveries of their sender: one who keeps
	// replaying is throttled, so the rows they add stay few.
	replays, first := 0, githubPush("refs/heads/main", sha, "first version")
	for code, _ := deliver(t, url, hooks.Secret, "d-ok", "push", first); code != 429; code, _ = deliver(t, url, hooks.Secret, "d-ok", "push", first) {
		if replays++; replays > 20 {
			t.Fatal("20 more replays and the sender is not throttled")
		}
	}
}

// githubFixture reads one of GitHub's own example deliveries (kept unchanged
// in pipelines/forge/testdata/github), with every occurrence of the commit
// it names replaced by sha, so that the build finds the commit in the app's
// repository.
func githubFixture(t *testing.T, name, sha string) []byte {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("..", "..", "pipelines", "forge", "testdata", "github", name))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(body, []byte("6113728f27ae82c7b1a177c8d03f9e96e0adf246")) {
		t.Fatalf("%s no longer names the commit the test replaces", name)
	}
	return bytes.ReplaceAll(body, []byte("6113728f27ae82c7b1a177c8d03f9e96e0adf246"), []byte(sha))
}

// The same push delivered again under a new delivery id (a signed body
// re-sent, or a forge that redelivers under a new id) builds nothing more:
// it is recorded as a duplicate and answered 200, even when the copies
// arrive at once. A delivery id seen before is still a replay (409).
func TestWebhookSamePushBuildsOnce(t *testing.T) {
	t.Parallel()
	for _, be := range []backend{embedded, servers} {
		t.Run(be.name, func(t *testing.T) { testWebhookSamePushBuildsOnce(t, be) })
	}
}

func testWebhookSamePushBuildsOnce(t *testing.T, be backend) {
	a := startApp(t, be)
	ctx := context.Background()
	repo := testutil.NewRepo(t)
	sha1 := repo.Commit("v1", map[string]string{"seedbed.yml": staticSite, "site/version.txt": "v1\n"})
	if _, err := a.api.CreateApp(ctx, apiv1.CreateAppRequest{Name: "dupes", RepoURL: repo.Dir, Branch: "master"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.api.UpdateStage(ctx, "dupes", "dev", apiv1.StageRequest{Branch: "master"}); err != nil {
		t.Fatal(err)
	}
	hooks, err := a.api.Webhooks(ctx, "dupes")
	if err != nil {
		t.Fatal(err)
	}
	// The database holds the secret sealed; GitHub's deliveries below are
	// signed with the opened one the API shows.
	if app, err := a.store.AppByName(ctx, "dupes"); err != nil || !pipelines.IsSealed(app.WebhookSecret) || strings.Contains(app.WebhookSecret, hooks.Secret) {
		t.Fatalf("apps.webhook_secret holds %q (%v), want it sealed", app.WebhookSecret, err)
	}
	url := hooks.URLs["github"]
	builds := func() int { bs, _ := a.api.Builds(ctx, "dupes"); return len(bs) }

	body := githubFixture(t, "push-new-branch.json", sha1)
	steps := []struct {
		name       string
		id         string
		wantStatus int
		wantText   string
		wantBuilds int
	}{
		{name: "first delivery", id: "gh-1", wantStatus: 201, wantText: `"accepted"`, wantBuilds: 1},
		{name: "same push, new delivery id", id: "gh-2", wantStatus: 200, wantText: "already taken by delivery gh-1, which started build #", wantBuilds: 1},
		{name: "same delivery again", id: "gh-2", wantStatus: 409, wantText: "received already", wantBuilds: 1},
		{name: "first delivery again", id: "gh-1", wantStatus: 409, wantText: "received already", wantBuilds: 1},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			code, answer := deliver(t, url, hooks.Secret, st.id, "push", body)
			if code != st.wantStatus || !strings.Contains(answer, st.wantText) {
				t.Fatalf("got %d %s; want %d containing %q", code, answer, st.wantStatus, st.wantText)
			}
			if n := builds(); n != st.wantBuilds {
				t.Fatalf("%d builds, want %d", n, st.wantBuilds)
			}
		})
	}

	// A new push, delivered five times at once under five ids: one build.
	sha2 := repo.Commit("v2", map[string]string{"site/version.txt": "v2\n"})
	body = githubFixture(t, "push-new-branch.json", sha2)
	codes := make([]int, 5)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _ = deliver(t, url, hooks.Secret, fmt.Sprintf("gh-race-%d", i), "push", body)
		}()
	}
	wg.Wait()
	created, dup := 0, 0
	for _, c := range codes {
		switch c {
		case 201:
			created++
		case 200:
			dup++
		}
	}
	if created != 1 || dup != 4 {
		t.Errorf("five deliveries of one push at once answered %v; want one 201 and four 200", codes)
	}
	if n := builds(); n != 2 {
		t.Errorf("%d builds after two pushes, each delivered several times; want 2", n)
	}

	hooks, _ = a.api.Webhooks(ctx, "dupes")
	outcomes := map[string]string{}
	for _, d := range hooks.Deliveries {
		outcomes[d.DeliveryID] = d.Outcome
	}
	if outcomes["gh-1"] != "accepted" || outcomes["gh-2"] != "duplicate" {
		t.Errorf("deliveries recorded as %v; want gh-1 accepted and gh-2 duplicate", outcomes)
	}
}
