package forge

import (
	"net/http"
	"testing"
)

var gtRepoRef = RepoRef{
	FullName: "kitchen/recipes",
	CloneURL: "https://git.example.org/kitchen/recipes.git",
	HTMLURL:  "https://git.example.org/kitchen/recipes",
}

const (
	gtHead   = "8e0a2c4e6b8d0f2a4c6e8b0d2f4a6c8e0b2d4f6a"
	gtTagObj = "f0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8"
)

var gtHeadCommit = Commit{
	SHA:     gtHead,
	Message: "Speed up the index page\n",
	Author:  "linus",
	URL:     "https://git.example.org/kitchen/recipes/commit/" + gtHead,
}

func gtPR(action PRAction, merged bool, head string) *PR {
	return &PR{
		Number:     8,
		Action:     action,
		Merged:     merged,
		HeadBranch: "feature/search",
		HeadSHA:    head,
		BaseBranch: "main",
		Title:      "Add search",
		URL:        "https://git.example.org/kitchen/recipes/pulls/8",
		Author:     "margaret",
		HeadRepo:   "kitchen/recipes",
	}
}

func TestParseGitea(t *testing.T) {
	const delivery = "f6266f16-1bf3-46a5-9ea4-602e06ead473"
	ev := func(e Event) Event {
		e.Forge, e.DeliveryID, e.Repo = Gitea, delivery, gtRepoRef
		return e
	}
	pr := func(p *PR) Event {
		return ev(Event{Type: PullRequest, After: p.HeadSHA, PR: p, Sender: "margaret"})
	}
	const opened, synced = "2c4e6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f", "5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c"
	runParseCases(t, Gitea, []parseCase{
		{
			name: "push", event: "push", file: "gitea/push.json",
			want: ev(Event{Type: Push, Ref: "refs/heads/main", Branch: "main",
				Before: "6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a6c8e0b2d4f", After: gtHead,
				CommitCount: 2, HeadCommit: gtHeadCommit, Sender: "linus"}),
		},
		{
			name: "tag push", event: "push", file: "gitea/push-tag.json",
			want: ev(Event{Type: TagPush, Ref: "refs/tags/v2.0.0", Tag: "v2.0.0", After: gtTagObj,
				HeadCommit: gtHeadCommit, Sender: "linus"}),
		},
		{
			name: "branch deletion (delete event)", event: "delete", file: "gitea/delete.json",
			want: ev(Event{Type: Push, Ref: "refs/heads/feature/search", Branch: "feature/search",
				Deleted: true, Sender: "margaret"}),
		},
		{
			name: "tag deletion (delete event)", event: "delete", file: "gitea/delete.json",
			body: func(t *testing.T, b []byte) []byte {
				return editJSON(t, b, func(m map[string]any) { m["ref"], m["ref_type"] = "v1.0.0", "tag" })
			},
			want: ev(Event{Type: TagPush, Ref: "refs/tags/v1.0.0", Tag: "v1.0.0", Deleted: true, Sender: "margaret"}),
		},
		{
			name: "deletion as a push to 000…0", event: "push", file: "gitea/push.json",
			body: func(t *testing.T, b []byte) []byte {
				return editJSON(t, b, func(m map[string]any) {
					m["after"], m["commits"], m["head_commit"], m["total_commits"] = "0000000000000000000000000000000000000000", []any{}, nil, 0
				})
			},
			want: ev(Event{Type: Push, Ref: "refs/heads/main", Branch: "main",
				Before: "6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a6c8e0b2d4f", Deleted: true, Sender: "linus"}),
		},
		{
			name: "Forgejo headers only", event: "push", file: "gitea/push.json",
			header: func(h http.Header) {
				for _, n := range []string{"Signature", "Event", "Delivery"} {
					h.Set("X-Forgejo-"+n, h.Get("X-Gitea-"+n))
					h.Del("X-Gitea-" + n)
				}
			},
			want: ev(Event{Type: Push, Ref: "refs/heads/main", Branch: "main",
				Before: "6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a6c8e0b2d4f", After: gtHead,
				CommitCount: 2, HeadCommit: gtHeadCommit, Sender: "linus"}),
		},
		{
			name: "skip deploy in the head commit", event: "push", file: "gitea/push.json",
			body: func(t *testing.T, b []byte) []byte {
				return replace(t, b, "Speed up the index page\\n", "Speed up the index page [skip deploy]\\n")
			},
			want: func() Event {
				c := gtHeadCommit
				c.Message = "Speed up the index page [skip deploy]\n"
				return ev(Event{Type: Push, Ref: "refs/heads/main", Branch: "main",
					Before: "6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a6c8e0b2d4f", After: gtHead,
					CommitCount: 2, HeadCommit: c, Sender: "linus"})
			}(),
			skip: true,
		},
		{
			name: "create event is ignored", event: "create", file: "gitea/delete.json",
			err: ErrUnsupported, msg: "push event",
		},
		{
			name: "pull request opened", event: "pull_request", file: "gitea/pull_request-opened.json",
			want: pr(gtPR(Opened, false, opened)),
		},
		{
			name: "pull request synchronized", event: "pull_request", file: "gitea/pull_request-synchronized.json",
			want: pr(gtPR(Updated, false, synced)),
		},
		{
			name: "pull request merged", event: "pull_request", file: "gitea/pull_request-closed.json",
			want: pr(gtPR(Closed, true, synced)),
		},
		{
			name: "pull request closed", event: "pull_request", file: "gitea/pull_request-closed.json",
			body: func(t *testing.T, b []byte) []byte {
				return editJSON(t, b, func(m map[string]any) { obj(m, "pull_request")["merged"] = false })
			},
			want: pr(gtPR(Closed, false, synced)),
		},
		{
			name: "pull request from a fork", event: "pull_request", file: "gitea/pull_request-opened.json",
			body: func(t *testing.T, b []byte) []byte {
				return editJSON(t, b, func(m map[string]any) {
					head := obj(m, "pull_request", "head")
					head["repo_id"] = 99
					obj(head, "repo")["full_name"] = "margaret/recipes"
				})
			},
			want: func() Event {
				p := gtPR(Opened, false, opened)
				p.HeadRepo, p.Fork = "margaret/recipes", true
				return pr(p)
			}(),
		},
		{
			name: "pull request label change is ignored", event: "pull_request", file: "gitea/pull_request-opened.json",
			body: func(t *testing.T, b []byte) []byte {
				return replace(t, b, `"action": "opened"`, `"action": "label_updated"`)
			},
			err: ErrUnsupported, msg: `action "label_updated"`,
		},
	})
}
