package forge

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

// The fuzzers feed each forge's parser correctly signed but arbitrary
// deliveries: an event name and a body, seeded with the payloads in
// testdata (for GitHub, its own example deliveries, unchanged).
// Run one with, for example,
//
//	go test -run '^$' -fuzz '^FuzzParseGitHub$' -fuzztime 60s ./pipelines/forge/
//
// Every failure must be one of the errors the HTTP layer answers (never a
// panic), and every event Parse returns must keep the promises the rest of
// Seedbed relies on; see checkFuzzedEvent.

func FuzzParseGitHub(f *testing.F) {
	fuzzForge(f, GitHub, "github", map[string]string{"push": "push", "pull_request": "pull_request"},
		"ping", `{"zen":"Design for failure.","hook_id":1,"repository":{"full_name":"o/r"}}`)
}

func FuzzParseGitLab(f *testing.F) {
	fuzzForge(f, GitLab, "gitlab", map[string]string{"push": "Push Hook", "tag_push": "Tag Push Hook", "merge_request": "Merge Request Hook"},
		"Merge Request Hook", `{"object_attributes":{"iid":1,"action":"update","oldrev":"x"}}`)
}

func FuzzParseGitea(f *testing.F) {
	fuzzForge(f, Gitea, "gitea", map[string]string{"push": "push", "delete": "delete", "pull_request": "pull_request"},
		"push", `{"ref":"refs/heads/main","after":"","repository":{"full_name":"o/r"}}`)
}

func FuzzParseBitbucket(f *testing.F) {
	fuzzForge(f, Bitbucket, "bitbucket", map[string]string{"repo-push": "repo:push", "pullrequest-created": "pullrequest:created",
		"pullrequest-updated": "pullrequest:updated", "pullrequest-fulfilled": "pullrequest:fulfilled", "pullrequest-rejected": "pullrequest:rejected"},
		"repo:push", `{"push":{"changes":[{"old":null,"new":null}]}}`)
}

// fuzzForge seeds f with the payloads in testdata/<dir>, each with the event
// named by the longest prefix of its file name in events, plus one extra
// seed, and fuzzes ParseAll for kind.
func fuzzForge(f *testing.F, kind Kind, dir string, events map[string]string, extraEvent, extraBody string) {
	f.Helper()
	files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
	seeded := 0
	for _, name := range files {
		body, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		event, best := "", 0
		for prefix, e := range events {
			if strings.HasPrefix(filepath.Base(name), prefix) && len(prefix) > best {
				event, best = e, len(prefix)
			}
		}
		if event == "" {
			f.Fatalf("no event name for seed %s", name)
		}
		f.Add(event, body)
		seeded++
	}
	if seeded == 0 {
		f.Fatalf("no seed payloads in testdata/%s", dir)
	}
	f.Add(extraEvent, []byte(extraBody))
	f.Add(extraEvent, []byte(`null`))
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		header := signed(kind, event, testSecret, body)
		evs, err := ParseAll(kind, testSecret, header, body)
		if err != nil {
			if len(evs) != 0 {
				t.Fatalf("%s %q: events %+v with error %v", kind, event, evs, err)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("%s %q: unclassified error %v", kind, event, err)
			}
			return
		}
		if len(evs) == 0 {
			t.Fatalf("%s %q: no events and no error", kind, event)
		}
		for _, e := range evs {
			if msg := checkFuzzedEvent(kind, e); msg != "" {
				t.Fatalf("%s %q: %s: %+v", kind, event, msg, e)
			}
		}
		// A body signed with another secret never parses.
		if _, err := ParseAll(kind, testSecret+"x", header, body); !errors.Is(err, ErrSignature) {
			t.Fatalf("%s %q: a delivery signed with another secret gave %v, want ErrSignature", kind, event, err)
		}
	})
}

// checkFuzzedEvent returns what is wrong with an event Parse returned, or "".
// The promises: the event says its forge, type and repository; a push names
// exactly one branch or tag of its ref and a key; commit names are hex, so
// that no payload can hand git an option or a ref expression to build;
// branch and tag names are ones git allows; pull request numbers are
// positive (they name preview stages); the summary is one line without
// control characters.
func checkFuzzedEvent(kind Kind, e Event) string {
	switch {
	case e.Forge != kind:
		return "wrong forge"
	case e.Type == "":
		return "no type"
	case e.Repo.FullName == "" && e.Type != Ping:
		return "no repository"
	case e.DeliveryID == "" || len(e.BodySHA256) != 64:
		return "no delivery id or body digest"
	}
	for _, sha := range []string{e.Before, e.After, e.HeadCommit.SHA} {
		if sha != "" && !isCommitName(sha) {
			return "commit name " + sha + " is not hex"
		}
	}
	switch e.Type {
	case Push, TagPush:
		switch {
		case (e.Branch == "") == (e.Tag == ""):
			return "not exactly one of branch and tag"
		case e.Type == Push && e.Ref != "refs/heads/"+e.Branch, e.Type == TagPush && e.Ref != "refs/tags/"+e.Tag:
			return "ref and branch or tag disagree"
		case !validRefName(e.Branch) && e.Branch != "", !validRefName(e.Tag) && e.Tag != "":
			return "a ref name git refuses"
		case e.Deleted != (e.After == ""):
			return "deleted without an empty after, or the other way round"
		case e.PushKey() == "":
			return "a push without a key"
		case e.PR != nil:
			return "a push with a pull request"
		}
	case PullRequest:
		switch {
		case e.PR == nil:
			return "a pull request event without its pull request"
		case e.PR.Number <= 0:
			return "pull request number is not positive"
		case e.PR.HeadSHA == "" && e.PR.Action != Closed, e.PR.HeadSHA != "" && !isCommitName(e.PR.HeadSHA):
			return "pull request head " + e.PR.HeadSHA + " is not hex"
		case !validRefName(e.PR.HeadBranch), !validRefName(e.PR.BaseBranch):
			return "a pull request branch name git refuses"
		case e.PushKey() != "":
			return "a pull request with a push key"
		}
	}
	s := e.Summary()
	for _, r := range s {
		if unicode.IsControl(r) {
			return "control character in the summary " + url.QueryEscape(s)
		}
	}
	return ""
}

// TestCheckFuzzedEvent makes sure the fuzzers' oracle catches what it is
// meant to.
func TestCheckFuzzedEvent(t *testing.T) {
	sha := strings.Repeat("a", 40)
	good := Event{Forge: GitHub, Type: Push, Repo: RepoRef{FullName: "o/r"}, DeliveryID: "d", BodySHA256: strings.Repeat("0", 64),
		Ref: "refs/heads/main", Branch: "main", After: sha}
	tests := []struct {
		name string
		edit func(e *Event)
		want string
	}{
		{name: "good", edit: func(*Event) {}},
		{name: "option as commit", edit: func(e *Event) { e.After = "--upload-pack=x" }, want: "not hex"},
		{name: "ref expression as commit", edit: func(e *Event) { e.HeadCommit.SHA = "main~1" }, want: "not hex"},
		{name: "branch with a newline", edit: func(e *Event) { e.Branch, e.Ref = "a\nb", "refs/heads/a\nb" }, want: "git refuses"},
		{name: "branch and ref disagree", edit: func(e *Event) { e.Branch = "dev" }, want: "disagree"},
		{name: "negative pull request", edit: func(e *Event) {
			e.Type, e.Ref, e.Branch, e.PR = PullRequest, "", "", &PR{Number: -1, HeadSHA: sha, HeadBranch: "f", BaseBranch: "main"}
		}, want: "not positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := good
			tt.edit(&e)
			if got := checkFuzzedEvent(GitHub, e); !strings.Contains(got, tt.want) || (tt.want == "") != (got == "") {
				t.Errorf("checkFuzzedEvent = %q, want %q", got, tt.want)
			}
		})
	}
}
