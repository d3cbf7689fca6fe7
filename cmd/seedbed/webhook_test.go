package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
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
}
