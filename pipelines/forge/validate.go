package forge

import (
	"strconv"
	"strings"
)

// checkEvent refuses, as ErrMalformed, an event whose names Seedbed would
// hand to git or use as names itself, when no forge would send them: commit
// names that are not hex (a payload could otherwise ask a build for
// "--upload-pack=…" or "main~3"), branch and tag names git does not allow
// (a newline would split a log line; a leading dash reads as an option), and
// pull request numbers that are not positive (they name preview stages).
func checkEvent(kind Kind, e Event) error {
	name := kind.DisplayName()
	for _, c := range []struct{ field, sha string }{
		{"before", e.Before}, {"after", e.After}, {"head commit", e.HeadCommit.SHA},
	} {
		if c.sha != "" && !isCommitName(c.sha) {
			return malformedf("the %s %s %s names %s %q, which is not a commit id (7 to 64 hex digits): "+
				"it is not a delivery from a %s webhook", name, e.Type, c.field, c.field, clip(c.sha, 80), name)
		}
	}
	for _, r := range []string{e.Branch, e.Tag} {
		if r != "" && !validRefName(r) {
			return malformedf("the %s %s names %q, which git does not allow as a branch or tag name: "+
				"it is not a delivery from a %s webhook", name, e.Type, clip(r, 80), name)
		}
	}
	if pr := e.PR; pr != nil {
		switch {
		case pr.Number <= 0:
			return malformedf("the %s pull request number %s is not positive: it is not a delivery from a %s webhook",
				name, strconv.Itoa(pr.Number), name)
		case pr.HeadSHA != "" && !isCommitName(pr.HeadSHA): // GitLab may omit it for a closed one
			return malformedf("the %s pull request #%d head %q is not a commit id (7 to 64 hex digits): "+
				"it is not a delivery from a %s webhook", name, pr.Number, clip(pr.HeadSHA, 80), name)
		case !validRefName(pr.HeadBranch) || !validRefName(pr.BaseBranch):
			return malformedf("the %s pull request #%d names a branch git does not allow (%q → %q): "+
				"it is not a delivery from a %s webhook", name, pr.Number, clip(pr.HeadBranch, 80), clip(pr.BaseBranch, 80), name)
		}
	}
	return nil
}

// isCommitName reports whether s is a commit id as forges send them: 7 to
// 64 hex digits (Bitbucket abbreviates to 12; SHA-256 repositories use 64).
func isCommitName(s string) bool {
	if len(s) < 7 || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}

// validRefName reports whether name is a branch or tag name git allows
// (the rules of git check-ref-format --branch), without a leading dash.
func validRefName(name string) bool {
	if name == "" || name == "@" || name[0] == '-' || strings.HasSuffix(name, "/") || strings.HasSuffix(name, ".") ||
		strings.Contains(name, "..") || strings.Contains(name, "@{") || strings.Contains(name, "//") {
		return false
	}
	for _, c := range []byte(name) {
		if c < 0x20 || c == 0x7f || strings.IndexByte(" ~^:?*[\\", c) >= 0 {
			return false
		}
	}
	for _, part := range strings.Split(name, "/") {
		if part == "" || part[0] == '.' || strings.HasSuffix(part, ".lock") {
			return false
		}
	}
	return true
}
