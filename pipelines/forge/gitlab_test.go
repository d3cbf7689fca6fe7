package forge

import "testing"

var glRepoRef = RepoRef{
	FullName: "acme/web-shop",
	CloneURL: "https://gitlab.example.com/acme/web-shop.git",
	HTMLURL:  "https://gitlab.example.com/acme/web-shop",
}

const (
	glHead    = "9c2e4a7b1d3f5e8a0c6b2d4f7e9a1c3b5d8f0e2a"
	glMRHead  = "c4e6a8b0d2f4e6a8c0b2d4f6e8a0c2b4d6f8e0a2"
	glMRURL   = "https://gitlab.example.com/acme/web-shop/-/merge_requests/17"
	glTagObj  = "7d1f3b5e9a2c4e6b8d0f1a3c5e7b9d2f4a6c8e0b"
	glOldRev  = "a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9"
	glPrevTip = "5f1d3c0e8a4b2f7c9d6e1a3b5c7d9e0f1a2b3c4d"
)

var glHeadCommit = Commit{
	SHA:     glHead,
	Message: "Fix login redirect loop\n\nThe session cookie was set on the wrong path.\n",
	Author:  "Ada Lovelace",
	URL:     "https://gitlab.example.com/acme/web-shop/-/commit/" + glHead,
}

func glMR(action PRAction, merged bool, author string) *PR {
	return &PR{
		Number:     17,
		Action:     action,
		Merged:     merged,
		HeadBranch: "feature/search",
		HeadSHA:    glMRHead,
		BaseBranch: "main",
		Title:      "Add search",
		URL:        glMRURL,
		Author:     author,
		HeadRepo:   "acme/web-shop",
	}
}

func TestParseGitLab(t *testing.T) {
	const delivery = "13792a34-cac6-4fda-95a8-c58e00a3954e"
	ev := func(e Event) Event {
		e.Forge, e.DeliveryID, e.Repo = GitLab, delivery, glRepoRef
		return e
	}
	mr := func(p *PR, before, message string) Event {
		return ev(Event{Type: PullRequest, After: glMRHead, Before: before, PR: p, Sender: "grace",
			HeadCommit: Commit{SHA: glMRHead, Message: message, Author: "Grace Hopper",
				URL: "https://gitlab.example.com/acme/web-shop/-/commit/" + glMRHead}})
	}
	runParseCases(t, GitLab, []parseCase{
		{
			name: "push", event: "Push Hook", file: "gitlab/push.json",
			want: ev(Event{Type: Push, Ref: "refs/heads/main", Branch: "main", Before: glPrevTip, After: glHead,
				CommitCount: 3, HeadCommit: glHeadCommit, Sender: "ada"}),
		},
		{
			name: "branch deletion", event: "Push Hook", file: "gitlab/push-delete.json",
			want: ev(Event{Type: Push, Ref: "refs/heads/feature/search", Branch: "feature/search",
				Before: "4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c", Deleted: true, Sender: "ada"}),
		},
		{
			// after is the annotated tag object; checkout_sha the commit.
			name: "tag push", event: "Tag Push Hook", file: "gitlab/tag_push.json",
			want: ev(Event{Type: TagPush, Ref: "refs/tags/v1.4.0", Tag: "v1.4.0", After: glTagObj,
				HeadCommit: Commit{SHA: glHead}, Sender: "ada"}),
		},
		{
			name: "tag deletion", event: "Tag Push Hook", file: "gitlab/tag_push.json",
			body: func(t *testing.T, b []byte) []byte {
				return editJSON(t, b, func(m map[string]any) {
					m["before"], m["after"], m["checkout_sha"] = glTagObj, "0000000000000000000000000000000000000000", nil
				})
			},
			want: ev(Event{Type: TagPush, Ref: "refs/tags/v1.4.0", Tag: "v1.4.0", Before: glTagObj, Deleted: true, Sender: "ada"}),
		},
		{
			name: "sender falls back to user_name", event: "Tag Push Hook", file: "gitlab/tag_push.json",
			body: func(t *testing.T, b []byte) []byte {
				return editJSON(t, b, func(m map[string]any) { delete(m, "user_username") })
			},
			want: ev(Event{Type: TagPush, Ref: "refs/tags/v1.4.0", Tag: "v1.4.0", After: glTagObj,
				HeadCommit: Commit{SHA: glHead}, Sender: "Ada Lovelace"}),
		},
		{
			name: "skip deploy in the head commit", event: "Push Hook", file: "gitlab/push.json",
			body: func(t *testing.T, b []byte) []byte {
				return replace(t, b, "Fix login redirect loop\\n", "Fix login redirect loop [DEPLOY SKIP]\\n")
			},
			want: func() Event {
				c := glHeadCommit
				c.Message = "Fix login redirect loop [DEPLOY SKIP]\n\nThe session cookie was set on the wrong path.\n"
				return ev(Event{Type: Push, Ref: "refs/heads/main", Branch: "main", Before: glPrevTip, After: glHead,
					CommitCount: 3, HeadCommit: c, Sender: "ada"})
			}(),
			skip: true,
		},
		{
			name: "merge request opened", event: "Merge Request Hook", file: "gitlab/merge_request-open.json",
			want: mr(glMR(Opened, false, "grace"), "", "Add search box to the header"),
		},
		{
			name: "merge request updated with new commits", event: "Merge Request Hook", file: "gitlab/merge_request-update.json",
			want: mr(glMR(Updated, false, ""), glOldRev, "Debounce search input [skip deploy]"),
			skip: true,
		},
		{
			name: "merge request closed", event: "Merge Request Hook", file: "gitlab/merge_request-close.json",
			want: mr(glMR(Closed, false, ""), "", "Add search box to the header"),
		},
		{
			name: "merge request merged", event: "Merge Request Hook", file: "gitlab/merge_request-merge.json",
			want: mr(glMR(Closed, true, ""), "", "Add search box to the header"),
		},
		{
			name: "merge request from a fork", event: "Merge Request Hook", file: "gitlab/merge_request-open.json",
			body: func(t *testing.T, b []byte) []byte {
				return editJSON(t, b, func(m map[string]any) {
					oa := obj(m, "object_attributes")
					oa["source_project_id"] = 99
					obj(oa, "source")["path_with_namespace"] = "grace/web-shop"
				})
			},
			want: func() Event {
				p := glMR(Opened, false, "grace")
				p.HeadRepo, p.Fork = "grace/web-shop", true
				return mr(p, "", "Add search box to the header")
			}(),
		},
		{
			name: "merge request edited without new commits is ignored", event: "Merge Request Hook",
			file: "gitlab/merge_request-update.json",
			body: func(t *testing.T, b []byte) []byte {
				return editJSON(t, b, func(m map[string]any) { delete(obj(m, "object_attributes"), "oldrev") })
			},
			err: ErrUnsupported, msg: "without new commits",
		},
		{
			name: "merge request approved is ignored", event: "Merge Request Hook", file: "gitlab/merge_request-open.json",
			body: func(t *testing.T, b []byte) []byte { return replace(t, b, `"action": "open"`, `"action": "approved"`) },
			err:  ErrUnsupported, msg: `action "approved"`,
		},
		{
			name: "merge request opened without last commit", event: "Merge Request Hook", file: "gitlab/merge_request-open.json",
			body: func(t *testing.T, b []byte) []byte {
				return editJSON(t, b, func(m map[string]any) { delete(obj(m, "object_attributes"), "last_commit") })
			},
			err: ErrMalformed, msg: "last_commit",
		},
		{
			name: "merge request closed without last commit", event: "Merge Request Hook", file: "gitlab/merge_request-close.json",
			body: func(t *testing.T, b []byte) []byte {
				return editJSON(t, b, func(m map[string]any) { delete(obj(m, "object_attributes"), "last_commit") })
			},
			want: ev(Event{Type: PullRequest, Sender: "grace", PR: func() *PR {
				p := glMR(Closed, false, "")
				p.HeadSHA = ""
				return p
			}()}),
		},
	})
}
