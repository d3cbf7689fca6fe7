package views

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// shortDigest shows a content digest the way people compare them: the first
// 12 hex characters after "sha256:". Anything else is shown whole.
func shortDigest(digest string) string {
	hex, ok := strings.CutPrefix(digest, "sha256:")
	if !ok {
		return digest
	}
	if len(hex) > 12 {
		return hex[:12]
	}
	return hex
}

// sha7 abbreviates a commit hash the way git does by default.
func sha7(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// relTime says how long before now t was: "just now", "42s ago", "3m ago",
// "5h ago", "2d ago", and the date once it is more than a month old. It takes
// now from the caller so pages render the same for the same model.
func relTime(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	if now.IsZero() {
		return absTime(t)
	}
	d := now.Sub(t)
	switch {
	case d < 5*time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	case d < 30*24*time.Hour:
		return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
	}
	return t.UTC().Format("2 Jan 2006")
}

// absTime is the exact time, in UTC so every viewer reads the same value.
func absTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// isoTime is the machine-readable form for <time datetime>.
func isoTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}

// fmtDuration formats how long a run took: "850ms", "4.2s", "3m 12s",
// "1h 04m". Zero means the run has not finished and is shown as a dash.
func fmtDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d.Round(100*time.Millisecond) < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Round(100*time.Millisecond).Seconds())
	}
	if s := d.Round(time.Second); s < time.Minute {
		return fmt.Sprintf("%ds", int(s/time.Second))
	} else if s < time.Hour {
		return fmt.Sprintf("%dm %02ds", int(s/time.Minute), int(s%time.Minute/time.Second))
	}
	m := d.Round(time.Minute)
	return fmt.Sprintf("%dh %02dm", int(m/time.Hour), int(m%time.Hour/time.Minute))
}

// statusLabel is the words a status badge shows.
func statusLabel(status string) string {
	switch status {
	case "":
		return "not deployed"
	case "awaiting_approval":
		return "awaiting approval"
	}
	return status
}

// statusClass keeps the badge's class to the known statuses so an unexpected
// value cannot inject a class name; anything unknown is shown grey.
// assets/app.js keeps the same list for badges it updates live.
func statusClass(status string) string {
	switch status {
	case "queued", "running", "succeeded", "failed", "superseded",
		"awaiting_approval", "rejected", "cancelled":
		return "badge badge-" + status
	}
	return "badge badge-none"
}

// streamClass is the class of a log line; unknown streams look like stdout.
func streamClass(stream string) string {
	switch stream {
	case "stdout", "stderr", "seedbed":
		return "line stream-" + stream
	}
	return "line stream-stdout"
}

// buildPath is the console page of a build.
func buildPath(id uint) string { return fmt.Sprintf("/builds/%d", id) }

// appPath is the console page of an app.
func appPath(name string) string { return "/apps/" + url.PathEscape(name) }

// firstLine is the subject of a commit message.
func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(s)
}

// changeSign is the diff-style marker of a change kind.
func changeSign(kind string) string {
	switch kind {
	case "add":
		return "+"
	case "change":
		return "~"
	case "remove":
		return "-"
	}
	return "="
}

// isTerminal tells whether a status will not change any more.
func isTerminal(status string) bool {
	switch status {
	case "succeeded", "failed", "superseded", "rejected", "cancelled":
		return true
	}
	return false
}

// summaryKind sorts a change set's summary sentence (see
// pipelines.ChangeSet.Summary) into "nothing", "major" or "minor", so the
// page can make a no-op plainly visible and a major change stand out.
func summaryKind(summary string) string {
	switch {
	case strings.HasPrefix(summary, "Nothing changes"):
		return "nothing"
	case strings.HasPrefix(summary, "Major"):
		return "major"
	}
	return "minor"
}

// isGlob tells whether a stage's branch setting is a pattern such as
// "release/*" rather than one branch.
func isGlob(branch string) bool { return strings.ContainsAny(branch, "*?[") }

// plural is "1 function" or "3 functions".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// decisionVerb says what the person who decided on a promotion did.
func decisionVerb(status string) string {
	if status == "rejected" {
		return "Rejected"
	}
	return "Approved"
}

// triggerText says what started a run and who: "promotion by ada@example.com".
func triggerText(trigger, by string) string {
	switch {
	case by == "":
		return trigger
	case trigger == "":
		return "by " + by
	}
	return trigger + " by " + by
}

// htmxConfig is htmx's configuration (the htmx-config meta tag): under the
// console's Content-Security-Policy htmx adds no inline <style> for its
// indicators, evaluates no expressions and runs no scripts it swaps in.
const htmxConfig = `{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false}`

// ContentSecurityPolicy is what console pages may load and run: scripts,
// styles, images and streams from the console itself and nothing inline (no
// <script> blocks, on* attributes or style attributes in these views;
// assets/app.js and assets/app.css carry them), no plugins, no <base>,
// forms posting only to the console, and no framing by any page.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; form-action 'self'; base-uri 'none'; " +
	"frame-ancestors 'none'"

// yesNo says a setting's state in a word.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
