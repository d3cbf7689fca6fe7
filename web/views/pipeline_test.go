package views

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// secretValue is what a careless handler might leave in a secret's VarRow;
// the page must never show it.
const secretValue = "hunter2-never-shown"

// pipelineFixture is an app with three stages: dev (auto-deployed, can be
// promoted), staging (can be promoted and rolled back) and prod (protected,
// needs approval, with a promotion waiting).
func pipelineFixture() AppModel {
	m := appFixture()
	m.Name = "shop"
	live := m.Stages[0].Live
	m.Stages[0].PromoteURL, m.Stages[0].PromoteTo = "/apps/shop/promote?from=dev&to=staging", "staging"
	m.Stages[0].SettingsURL = "/apps/shop/stages/dev"
	m.Stages[1].Branch = "release/*"
	m.Stages[1].Live = live
	m.Stages[1].PromoteURL, m.Stages[1].PromoteTo = "/apps/shop/promote?from=staging&to=prod", "prod"
	m.Stages[1].RollbackURL = "/apps/shop/stages/staging/rollback"
	m.Stages[1].SettingsURL = "/apps/shop/stages/staging"
	m.Stages = append(m.Stages, StageCard{
		Name: "prod", URL: "http://127.0.0.1:8081/shop/prod/", Branch: "main",
		Approval: true, Protected: true,
		LastDeploy:  &DeployRow{ID: 12, URL: "/deploys/12", Stage: "prod", BuildID: 7, Status: "awaiting_approval", Trigger: "promotion", TriggeredBy: "ada@example.com", CreatedAt: now.Add(-2 * time.Minute)},
		RollbackURL: "/apps/shop/stages/prod/rollback",
		SettingsURL: "/apps/shop/stages/prod",
		Awaiting: []DeployRow{
			{ID: 12, URL: "/deploys/12", Stage: "prod", BuildID: 7, Status: "awaiting_approval", Trigger: "promotion", TriggeredBy: "ada@example.com", CreatedAt: now.Add(-2 * time.Minute)},
		},
	})
	return m
}

func awaitingDeployFixture() DeployModel {
	m := deployFixture()
	m.Page.Title = "Deploy #12 · shop/prod"
	m.Deploy = DeployRow{ID: 12, URL: "/deploys/12", Stage: "prod", BuildID: 7, ReleaseID: 3, Status: "awaiting_approval",
		Trigger: "promotion", TriggeredBy: "ada@example.com", CreatedAt: now.Add(-2 * time.Minute)}
	m.SourceStage = "staging"
	m.CommitSHA, m.CommitMessage = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b", "Say hello in French\n\nBecause we can."
	m.ApproveURL, m.RejectURL, m.CancelURL = "/deploys/12/approve", "/deploys/12/reject", "/deploys/12/cancel"
	m.Log = nil
	m.StreamURL = "/deploys/12/events"
	return m
}

func cancellableBuildFixture() BuildModel {
	m := buildFixture()
	m.CancelURL = "/builds/7/cancel"
	return m
}

func promoteFixture() PromoteModel {
	return PromoteModel{
		Page: testPage("Promote shop: staging → prod"), App: "shop", AppURL: "/apps/shop",
		From: "staging", To: "prod", ReleaseID: 3, BuildID: 7,
		CommitSHA: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b", CommitMessage: "Say hello in French\n\nBecause we can.",
		Summary: "Major change (functions, routes, runtimes or handlers): 1 added, 2 changed, 1 removed",
		Major: []ChangeItem{
			{Kind: "add", Key: "api/bonjour", After: "sha256:abcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcd", Detail: []string{"route added: GET /bonjour"}},
			{Kind: "change", Key: "api/hello", Before: "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", After: "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Detail: []string{"handler: bootstrap → main"}},
			{Kind: "remove", Key: "api/old", Before: "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd", Detail: []string{"route removed: GET /old"}},
		},
		Minor: []ChangeItem{
			{Kind: "change", Key: "api/greet", Before: "sha256:1111111111111111111111111111111111111111111111111111111111111111", After: "sha256:2222222222222222222222222222222222222222222222222222222222222222", Detail: []string{"code: 111111111111 → 222222222222", "env changed: DB_PASSWORD"}},
		},
		Unchanged: []ChangeItem{
			{Kind: "keep", Key: "api/health", Before: "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc", After: "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"},
		},
		Commits: []CommitRow{
			{SHA: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b", Message: "Say hello in French\n\nBecause we can.", Author: "Ada Lovelace"},
			{SHA: "4e07408562bedb8b60ce05c1decfe3ad16b72230", Message: "Remove the old endpoint", Author: "Grace Hopper"},
		},
		NeedsApproval: true,
		ConfirmURL:    "/apps/shop/promote",
	}
}

func promoteNothingFixture() PromoteModel {
	m := promoteFixture()
	m.From, m.To, m.Page.Title = "dev", "staging", "Promote shop: dev → staging"
	m.Summary = "Nothing changes: the stage already serves these functions."
	m.Major, m.Minor, m.Commits, m.NeedsApproval = nil, nil, nil, false
	m.Unchanged = append(m.Unchanged, ChangeItem{Kind: "keep", Key: "api/hello", Before: "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", After: "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"})
	return m
}

func stageSettingsFixture() StageSettingsModel {
	return StageSettingsModel{
		Page: testPage("prod · shop"), App: "shop", AppURL: "/apps/shop", Stage: "prod",
		Branch: "release/*", Approval: true, Protected: false, Target: "local",
		SaveURL: "/apps/shop/stages/prod",
		Vars: []VarRow{
			{Key: "DB_PASSWORD", Value: secretValue, Secret: true, UpdatedAt: now.Add(-3 * time.Hour), DeleteURL: "/apps/shop/stages/prod/vars/DB_PASSWORD/delete"},
			{Key: "GREETING", Value: "bonjour <b>monde</b>", UpdatedAt: now.Add(-10 * time.Minute), DeleteURL: "/apps/shop/stages/prod/vars/GREETING/delete"},
		},
		SetVarURL: "/apps/shop/stages/prod/vars",
		DeleteURL: "/apps/shop/stages/prod/delete",
		Errors:    map[string]string{"key": "\"1X\" is not a valid variable name."},
	}
}

// postForm checks that the element with the test id is a submit button in
// a POST form to action that carries the page's CSRF token, and returns the
// form.
func postForm(t *testing.T, d doc, testID, action string) *html.Node {
	t.Helper()
	btn := d.byTestID(testID)
	if btn.Data != "button" {
		t.Errorf("%s is a <%s>, want a button", testID, btn.Data)
	}
	form := ancestor(btn, "form")
	if form == nil {
		t.Fatalf("%s is not in a form", testID)
	}
	if got, _ := attr(form, "action"); got != action {
		t.Errorf("%s posts to %q, want %q", testID, got, action)
	}
	if method, _ := attr(form, "method"); method != "post" {
		t.Errorf("%s form method = %q, want post", testID, method)
	}
	if tok, ok := formValue(form, "_csrf"); !ok || tok != "tok-123" {
		t.Errorf("%s form _csrf = %q, %v; want tok-123", testID, tok, ok)
	}
	return form
}

// squash is an element's text with runs of white space made single spaces.
func squash(n *html.Node) string { return strings.Join(strings.Fields(text(n)), " ") }

func TestAppPagePipelineActions(t *testing.T) {
	m := pipelineFixture()
	d := parse(t, AppPage(m))

	t.Run("protected stage has no deploy form", func(t *testing.T) {
		if d.hasTestID("deploy-form-prod") || d.hasTestID("deploy-prod") {
			t.Error("the protected stage prod offers a direct deploy")
		}
		if got := squash(d.byTestID("protected-prod")); got != "Protected: promote into it or roll back" {
			t.Errorf("protected note = %q", got)
		}
		if d.hasTestID("protected-dev") || d.hasTestID("protected-staging") {
			t.Error("an unprotected stage says it is protected")
		}
		if strings.Contains(text(d.byTestID("stage-prod")), "Pushes to") {
			t.Error("the protected stage claims pushes deploy to it")
		}
	})

	t.Run("tags", func(t *testing.T) {
		if got := text(d.byTestID("tag-approval-prod")); got != "approval required" {
			t.Errorf("approval tag = %q", got)
		}
		if got := text(d.byTestID("tag-protected-prod")); got != "protected" {
			t.Errorf("protected tag = %q", got)
		}
		for _, id := range []string{"tag-approval-dev", "tag-protected-dev", "tag-approval-staging", "tag-protected-staging"} {
			if d.hasTestID(id) {
				t.Errorf("%s is shown for a stage without that setting", id)
			}
		}
	})

	t.Run("promote links", func(t *testing.T) {
		for _, st := range m.Stages {
			if st.PromoteURL == "" {
				if d.hasTestID("promote-" + st.Name) {
					t.Errorf("%s offers a promotion without a URL", st.Name)
				}
				continue
			}
			a := d.byTestID("promote-" + st.Name)
			if a.Data != "a" {
				t.Errorf("promote-%s is a <%s>, want a link (GET)", st.Name, a.Data)
			}
			if href, _ := attr(a, "href"); href != st.PromoteURL {
				t.Errorf("promote-%s goes to %q, want %q", st.Name, href, st.PromoteURL)
			}
			if got, want := squash(a), "Promote to "+st.PromoteTo+" →"; got != want {
				t.Errorf("promote-%s reads %q, want %q", st.Name, got, want)
			}
		}
	})

	t.Run("rollback forms ask first", func(t *testing.T) {
		for _, st := range m.Stages {
			if st.RollbackURL == "" {
				if d.hasTestID("rollback-" + st.Name) {
					t.Errorf("%s offers a rollback without a URL", st.Name)
				}
				continue
			}
			form := postForm(t, d, "rollback-"+st.Name, st.RollbackURL)
			if q, _ := attr(form, "data-confirm"); q != "Roll back "+st.Name+" to its previous release?" {
				t.Errorf("rollback-%s confirm = %q", st.Name, q)
			}
		}
	})

	t.Run("settings links", func(t *testing.T) {
		for _, st := range m.Stages {
			if href, _ := attr(d.byTestID("settings-"+st.Name), "href"); href != st.SettingsURL {
				t.Errorf("settings-%s goes to %q, want %q", st.Name, href, st.SettingsURL)
			}
		}
	})

	t.Run("awaiting promotions", func(t *testing.T) {
		list := d.byTestID("awaiting-prod")
		links := all(list, func(n *html.Node) bool { return n.Data == "a" })
		if len(links) != 1 {
			t.Fatalf("awaiting list has %d links, want 1", len(links))
		}
		if href, _ := attr(links[0], "href"); href != "/deploys/12" {
			t.Errorf("awaiting promotion links to %q", href)
		}
		if got := squash(links[0]); got != "Promotion #12 awaits approval" {
			t.Errorf("awaiting promotion reads %q", got)
		}
		if got := squash(list); !strings.Contains(got, "ada@example.com") || !strings.Contains(got, "2m ago") {
			t.Errorf("awaiting promotion lacks who and when: %q", got)
		}
		if d.hasTestID("awaiting-dev") {
			t.Error("dev lists promotions it does not have")
		}
		badge := all(d.byTestID("stage-status-prod"), func(n *html.Node) bool { return hasAttr(n, "data-status") })
		if len(badge) != 1 || text(badge[0]) != "awaiting approval" {
			t.Error("prod's status badge does not read \"awaiting approval\"")
		}
	})

	t.Run("glob branch", func(t *testing.T) {
		card := squash(d.byTestID("stage-staging"))
		if !strings.Contains(card, "Pushes to branches matching release/* deploy here") {
			t.Errorf("staging card = %q, want the glob explained", card)
		}
		if strings.Contains(card, "Leave empty to deploy release/*") {
			t.Error("the hint offers to deploy a glob, which is not a ref")
		}
	})
}

func TestDeployPageAwaitingApproval(t *testing.T) {
	m := awaitingDeployFixture()
	d := parse(t, DeployPage(m))

	box := d.byTestID("approval")
	if !strings.Contains(squash(box), "This promotion waits for approval") {
		t.Errorf("approval box = %q", squash(box))
	}
	if w, _ := attr(box, "data-live-while"); w != "awaiting_approval" {
		t.Errorf("approval box data-live-while = %q; the stream could not hide it", w)
	}
	postForm(t, d, "approve", m.ApproveURL)
	reject := postForm(t, d, "reject", m.RejectURL)
	if q, _ := attr(reject, "data-confirm"); !strings.Contains(q, "Reject promotion #12 to prod?") {
		t.Errorf("reject confirm = %q", q)
	}
	if _, ok := formValue(reject, "reason"); !ok {
		t.Error("the reject form has no reason field")
	}
	cancel := postForm(t, d, "cancel", m.CancelURL)
	if q, _ := attr(cancel, "data-confirm"); !strings.HasPrefix(q, "Cancel deploy #12 to prod?") {
		t.Errorf("cancel confirm = %q", q)
	}

	status := d.byTestID("deploy-status")
	if s, _ := attr(status, "data-status"); s != "awaiting_approval" || text(status) != "awaiting approval" {
		t.Errorf("status = %q (data-status %q)", text(status), s)
	}
	if c, _ := attr(status, "class"); c != "badge badge-awaiting_approval" {
		t.Errorf("status class = %q", c)
	}
	for id, want := range map[string]string{
		"deploy-source":  "Promoted from staging",
		"deploy-trigger": "promotion by ada@example.com",
		"deploy-commit":  "9f86d08 Say hello in French",
	} {
		if got := squash(d.byTestID(id)); got != want {
			t.Errorf("%s = %q, want %q", id, got, want)
		}
	}
	if d.hasTestID("decision") {
		t.Error("an undecided promotion says who decided")
	}

	t.Run("user who may not approve", func(t *testing.T) {
		m := awaitingDeployFixture()
		m.ApproveURL, m.RejectURL = "", ""
		d := parse(t, DeployPage(m))
		if d.hasTestID("approve") || d.hasTestID("reject") {
			t.Error("approve/reject offered without URLs")
		}
		if !strings.Contains(squash(d.byTestID("approval-not-allowed")), "You may not approve it") {
			t.Error("the box does not say why there are no buttons")
		}
	})

	t.Run("approved", func(t *testing.T) {
		m := awaitingDeployFixture()
		at := now.Add(-3 * time.Minute)
		m.Deploy.Status, m.DecidedBy, m.DecidedAt = "running", "grace@example.com", &at
		m.ApproveURL, m.RejectURL = "", ""
		d := parse(t, DeployPage(m))
		if d.hasTestID("approval") {
			t.Error("a decided promotion still shows the approval box")
		}
		if got := squash(d.byTestID("decision")); got != "Approved by grace@example.com 3m ago" {
			t.Errorf("decision = %q", got)
		}
	})

	t.Run("rejected", func(t *testing.T) {
		m := awaitingDeployFixture()
		at := now.Add(-time.Minute)
		m.Deploy.Status, m.Deploy.Error, m.DecidedBy, m.DecidedAt = "rejected", "Rejected: not on a Friday", "grace@example.com", &at
		m.ApproveURL, m.RejectURL, m.CancelURL, m.StreamURL = "", "", "", ""
		d := parse(t, DeployPage(m))
		if got := squash(d.byTestID("decision")); got != "Rejected by grace@example.com 1m ago" {
			t.Errorf("decision = %q", got)
		}
		if errBox := d.byTestID("deploy-error"); hasAttr(errBox, "hidden") || !strings.Contains(text(errBox), "not on a Friday") {
			t.Error("the rejection reason is not shown")
		}
		if d.hasTestID("cancel") {
			t.Error("a finished deploy offers to cancel")
		}
		if c, _ := attr(d.byTestID("deploy-status"), "class"); c != "badge badge-rejected" {
			t.Errorf("rejected badge class = %q", c)
		}
	})
}

func TestBuildPageCancel(t *testing.T) {
	m := cancellableBuildFixture()
	d := parse(t, BuildPage(m))
	form := postForm(t, d, "cancel", m.CancelURL)
	if q, _ := attr(form, "data-confirm"); !strings.HasPrefix(q, "Cancel build #7?") {
		t.Errorf("cancel confirm = %q", q)
	}
	if d := parse(t, BuildPage(buildFixture())); d.hasTestID("cancel") {
		t.Error("cancel offered without a URL")
	}
	m.Build.Status, m.CancelURL, m.StreamURL = "cancelled", "", ""
	status := parse(t, BuildPage(m)).byTestID("build-status")
	if c, _ := attr(status, "class"); c != "badge badge-cancelled" || text(status) != "cancelled" {
		t.Errorf("cancelled build badge = %q %q", c, text(status))
	}
}

// changeLines is the diff-style first line of each change in a list.
func changeLines(list *html.Node) []string {
	var out []string
	for _, it := range all(list, func(n *html.Node) bool { return hasAttr(n, "data-kind") }) {
		line := all(it, func(n *html.Node) bool { c, _ := attr(n, "class"); return c == "change-line" })[0]
		out = append(out, squash(line))
	}
	return out
}

func TestPromotePage(t *testing.T) {
	m := promoteFixture()
	d := parse(t, PromotePage(m))

	if got := squash(d.byTestID("promote-title")); got != "Promote shop: staging → prod" {
		t.Errorf("title = %q", got)
	}
	rel := squash(d.byTestID("promote-release"))
	for _, want := range []string{"#3", "build #7", "9f86d08", "Say hello in French"} {
		if !strings.Contains(rel, want) {
			t.Errorf("release line %q lacks %q", rel, want)
		}
	}
	sum := d.byTestID("promote-summary")
	if got := squash(sum); got != m.Summary {
		t.Errorf("summary = %q", got)
	}
	if k, _ := attr(sum, "data-kind"); k != "major" {
		t.Errorf("summary kind = %q, want major", k)
	}

	tests := []struct {
		name, testID string
		want         []string
	}{
		{name: "major", testID: "major-changes", want: []string{
			"+ api/bonjour abcdabcdabcd → new",
			"~ api/hello aaaaaaaaaaaa settings changed",
			"- api/old dddddddddddd removed",
		}},
		{name: "minor", testID: "minor-changes", want: []string{"~ api/greet 111111111111 → 222222222222"}},
		{name: "unchanged", testID: "unchanged-changes", want: []string{"= api/health cccccccccccc unchanged"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := changeLines(d.byTestID(tt.testID)); strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("%s:\n%s\nwant:\n%s", tt.testID, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
	if got := squash(d.byTestID("minor-changes")); !strings.Contains(got, "code: 111111111111 → 222222222222") || !strings.Contains(got, "env changed: DB_PASSWORD") {
		t.Errorf("minor change lacks its details: %q", got)
	}
	unchanged := d.byTestID("unchanged")
	if unchanged.Data != "details" || hasAttr(unchanged, "open") {
		t.Errorf("unchanged functions are in a <%s> (open %v), want a closed <details>", unchanged.Data, hasAttr(unchanged, "open"))
	}

	var commits []string
	for _, li := range all(d.byTestID("commits"), func(n *html.Node) bool { return n.Data == "li" }) {
		commits = append(commits, squash(li))
	}
	wantCommits := []string{"9f86d08 Say hello in French Ada Lovelace", "4e07408 Remove the old endpoint Grace Hopper"}
	if strings.Join(commits, "\n") != strings.Join(wantCommits, "\n") {
		t.Errorf("commits:\n%s\nwant:\n%s", strings.Join(commits, "\n"), strings.Join(wantCommits, "\n"))
	}

	if got := squash(d.byTestID("needs-approval")); got != "prod needs approval: the deploy will wait until an approver approves it." {
		t.Errorf("approval notice = %q", got)
	}

	form := postForm(t, d, "confirm-promote", m.ConfirmURL)
	// The form names the release it shows: confirming deploys that one or nothing.
	for name, want := range map[string]string{"from": "staging", "to": "prod", "release_id": "3"} {
		if v, ok := formValue(form, name); !ok || v != want {
			t.Errorf("confirm form %s = %q, %v; want %q", name, v, ok, want)
		}
	}
	if got := squash(d.byTestID("confirm-promote")); got != "Promote to prod" {
		t.Errorf("confirm button = %q", got)
	}
	if href, _ := attr(d.byTestID("cancel-promote"), "href"); href != "/apps/shop" {
		t.Errorf("cancel goes to %q", href)
	}

	t.Run("nothing changes", func(t *testing.T) {
		m := promoteNothingFixture()
		d := parse(t, PromotePage(m))
		sum := d.byTestID("promote-summary")
		if !strings.HasPrefix(squash(sum), "Nothing changes") {
			t.Errorf("summary = %q", squash(sum))
		}
		if k, _ := attr(sum, "data-kind"); k != "nothing" {
			t.Errorf("summary kind = %q, want nothing", k)
		}
		if c, _ := attr(sum, "class"); !strings.Contains(c, "summary-nothing") {
			t.Errorf("summary class = %q", c)
		}
		for _, id := range []string{"major-changes", "minor-changes", "major-changes-empty", "minor-changes-empty", "needs-approval"} {
			if d.hasTestID(id) {
				t.Errorf("%s shown although nothing changes", id)
			}
		}
		if got := len(changeLines(d.byTestID("unchanged-changes"))); got != 2 {
			t.Errorf("%d unchanged functions listed, want 2", got)
		}
		if got := squash(d.byTestID("commits")); !strings.Contains(got, "No new commits") {
			t.Errorf("commits = %q", got)
		}
		postForm(t, d, "confirm-promote", m.ConfirmURL)
	})

	if d.hasTestID("promote-moved") {
		t.Error("a fresh preview says the source stage moved")
	}
	t.Run("source moved since the preview", func(t *testing.T) {
		m := promoteFixture()
		m.ReleaseID = 4
		m.Moved = "Stage staging moved on since the promotion was reviewed: release #3 (build #7) was previewed, release #4 (build #8) is live now. Review the promotion again."
		d := parse(t, PromotePage(m))
		if got := squash(d.byTestID("promote-moved")); got != m.Moved {
			t.Errorf("moved notice = %q", got)
		}
		if role, _ := attr(d.byTestID("promote-moved"), "role"); role != "alert" {
			t.Errorf("moved notice role = %q, want alert", role)
		}
		if v, _ := formValue(postForm(t, d, "confirm-promote", m.ConfirmURL), "release_id"); v != "4" {
			t.Errorf("the form after a refusal sends release %q, want the one now shown (4)", v)
		}
	})

	t.Run("minor only, commits unavailable", func(t *testing.T) {
		m := promoteFixture()
		m.Major, m.Commits, m.CommitsError = nil, nil, "the repository could not be fetched"
		d := parse(t, PromotePage(m))
		if !d.hasTestID("major-changes-empty") || d.hasTestID("major-changes") {
			t.Error("no plain \"None\" for major changes")
		}
		c := d.byTestID("commits")
		if got := squash(d.byTestID("commits-error")); !strings.Contains(got, "the repository could not be fetched") {
			t.Errorf("commits error = %q", got)
		}
		if len(all(c, func(n *html.Node) bool { return n.Data == "li" })) != 0 || strings.Contains(squash(c), "No new commits") {
			t.Error("commits list shown next to its error")
		}
	})
}

func TestStageSettingsPage(t *testing.T) {
	m := stageSettingsFixture()
	raw := render(t, StageSettingsPage(m))
	if strings.Contains(raw, secretValue) {
		t.Fatal("a secret's value reached the page")
	}
	d := parse(t, StageSettingsPage(m))

	form := postForm(t, d, "save-stage", m.SaveURL)
	if v, _ := formValue(form, "branch"); v != "release/*" {
		t.Errorf("branch field = %q", v)
	}
	checks := map[string]bool{}
	for _, in := range all(form, func(n *html.Node) bool { ty, _ := attr(n, "type"); return ty == "checkbox" }) {
		name, _ := attr(in, "name")
		checks[name] = hasAttr(in, "checked")
	}
	if want := map[string]bool{"approval": true, "protected": false}; len(checks) != 2 || checks["approval"] != want["approval"] || checks["protected"] != want["protected"] {
		t.Errorf("checkboxes = %v, want %v", checks, want)
	}
	if hint := squash(form); !strings.Contains(hint, "exact branch or glob like release/*; empty: no automatic deploys") {
		t.Errorf("branch hint missing: %q", hint)
	}
	if !strings.Contains(squash(d.byTestID("takes-effect")), "Changes take effect on the stage's next deploy.") {
		t.Error("no note that changes wait for the next deploy")
	}

	secretRow := d.byTestID("var-DB_PASSWORD")
	if got := squash(d.byTestID("secret-DB_PASSWORD")); got != "•••••• secret" {
		t.Errorf("secret shows %q, want the mask", got)
	}
	if d.hasTestID("value-DB_PASSWORD") || strings.Contains(text(secretRow), secretValue) {
		t.Error("the secret row shows a value")
	}
	if got := text(d.byTestID("value-GREETING")); got != "bonjour <b>monde</b>" {
		t.Errorf("plain value = %q", got)
	}
	if len(all(d.byTestID("var-GREETING"), func(n *html.Node) bool { return n.Data == "b" })) != 0 {
		t.Error("a variable's value was interpreted as HTML")
	}
	for _, v := range m.Vars {
		f := postForm(t, d, "remove-var-"+v.Key, v.DeleteURL)
		if q, _ := attr(f, "data-confirm"); !strings.HasPrefix(q, "Remove "+v.Key+" from prod?") {
			t.Errorf("remove %s confirm = %q", v.Key, q)
		}
	}

	varForm := postForm(t, d, "set-var", m.SetVarURL)
	for _, name := range []string{"key", "value", "secret"} {
		if len(all(varForm, func(n *html.Node) bool { v, _ := attr(n, "name"); return v == name })) != 1 {
			t.Errorf("variable form has no %q field", name)
		}
	}
	if !strings.Contains(squash(varForm), "Secrets are encrypted, masked in logs and never shown again.") {
		t.Error("no hint on what a secret is")
	}
	if got := text(d.byTestID("error-key")); got != m.Errors["key"] {
		t.Errorf("key error = %q", got)
	}
	if d.hasTestID("error-branch") || d.hasTestID("form-error") {
		t.Error("errors shown that the model does not have")
	}

	del := postForm(t, d, "delete-stage", m.DeleteURL)
	if q, _ := attr(del, "data-confirm"); q != "Delete stage prod? Its functions stop and its history is removed." {
		t.Errorf("delete confirm = %q", q)
	}

	t.Run("form error", func(t *testing.T) {
		m := stageSettingsFixture()
		m.Error, m.Errors, m.Vars = "Could not save: `seedbed stages list shop` shows the stages.", map[string]string{"branch": "\"a b\" is not a branch name or glob."}, nil
		d := parse(t, StageSettingsPage(m))
		if got := squash(d.byTestID("form-error")); got != "Could not save: seedbed stages list shop shows the stages." {
			t.Errorf("form error = %q", got)
		}
		if got := text(d.byTestID("error-branch")); got != m.Errors["branch"] {
			t.Errorf("branch error = %q", got)
		}
		if !d.hasTestID("vars-empty") || d.hasTestID("vars") {
			t.Error("no empty state for a stage without variables")
		}
	})
}

func TestStatusLabelsAndClasses(t *testing.T) {
	tests := []struct{ status, label, class string }{
		{status: "", label: "not deployed", class: "badge badge-none"},
		{status: "queued", label: "queued", class: "badge badge-queued"},
		{status: "awaiting_approval", label: "awaiting approval", class: "badge badge-awaiting_approval"},
		{status: "rejected", label: "rejected", class: "badge badge-rejected"},
		{status: "cancelled", label: "cancelled", class: "badge badge-cancelled"},
		{status: "x y", label: "x y", class: "badge badge-none"},
	}
	for _, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			if got := statusLabel(tt.status); got != tt.label {
				t.Errorf("statusLabel(%q) = %q, want %q", tt.status, got, tt.label)
			}
			if got := statusClass(tt.status); got != tt.class {
				t.Errorf("statusClass(%q) = %q, want %q", tt.status, got, tt.class)
			}
		})
	}
	for _, s := range []string{"succeeded", "failed", "superseded", "rejected", "cancelled"} {
		if !isTerminal(s) {
			t.Errorf("%s is not terminal", s)
		}
	}
	for _, s := range []string{"queued", "running", "awaiting_approval"} {
		if isTerminal(s) {
			t.Errorf("%s is terminal", s)
		}
	}
}
