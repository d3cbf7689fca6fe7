package forge

import (
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"testing"
)

var bbRepoRef = RepoRef{
	FullName: "orbit/telemetry",
	CloneURL: "https://bitbucket.org/orbit/telemetry.git",
	HTMLURL:  "https://bitbucket.org/orbit/telemetry",
}

const (
	bbHead = "a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6"
	bbPrev = "2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f"
)

var bbHeadCommit = Commit{
	SHA:     bbHead,
	Message: "Retry uplink on timeout\n",
	Author:  "hedy",
	URL:     "https://bitbucket.org/orbit/telemetry/commits/" + bbHead,
}

func bbPR(action PRAction, merged bool, head string) *PR {
	return &PR{
		Number:     5,
		Action:     action,
		Merged:     merged,
		HeadBranch: "feature/uplink",
		HeadSHA:    head,
		BaseBranch: "main",
		Title:      "Add uplink retries",
		URL:        "https://bitbucket.org/orbit/telemetry/pull-requests/5",
		Author:     "aturing",
		HeadRepo:   "orbit/telemetry",
	}
}

const bbDelivery = "afe4a4b1-4a8c-4e6f-8f53-0f8a3b1e2c9d"

func bbEvent(e Event) Event {
	e.Forge, e.DeliveryID, e.Repo = Bitbucket, bbDelivery, bbRepoRef
	return e
}

func TestParseBitbucket(t *testing.T) {
	ev := bbEvent
	pr := func(p *PR) Event { return ev(Event{Type: PullRequest, After: p.HeadSHA, PR: p, Sender: "aturing"}) }
	runParseCases(t, Bitbucket, []parseCase{
		{
			name: "push", event: "repo:push", file: "bitbucket/repo-push.json",
			want: ev(Event{Type: Push, Ref: "refs/heads/main", Branch: "main", Before: bbPrev, After: bbHead,
				CommitCount: 2, HeadCommit: bbHeadCommit, Sender: "hedy"}),
		},
		{
			name: "tag push", event: "repo:push", file: "bitbucket/repo-push-tag.json",
			want: ev(Event{Type: TagPush, Ref: "refs/tags/v0.9.0", Tag: "v0.9.0", After: bbHead,
				HeadCommit: bbHeadCommit, Sender: "hedy"}),
		},
		{
			name: "branch deletion", event: "repo:push", file: "bitbucket/repo-push-delete.json",
			want: ev(Event{Type: Push, Ref: "refs/heads/feature/uplink", Branch: "feature/uplink",
				Before: "6b8d0f2a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d", Deleted: true, Sender: "aturing"}),
		},
		{
			name: "commit author from raw when the user is unknown", event: "repo:push", file: "bitbucket/repo-push.json",
			body: func(t *testing.T, b []byte) []byte {
				return editJSON(t, b, func(m map[string]any) {
					ch := obj(m, "push")["changes"].([]any)[0].(map[string]any)
					delete(obj(ch, "new", "target", "author"), "user")
				})
			},
			want: func() Event {
				c := bbHeadCommit
				c.Author = "Hedy Lamarr"
				return ev(Event{Type: Push, Ref: "refs/heads/main", Branch: "main", Before: bbPrev, After: bbHead,
					CommitCount: 2, HeadCommit: c, Sender: "hedy"})
			}(),
		},
		{
			name: "skip deploy in the head commit", event: "repo:push", file: "bitbucket/repo-push.json",
			body: func(t *testing.T, b []byte) []byte {
				return replace(t, b, `"message": "Retry uplink on timeout\n"`, `"message": "Retry uplink on timeout [skip deploy]\n"`)
			},
			want: func() Event {
				c := bbHeadCommit
				c.Message = "Retry uplink on timeout [skip deploy]\n"
				return ev(Event{Type: Push, Ref: "refs/heads/main", Branch: "main", Before: bbPrev, After: bbHead,
					CommitCount: 2, HeadCommit: c, Sender: "hedy"})
			}(),
			skip: true,
		},
		{
			name: "push without changes is ignored", event: "repo:push", file: "bitbucket/repo-push.json",
			body: func(t *testing.T, b []byte) []byte {
				return editJSON(t, b, func(m map[string]any) { obj(m, "push")["changes"] = []any{} })
			},
			err: ErrUnsupported,
		},
		{
			name: "pull request created", event: "pullrequest:created", file: "bitbucket/pullrequest-created.json",
			want: pr(bbPR(Opened, false, "c2e4b6d8f0a2")),
		},
		{
			name: "pull request updated", event: "pullrequest:updated", file: "bitbucket/pullrequest-updated.json",
			want: pr(bbPR(Updated, false, "e4b6d8f0a2c4")),
		},
		{
			name: "pull request merged", event: "pullrequest:fulfilled", file: "bitbucket/pullrequest-fulfilled.json",
			want: pr(bbPR(Closed, true, "e4b6d8f0a2c4")),
		},
		{
			name: "pull request declined", event: "pullrequest:rejected", file: "bitbucket/pullrequest-rejected.json",
			want: pr(bbPR(Closed, false, "e4b6d8f0a2c4")),
		},
		{
			name: "pull request from a fork", event: "pullrequest:created", file: "bitbucket/pullrequest-created.json",
			body: func(t *testing.T, b []byte) []byte {
				return editJSON(t, b, func(m map[string]any) {
					obj(m, "pullrequest", "source", "repository")["full_name"] = "aturing/telemetry"
				})
			},
			want: func() Event {
				p := bbPR(Opened, false, "c2e4b6d8f0a2")
				p.HeadRepo, p.Fork = "aturing/telemetry", true
				return pr(p)
			}(),
		},
		{
			name: "pull request approved is ignored", event: "pullrequest:approved", file: "bitbucket/pullrequest-created.json",
			err: ErrUnsupported, msg: `"pullrequest:approved"`,
		},
	})
}

// A push of a branch and a tag together arrives as one delivery with two
// changes: ParseAll returns both, Parse the first.
func TestParseAllBitbucketSeveralRefs(t *testing.T) {
	body := fixture(t, "bitbucket/repo-push-branch-and-tag.json")
	h := signed(Bitbucket, "repo:push", testSecret, body)
	events, err := ParseAll(Bitbucket, testSecret, h, body)
	if err != nil {
		t.Fatal(err)
	}
	want := []Event{
		bbEvent(Event{Type: Push, Ref: "refs/heads/main", Branch: "main", Before: bbPrev, After: bbHead,
			CommitCount: 2, HeadCommit: bbHeadCommit, Sender: "hedy"}),
		bbEvent(Event{Type: TagPush, Ref: "refs/tags/v0.9.0", Tag: "v0.9.0", After: bbHead,
			HeadCommit: bbHeadCommit, Sender: "hedy"}),
	}
	sum := sha256.Sum256(body)
	for i := range events {
		if events[i].BodySHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("event %d: BodySHA256 %q, want the body's", i, events[i].BodySHA256)
		}
		events[i].BodySHA256 = ""
	}
	if !reflect.DeepEqual(events, want) {
		t.Errorf("ParseAll:\n got %+v\nwant %+v", events, want)
	}
	first, err := Parse(Bitbucket, testSecret, h, body)
	if err != nil {
		t.Fatal(err)
	}
	first.BodySHA256 = ""
	if !reflect.DeepEqual(first, want[0]) {
		t.Errorf("Parse = %s, want the first change", dump(first))
	}
}
