package views

import (
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"
	"golang.org/x/net/html"
)

// Every form of a console page that changes something posts in place with
// htmx (hx-boost, swapping <main>) and still works as a plain form: a POST
// to a real URL with the CSRF field. Forms that take something away ask
// first (data-confirm). The login and invite forms, which lead out of or
// into the signed-in console, are plain.
func TestConsoleFormsPostInPlace(t *testing.T) {
	account := AccountModel{Page: testPage("Account"), Email: "ada@example.com", IsAdmin: true, CreateURL: "/account/tokens", InviteURL: "/account/invites",
		Tokens:   []TokenRow{{ID: 3, Name: "laptop", Prefix: "sbt_ab", CreatedAt: now, RevokeURL: "/account/tokens/3/revoke"}},
		Sessions: []SessionRow{{ID: 5, UserAgent: "Firefox", CreatedAt: now, ExpiresAt: now.Add(time.Hour), RevokeURL: "/account/sessions/5/revoke"}},
		Invites:  []InviteRow{{ID: 7, Email: "grace@example.com", IsApprover: true, CreatedBy: "ada@example.com", CreatedAt: now, ExpiresAt: now.Add(time.Hour), RevokeURL: "/account/invites/7/revoke"}},
	}
	members := MembersModel{Page: testPage("Members"), App: "shop", AppURL: "/apps/shop", SetURL: "/apps/shop/members",
		Members: []MemberRow{{Email: "bob@example.com", Role: "viewer", Since: now, RemoveURL: "/apps/shop/members/bob@example.com/delete"}}}
	app := pipelineFixture()
	app.AddStageURL, app.OrderURL, app.StageOrder = "/apps/shop/stages", "/apps/shop/stages/order", "dev staging prod"
	pages := []struct {
		name string
		c    templ.Component
	}{
		{"app", AppPage(appFixture())},
		{"pipeline", AppPage(app)},
		{"build", BuildPage(cancellableBuildFixture())},
		{"deploy awaiting approval", DeployPage(awaitingDeployFixture())},
		{"promote", PromotePage(promoteFixture())},
		{"stage settings", StageSettingsPage(stageSettingsFixture())},
		{"account", AccountPage(account)},
		{"members", MembersPage(members)},
		{"new app", NewAppPage(AppForm{Page: testPage("Connect a repository")})},
	}
	// destructive are the actions that take something away: they ask first.
	destructive := []string{"/revoke", "/delete", "/rollback", "/cancel", "/reject"}
	forms := 0
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			d := parse(t, p.c)
			main := all(d.root, func(n *html.Node) bool { return n.Data == "main" })
			if len(main) != 1 {
				t.Fatalf("%d <main> elements", len(main))
			}
			if id, _ := attr(main[0], "id"); id != "main" {
				t.Errorf("<main> id = %q, want main (the forms swap #main)", id)
			}
			for _, want := range [][2]string{{"hx-target", "this"}, {"hx-select", "#main"}, {"hx-swap", "outerHTML"}} {
				if v, _ := attr(main[0], want[0]); v != want[1] {
					t.Errorf("<main> %s = %q, want %q", want[0], v, want[1])
				}
			}
			for _, f := range all(main[0], func(n *html.Node) bool { return n.Data == "form" }) {
				method, _ := attr(f, "method")
				action, _ := attr(f, "action")
				if method != "post" {
					continue
				}
				forms++
				if boost, _ := attr(f, "hx-boost"); boost != "true" {
					t.Errorf("form posting to %s does not post in place (hx-boost)", action)
				}
				if !strings.HasPrefix(action, "/") {
					t.Errorf("form action %q is no URL a plain POST can reach", action)
				}
				if v, ok := formValue(f, "_csrf"); !ok || v != "tok-123" {
					t.Errorf("form posting to %s lacks the CSRF field", action)
				}
				for _, suffix := range destructive {
					if strings.HasSuffix(action, suffix) && !hasAttr(f, "data-confirm") {
						t.Errorf("form posting to %s takes something away without asking (data-confirm)", action)
					}
				}
			}
		})
	}
	if forms < 20 {
		t.Errorf("only %d forms checked; the fixtures lost their forms", forms)
	}
	t.Run("plain forms", func(t *testing.T) {
		for _, c := range []templ.Component{
			LoginPage(LoginModel{Page: Page{Title: "Sign in", CSRFToken: "tok"}}),
			InvitePage(InviteModel{Page: Page{Title: "Join", CSRFToken: "tok"}, Email: "x@example.com", ActionURL: "/invite/sbi_x"}),
		} {
			d := parse(t, c)
			for _, f := range all(d.root, func(n *html.Node) bool { return n.Data == "form" }) {
				if hasAttr(f, "hx-boost") {
					a, _ := attr(f, "action")
					t.Errorf("form posting to %s is boosted; it leads to another top bar and must load a whole page", a)
				}
			}
		}
	})
}

// The account page lists an admin's pending invites, each with a Revoke
// button that asks first.
func TestAccountPageInvites(t *testing.T) {
	m := AccountModel{Page: testPage("Account"), Email: "ada@example.com", IsAdmin: true, CreateURL: "/account/tokens", InviteURL: "/account/invites",
		Invites: []InviteRow{
			{ID: 9, Email: "lin@example.com", IsAdmin: true, IsApprover: true, CreatedBy: "ada@example.com", CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour), RevokeURL: "/account/invites/9/revoke"},
			{ID: 7, Email: "grace@example.com", CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(time.Hour), RevokeURL: "/account/invites/7/revoke"},
		}}
	d := parse(t, AccountPage(m))
	row := d.byTestID("invite-9")
	if got := text(row); !strings.Contains(got, "lin@example.com") || !strings.Contains(got, "admin, approver") || !strings.Contains(got, "by ada@example.com") {
		t.Errorf("invite row = %q", got)
	}
	if got := text(d.byTestID("invite-7")); !strings.Contains(got, "user") {
		t.Errorf("plain invite row = %q", got)
	}
	form := ancestor(d.byTestID("revoke-invite-9"), "form")
	if a, _ := attr(form, "action"); a != "/account/invites/9/revoke" {
		t.Errorf("revoke posts to %q", a)
	}
	if q, _ := attr(form, "data-confirm"); !strings.Contains(q, "lin@example.com") {
		t.Errorf("revoke asks %q", q)
	}
	if d.hasTestID("invites-empty") {
		t.Error("an empty state beside the list")
	}

	m.Invites = nil
	if d := parse(t, AccountPage(m)); !d.hasTestID("invites-empty") || d.hasTestID("invites") {
		t.Error("no empty state without pending invites")
	}
	m.IsAdmin, m.InviteURL = false, ""
	if d := parse(t, AccountPage(m)); d.hasTestID("invites-empty") || d.hasTestID("invite-form") {
		t.Error("a non-admin's account page shows invites")
	}
}
