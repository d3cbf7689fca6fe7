package forge

import (
	"net/http"
	"net/url"
	"testing"
)

var ghRepoRef = RepoRef{
	FullName: "Codertocat/Hello-World",
	CloneURL: "https://github.com/Codertocat/Hello-World.git",
	HTMLURL:  "https://github.com/Codertocat/Hello-World",
}

const ghInitial = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"

var ghInitialCommit = Commit{
	SHA:     ghInitial,
	Message: "Initial commit",
	Author:  "Codertocat",
	URL:     "https://github.com/Codertocat/Hello-World/commit/" + ghInitial,
}

func ghPR(action PRAction, merged bool) *PR {
	return &PR{
		Number:     2,
		Action:     action,
		Merged:     merged,
		HeadBranch: "changes",
		HeadSHA:    "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
		BaseBranch: "master",
		Title:      "Update the README with new information.",
		URL:        "https://github.com/Codertocat/Hello-World/pull/2",
		Author:     "Codertocat",
		HeadRepo:   "Codertocat/Hello-World",
	}
}

func TestParseGitHub(t *testing.T) {
	const delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
	push := func(e Event) Event {
		e.Forge, e.DeliveryID, e.Repo, e.Sender = GitHub, delivery, ghRepoRef, "Codertocat"
		return e
	}
	pr := func(p *PR, before string) Event {
		return push(Event{Type: PullRequest, After: p.HeadSHA, Before: before, PR: p})
	}
	runParseCases(t, GitHub, []parseCase{
		{
			name: "push creating a branch", event: "push", file: "github/push-new-branch.json",
			want: push(Event{Type: Push, Ref: "refs/heads/master", Branch: "master",
				After: ghInitial, CommitCount: 1, HeadCommit: ghInitialCommit}),
		},
		{
			name: "tag push", event: "push", file: "github/push-new-branch.json",
			body: func(t *testing.T, b []byte) []byte { return replace(t, b, `"refs/heads/master"`, `"refs/tags/v1.0.0"`) },
			want: push(Event{Type: TagPush, Ref: "refs/tags/v1.0.0", Tag: "v1.0.0",
				After: ghInitial, CommitCount: 1, HeadCommit: ghInitialCommit}),
		},
		{
			name: "tag deletion", event: "push", file: "github/push.json",
			want: push(Event{Type: TagPush, Ref: "refs/tags/simple-tag", Tag: "simple-tag",
				Before: ghInitial, Deleted: true}),
		},
		{
			name: "branch deletion", event: "push", file: "github/push.json",
			body: func(t *testing.T, b []byte) []byte {
				return replace(t, b, `"refs/tags/simple-tag"`, `"refs/heads/feature/login"`)
			},
			want: push(Event{Type: Push, Ref: "refs/heads/feature/login", Branch: "feature/login",
				Before: ghInitial, Deleted: true}),
		},
		{
			name: "skip deploy in the head commit", event: "push", file: "github/push-new-branch.json",
			body: func(t *testing.T, b []byte) []byte {
				return replace(t, b, `"message": "Initial commit"`, `"message": "Initial commit\n\n[Skip Deploy]"`)
			},
			want: func() Event {
				c := ghInitialCommit
				c.Message = "Initial commit\n\n[Skip Deploy]"
				return push(Event{Type: Push, Ref: "refs/heads/master", Branch: "master",
					After: ghInitial, CommitCount: 1, HeadCommit: c})
			}(),
			skip: true,
		},
		{
			name: "push to a ref that is not a branch or tag", event: "push", file: "github/push-new-branch.json",
			body: func(t *testing.T, b []byte) []byte {
				return replace(t, b, `"refs/heads/master"`, `"refs/notes/commits"`)
			},
			err: ErrUnsupported, msg: "refs/notes/commits",
		},
		{
			name: "form-encoded push", event: "push", file: "github/push-new-branch.json",
			body: func(t *testing.T, b []byte) []byte {
				return []byte(url.Values{"payload": {string(b)}}.Encode())
			},
			header: func(h http.Header) { h.Set("Content-Type", "application/x-www-form-urlencoded") },
			want: push(Event{Type: Push, Ref: "refs/heads/master", Branch: "master",
				After: ghInitial, CommitCount: 1, HeadCommit: ghInitialCommit}),
		},
		{
			name: "pull request opened", event: "pull_request", file: "github/pull_request-opened.json",
			want: pr(ghPR(Opened, false), ""),
		},
		{
			name: "pull request synchronized", event: "pull_request", file: "github/pull_request-synchronize.json",
			want: pr(ghPR(Updated, false), "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"),
		},
		{
			name: "pull request closed", event: "pull_request", file: "github/pull_request-closed.json",
			want: pr(ghPR(Closed, false), ""),
		},
		{
			name: "pull request merged", event: "pull_request", file: "github/pull_request-closed.json",
			body: func(t *testing.T, b []byte) []byte {
				return editJSON(t, b, func(m map[string]any) { obj(m, "pull_request")["merged"] = true })
			},
			want: pr(ghPR(Closed, true), ""),
		},
		{
			name: "pull request from a fork", event: "pull_request", file: "github/pull_request-opened.json",
			body: func(t *testing.T, b []byte) []byte {
				return editJSON(t, b, func(m map[string]any) {
					obj(m, "pull_request", "head", "repo")["full_name"] = "someone/Hello-World"
				})
			},
			want: func() Event {
				p := ghPR(Opened, false)
				p.HeadRepo, p.Fork = "someone/Hello-World", true
				return pr(p, "")
			}(),
		},
		{
			name: "pull request from a deleted fork", event: "pull_request", file: "github/pull_request-closed.json",
			body: func(t *testing.T, b []byte) []byte {
				return editJSON(t, b, func(m map[string]any) { obj(m, "pull_request", "head")["repo"] = nil })
			},
			want: func() Event {
				p := ghPR(Closed, false)
				p.HeadRepo, p.Fork = "", true
				return pr(p, "")
			}(),
		},
		{
			name: "pull request labeled is ignored", event: "pull_request", file: "github/pull_request-opened.json",
			body: func(t *testing.T, b []byte) []byte { return replace(t, b, `"action": "opened"`, `"action": "labeled"`) },
			err:  ErrUnsupported, msg: `action "labeled"`,
		},
		{
			name: "pull request edited is ignored", event: "pull_request", file: "github/pull_request-opened.json",
			body: func(t *testing.T, b []byte) []byte { return replace(t, b, `"action": "opened"`, `"action": "edited"`) },
			err:  ErrUnsupported,
		},
		{
			name: "pull request without head", event: "pull_request", file: "github/pull_request-opened.json",
			body: func(t *testing.T, b []byte) []byte {
				return editJSON(t, b, func(m map[string]any) { delete(obj(m, "pull_request"), "head") })
			},
			err: ErrMalformed, msg: "pull_request.head",
		},
	})
}

func TestParseGitHubPing(t *testing.T) {
	body := []byte(`{"zen":"Design for failure.","hook_id":109948940,` +
		`"hook":{"type":"Repository","id":109948940,"name":"web","active":true,"events":["push","pull_request"],` +
		`"config":{"content_type":"json","insecure_ssl":"0","url":"https://seedbed.example.com/webhooks/github/shop"}},` +
		`"repository":{"full_name":"Codertocat/Hello-World","clone_url":"https://github.com/Codertocat/Hello-World.git",` +
		`"html_url":"https://github.com/Codertocat/Hello-World"},"sender":{"login":"Codertocat"}}`)
	got, err := Parse(GitHub, testSecret, signed(GitHub, "ping", testSecret, body), body)
	if err != nil {
		t.Fatal(err)
	}
	if got.Type != Ping || got.Repo != ghRepoRef || got.Sender != "Codertocat" {
		t.Errorf("Parse(ping) = %s", dump(got))
	}
	if want := "ping received from GitHub for Codertocat/Hello-World"; got.Summary() != want {
		t.Errorf("Summary() = %q, want %q", got.Summary(), want)
	}
}
