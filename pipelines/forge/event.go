package forge

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// EventType is what happened, in Seedbed's words.
type EventType string

// The events Seedbed acts on.
const (
	// Push: a branch moved, was created or was deleted (Event.Deleted).
	Push EventType = "push"
	// TagPush: a tag was created, moved or deleted (Event.Deleted).
	TagPush EventType = "tag_push"
	// PullRequest: a pull request (GitLab: merge request) was opened,
	// updated with new commits, closed or reopened; see Event.PR.
	PullRequest EventType = "pull_request"
	// Ping: GitHub checking that the hook works, sent once when it is
	// created. Nothing to build; the console shows "ping received".
	Ping EventType = "ping"
)

// PRAction is what happened to a pull request.
type PRAction string

// The pull request actions Seedbed acts on. A merge is Closed with
// PR.Merged set.
const (
	Opened   PRAction = "opened"
	Updated  PRAction = "updated" // new commits on the head branch
	Closed   PRAction = "closed"
	Reopened PRAction = "reopened"
)

// RepoRef identifies a repository on a forge.
type RepoRef struct {
	// FullName is "owner/name" (GitLab: the full path with subgroups,
	// "group/sub/project").
	FullName string
	// CloneURL is the HTTPS clone address.
	CloneURL string
	// HTMLURL is the repository's page.
	HTMLURL string
}

// Commit is one commit as a forge describes it in a delivery.
type Commit struct {
	SHA     string
	Message string // full message, as sent
	Author  string // forge login when known, else the author's name
	URL     string // the commit's page on the forge
}

// PR is the pull (merge) request an event is about. (The name
// PullRequest is the EventType.)
type PR struct {
	Number     int // the number people use: #42 (GitLab: !42, the iid)
	Action     PRAction
	Merged     bool // with Action Closed: merged rather than abandoned
	HeadBranch string
	// HeadSHA is the commit to build. Bitbucket sends only its first 12
	// hex digits.
	HeadSHA    string
	BaseBranch string
	Title      string
	URL        string
	// Author opened the pull request. Empty when the forge does not say
	// (GitLab names only the user who triggered the event, so Author is
	// set for "open" only).
	Author string
	// HeadRepo is the full name of the repository the head branch lives
	// in; Fork is set when it is not the base repository. Building a
	// fork's code with the app's secrets is a decision for the caller.
	HeadRepo string
	Fork     bool
}

// Event is one verified webhook delivery, the same whatever forge sent it.
type Event struct {
	Forge Kind
	Type  EventType
	// DeliveryID is the forge's id for this delivery (retries reuse it).
	// Empty if the forge did not send one.
	DeliveryID string
	// BodySHA256 is the hex SHA-256 of the raw body, for de-duplication:
	// unlike DeliveryID it is covered by the signature.
	BodySHA256 string
	Repo       RepoRef
	// Ref is the full ref of a push ("refs/heads/main", "refs/tags/v1");
	// exactly one of Branch and Tag is set from it. Empty for pull
	// requests and pings.
	Ref    string
	Branch string
	Tag    string
	// Before and After are the ref's old and new values. Before is empty
	// when the ref was created and After when it was deleted (whatever
	// the forge spelled for "none"). For an annotated tag After is the
	// tag object; HeadCommit.SHA is the commit to build. For a pull
	// request After is the head commit and Before, when known, the
	// previous one.
	Before, After string
	// Deleted is set when the push removed the branch or tag.
	Deleted bool
	// CommitCount is how many commits the push brought, as far as the
	// forge says: GitLab and Gitea send the true total, GitHub lists at
	// most 2048 commits and Bitbucket at most 5.
	CommitCount int
	// HeadCommit is the newest commit of a push, or of a pull request's
	// head when the forge sends it (GitLab); zero when there is none.
	HeadCommit Commit
	// PR is set for PullRequest events only.
	PR *PR
	// Sender is the login of whoever caused the event.
	Sender string
}

// PushKey names the ref update a push or tag push event reports, as
// "<ref> <before> <after>", the same whichever delivery carries it: a forge
// redelivering it, or a signed body re-sent under a new delivery id. It is
// empty for other events, and for a push without a ref or an after (nothing
// to tell apart).
func (e Event) PushKey() string {
	if (e.Type != Push && e.Type != TagPush) || e.Ref == "" || (e.After == "" && !e.Deleted) {
		return ""
	}
	before := e.Before
	if before == "" {
		before = "-"
	}
	after := e.After
	if after == "" {
		after = "-"
	}
	return e.Ref + " " + before + " " + after
}

// SkipDeploy reports whether the head commit asks Seedbed not to build:
// its message contains "[skip deploy]" or "[deploy skip]", in any case.
func (e Event) SkipDeploy() bool {
	m := strings.ToLower(e.HeadCommit.Message)
	return strings.Contains(m, "[skip deploy]") || strings.Contains(m, "[deploy skip]")
}

// Summary is one line describing the event for the console's delivery
// list, for example
//
//	push to main by octocat: 3 commits, head 1a2b3c4 "fix login"
//	pull request #42 opened: "Add search" (feature/search → main)
//
// Text from the payload is cut to its first line and stripped of control
// characters, so a hostile commit message cannot break the layout.
func (e Event) Summary() string {
	var b strings.Builder
	by := ""
	if e.Sender != "" {
		by = " by " + e.Sender
	}
	switch e.Type {
	case Push, TagPush:
		what, name := "branch", e.Branch
		if e.Type == TagPush {
			what, name = "tag", e.Tag
		}
		switch {
		case e.Deleted:
			fmt.Fprintf(&b, "%s %s deleted%s", what, name, by)
		case e.Type == TagPush:
			fmt.Fprintf(&b, "tag %s pushed%s", name, by)
		default:
			fmt.Fprintf(&b, "push to %s%s: %s", name, by, plural(e.CommitCount, "commit"))
		}
		if !e.Deleted {
			if head := e.headLine(); head != "" {
				if e.Type == TagPush {
					b.WriteString(":")
				} else {
					b.WriteString(",")
				}
				b.WriteString(" head " + head)
			}
		}
	case PullRequest:
		if e.PR == nil {
			return oneLine(fmt.Sprintf("%s pull request%s", e.Forge.DisplayName(), by))
		}
		noun, mark := "pull request", "#"
		if e.Forge == GitLab {
			noun, mark = "merge request", "!"
		}
		action := string(e.PR.Action)
		if e.PR.Action == Closed && e.PR.Merged {
			action = "merged"
		}
		fmt.Fprintf(&b, "%s %s%d %s: \"%s\" (%s → %s)", noun, mark, e.PR.Number, action,
			clip(oneLine(e.PR.Title), 72), e.PR.HeadBranch, e.PR.BaseBranch)
		if e.PR.Action == Updated && e.PR.HeadSHA != "" {
			b.WriteString(", head " + short(e.PR.HeadSHA))
		}
		if e.PR.Fork {
			b.WriteString(" from fork " + e.PR.HeadRepo)
		}
	case Ping:
		fmt.Fprintf(&b, "ping received from %s", e.Forge.DisplayName())
		if e.Repo.FullName != "" {
			b.WriteString(" for " + e.Repo.FullName)
		}
	default:
		fmt.Fprintf(&b, "%s %s%s", e.Forge.DisplayName(), e.Type, by)
	}
	return oneLine(b.String())
}

// headLine is `1a2b3c4 "fix login"`, or just the short SHA when the
// message is unknown, or "" when there is no head commit.
func (e Event) headLine() string {
	sha := e.HeadCommit.SHA
	if sha == "" {
		sha = e.After
	}
	if sha == "" {
		return ""
	}
	msg := clip(oneLine(e.HeadCommit.Message), 72)
	if msg == "" {
		return short(sha)
	}
	return fmt.Sprintf("%s \"%s\"", short(sha), msg)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// oneLine keeps the first non-empty line of s without control characters.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
}

// clip shortens s to at most n runes, marking the cut with "…".
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n-1])) + "…"
}
