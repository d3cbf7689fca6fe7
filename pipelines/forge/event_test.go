package forge

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

func TestParseKind(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     Kind
		err      error
	}{
		{"github", "github", GitHub, nil},
		{"gitlab", "gitlab", GitLab, nil},
		{"gitea", "gitea", Gitea, nil},
		{"forgejo is gitea", "forgejo", Gitea, nil},
		{"bitbucket", "bitbucket", Bitbucket, nil},
		{"case and space", " GitHub ", GitHub, nil},
		{"unknown", "sourcehut", "", ErrUnknownKind},
		{"empty", "", "", ErrUnknownKind},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseKind(tc.in)
			checkErr(t, err, tc.err, "")
			if got != tc.want {
				t.Errorf("ParseKind(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if err != nil && !strings.Contains(err.Error(), "forgejo") {
				t.Errorf("error %q does not list the valid names", err)
			}
		})
	}
}

func TestDeliveryID(t *testing.T) {
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		kind   Kind
		header http.Header
		want   string
	}{
		{"github", GitHub, h("X-GitHub-Delivery", "g1"), "g1"},
		{"gitlab event uuid", GitLab, h("X-Gitlab-Event-UUID", "e1", "X-Gitlab-Webhook-UUID", "hook", "Idempotency-Key", "i1"), "e1"},
		{"gitlab idempotency key", GitLab, h("X-Gitlab-Webhook-UUID", "hook", "Idempotency-Key", "i1"), "i1"},
		// The webhook UUID is the same for every delivery of a hook.
		{"gitlab webhook uuid alone is not an id", GitLab, h("X-Gitlab-Webhook-UUID", "hook"), ""},
		{"gitea", Gitea, h("X-Gitea-Delivery", "t1"), "t1"},
		{"forgejo", Gitea, h("X-Forgejo-Delivery", "f1"), "f1"},
		{"bitbucket request uuid", Bitbucket, h("X-Request-UUID", "r1", "X-Hook-UUID", "hook"), "r1"},
		{"bitbucket hook uuid alone is not an id", Bitbucket, h("X-Hook-UUID", "hook"), ""},
		{"unknown kind", "svn", h("X-GitHub-Delivery", "g1"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := DeliveryID(tc.kind, tc.header); got != tc.want {
				t.Errorf("DeliveryID = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSummary(t *testing.T) {
	const sha = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"
	head := Commit{SHA: sha, Message: "fix login\n\nlong explanation"}
	pr := func(action PRAction, merged bool) *PR {
		return &PR{Number: 42, Action: action, Merged: merged, HeadBranch: "feature/search",
			HeadSHA: sha, BaseBranch: "main", Title: "Add search"}
	}
	for _, tc := range []struct {
		name string
		e    Event
		want string
	}{
		{"push", Event{Forge: GitHub, Type: Push, Branch: "main", Sender: "octocat", After: sha, CommitCount: 3, HeadCommit: head},
			`push to main by octocat: 3 commits, head 1a2b3c4 "fix login"`},
		{"push of one commit", Event{Forge: GitHub, Type: Push, Branch: "main", Sender: "octocat", After: sha, CommitCount: 1, HeadCommit: head},
			`push to main by octocat: 1 commit, head 1a2b3c4 "fix login"`},
		{"push without head message", Event{Forge: GitLab, Type: Push, Branch: "dev", After: sha},
			`push to dev: 0 commits, head 1a2b3c4`},
		{"branch deleted", Event{Forge: GitHub, Type: Push, Branch: "old", Sender: "octocat", Deleted: true},
			`branch old deleted by octocat`},
		{"tag", Event{Forge: GitLab, Type: TagPush, Tag: "v1.4.0", Sender: "ada", After: sha, HeadCommit: head},
			`tag v1.4.0 pushed by ada: head 1a2b3c4 "fix login"`},
		{"tag deleted", Event{Forge: GitLab, Type: TagPush, Tag: "v1.4.0", Sender: "ada", Deleted: true},
			`tag v1.4.0 deleted by ada`},
		{"pull request opened", Event{Forge: GitHub, Type: PullRequest, PR: pr(Opened, false)},
			`pull request #42 opened: "Add search" (feature/search → main)`},
		{"pull request updated", Event{Forge: Gitea, Type: PullRequest, PR: pr(Updated, false)},
			`pull request #42 updated: "Add search" (feature/search → main), head 1a2b3c4`},
		{"pull request merged", Event{Forge: Bitbucket, Type: PullRequest, PR: pr(Closed, true)},
			`pull request #42 merged: "Add search" (feature/search → main)`},
		{"merge request closed", Event{Forge: GitLab, Type: PullRequest, PR: pr(Closed, false)},
			`merge request !42 closed: "Add search" (feature/search → main)`},
		{"pull request from a fork", Event{Forge: GitHub, Type: PullRequest, PR: func() *PR {
			p := pr(Reopened, false)
			p.HeadRepo, p.Fork = "someone/shop", true
			return p
		}()}, `pull request #42 reopened: "Add search" (feature/search → main) from fork someone/shop`},
		{"ping", Event{Forge: GitHub, Type: Ping}, `ping received from GitHub`},
		{"control characters are dropped", Event{Forge: GitHub, Type: Push, Branch: "main", After: sha, CommitCount: 1,
			HeadCommit: Commit{SHA: sha, Message: "\x1b[31mred\x1b[0m\ttext"}},
			`push to main: 1 commit, head 1a2b3c4 "[31mred[0mtext"`},
		{"long messages are cut", Event{Forge: GitHub, Type: Push, Branch: "main", After: sha, CommitCount: 1,
			HeadCommit: Commit{SHA: sha, Message: strings.Repeat("é", 100)}},
			`push to main: 1 commit, head 1a2b3c4 "` + strings.Repeat("é", 71) + `…"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.e.Summary(); got != tc.want {
				t.Errorf("Summary() =\n %s\nwant\n %s", got, tc.want)
			}
		})
	}
}

func TestSkipDeploy(t *testing.T) {
	for _, tc := range []struct {
		name, message string
		want          bool
	}{
		{"skip deploy", "fix typo [skip deploy]", true},
		{"deploy skip", "[deploy skip] docs only", true},
		{"any case", "Docs [Skip Deploy]", true},
		{"in the body", "docs\n\nnothing to ship [SKIP DEPLOY]", true},
		{"plain message", "fix login", false},
		{"without brackets", "skip deploy please", false},
		{"ci skip is not ours", "[skip ci]", false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := Event{HeadCommit: Commit{Message: tc.message}}
			if got := e.SkipDeploy(); got != tc.want {
				t.Errorf("SkipDeploy() for %q = %v, want %v", tc.message, got, tc.want)
			}
		})
	}
}

func TestSecret(t *testing.T) {
	seen := map[string]bool{}
	for range 3 {
		s, err := Secret()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(raw) != 32 {
			t.Fatalf("Secret() = %q: want 32 bytes in base64url (%v)", s, err)
		}
		if seen[s] {
			t.Fatalf("Secret() repeated %q", s)
		}
		seen[s] = true
	}
}
