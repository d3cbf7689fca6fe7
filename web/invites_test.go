package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web"
	"github.com/seedbed/seedbed/web/apiv1"
	"github.com/seedbed/seedbed/web/auth"
)

func apiPost(t *testing.T, base, token, path string, body any) *http.Response {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// acceptInvite opens an invite link in a fresh browser and posts a password.
func acceptInvite(t *testing.T, f *fixture, link, password string) (*http.Client, *http.Response) {
	t.Helper()
	c := f.browser(t)
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	target := f.srv.URL + u.Path
	resp, err := c.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(page)
	if m == nil {
		return c, resp // no form: the link cannot be used
	}
	resp, err = c.PostForm(target, url.Values{"_csrf": {string(m[1])}, "password": {password}, "confirm": {password}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return c, resp
}

func TestInviteFlow(t *testing.T) {
	rf := setupRoles(t)
	f := rf.fixture
	ctx := context.Background()

	resp := apiPost(t, f.srv.URL, f.token, "/api/v1/invites", apiv1.CreateInviteRequest{Email: "Grace@Example.com", Approver: true})
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("create invite: %d %s", resp.StatusCode, b)
	}
	var inv apiv1.Invite
	if err := json.NewDecoder(resp.Body).Decode(&inv); err != nil {
		t.Fatal(err)
	}
	if inv.Email != "grace@example.com" || !strings.HasPrefix(inv.URL, "https://seedbed.example/invite/sbi_") ||
		inv.ExpiresAt.Before(time.Now().Add(6*24*time.Hour)) || inv.ExpiresAt.After(time.Now().Add(8*24*time.Hour)) {
		t.Fatalf("invite = %+v", inv)
	}
	// The link is on the public URL; the test server is elsewhere.
	token := strings.TrimPrefix(inv.URL, "https://seedbed.example/invite/")
	stored, err := f.store.InviteByTokenHash(ctx, auth.Hash(token))
	if err != nil || stored.TokenHash == token || strings.Contains(stored.TokenHash, token) {
		t.Fatalf("invite not stored hashed: %+v, %v", stored, err)
	}

	t.Run("only admins invite", func(t *testing.T) {
		for _, role := range []string{store.RoleOwner, store.RoleViewer} {
			resp := apiPost(t, f.srv.URL, rf.users[role].token, "/api/v1/invites", apiv1.CreateInviteRequest{Email: "x@example.com"})
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s: status %d, want 403", role, resp.StatusCode)
			}
		}
	})
	t.Run("bad or taken emails are refused", func(t *testing.T) {
		for email, want := range map[string]int{"not-an-email": 422, "viewer@example.com": 409} {
			resp := apiPost(t, f.srv.URL, f.token, "/api/v1/invites", apiv1.CreateInviteRequest{Email: email})
			if resp.StatusCode != want {
				t.Errorf("%s: status %d, want %d", email, resp.StatusCode, want)
			}
		}
	})
	t.Run("a short password is refused and the invite kept", func(t *testing.T) {
		_, resp := acceptInvite(t, f, inv.URL, "short")
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("status %d, want 422", resp.StatusCode)
		}
	})
	t.Run("accept once: user made, signed in, invite used", func(t *testing.T) {
		c, resp := acceptInvite(t, f, inv.URL, "grace-hopper-1906")
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/apps" {
			t.Fatalf("accept: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if body := getPage(t, c, f.srv.URL+"/account"); !strings.Contains(body, "Signed in as grace@example.com") || !strings.Contains(body, "approver") {
			t.Error("the new user is not signed in as an approver")
		}
		u, err := f.store.UserByEmail(ctx, "grace@example.com")
		if err != nil || !u.IsApprover || u.IsAdmin {
			t.Fatalf("user = %+v, %v", u, err)
		}
		if _, err := f.accounts.Authenticate(ctx, "grace@example.com", "grace-hopper-1906"); err != nil {
			t.Errorf("the chosen password does not work: %v", err)
		}
		stored, _ := f.store.InviteByTokenHash(ctx, auth.Hash(token))
		if stored.UsedAt == nil {
			t.Error("invite not marked used")
		}
	})
	t.Run("second use refused", func(t *testing.T) {
		_, resp := acceptInvite(t, f, inv.URL, "another-password")
		if resp.StatusCode != http.StatusGone {
			t.Fatalf("status %d, want 410", resp.StatusCode)
		}
		// Posting straight to the link (a form kept open) is refused too.
		c := f.browser(t)
		tok := csrfFrom(t, c, f.srv.URL+"/login")
		resp, err := c.PostForm(f.srv.URL+"/invite/"+token, url.Values{"_csrf": {tok}, "password": {"another-password"}, "confirm": {"another-password"}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusGone || !strings.Contains(string(body), "used already") {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if _, err := f.accounts.Authenticate(ctx, "grace@example.com", "another-password"); err == nil {
			t.Error("a second use changed the password")
		}
	})
	t.Run("expired refused", func(t *testing.T) {
		tok, hash, err := auth.NewInviteToken()
		if err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-8 * 24 * time.Hour)
		if err := f.store.CreateInvite(ctx, &store.Invite{TokenHash: hash, Email: "late@example.com", CreatedAt: old, ExpiresAt: old.Add(7 * 24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		_, resp := acceptInvite(t, f, f.srv.URL+"/invite/"+tok, "late-password")
		if resp.StatusCode != http.StatusGone {
			t.Fatalf("status %d, want 410", resp.StatusCode)
		}
		if _, err := f.store.UserByEmail(ctx, "late@example.com"); err == nil {
			t.Error("an expired invite made a user")
		}
	})
	t.Run("unknown link", func(t *testing.T) {
		_, resp := acceptInvite(t, f, f.srv.URL+"/invite/sbi_nope", "whatever-password")
		if resp.StatusCode != http.StatusGone {
			t.Fatalf("status %d, want 410", resp.StatusCode)
		}
	})
	t.Run("console form for admins only", func(t *testing.T) {
		admin, csrf := f.signIn(t)
		if body := getPage(t, admin, f.srv.URL+"/account"); !strings.Contains(body, `data-testid="invite-form"`) {
			t.Fatal("no invite form for an admin")
		}
		resp, err := admin.PostForm(f.srv.URL+"/account/invites", url.Values{"_csrf": {csrf}, "email": {"linus@example.com"}, "admin": {"1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusCreated || !strings.Contains(string(body), "https://seedbed.example/invite/sbi_") {
			t.Fatalf("console invite: %d\n%s", resp.StatusCode, body)
		}
		viewer := rf.users[store.RoleViewer]
		if body := getPage(t, viewer.browser, f.srv.URL+"/account"); strings.Contains(body, `data-testid="invite-form"`) {
			t.Error("a non-admin sees the invite form")
		}
		resp2, err := viewer.browser.PostForm(f.srv.URL+"/account/invites", url.Values{"_csrf": {viewer.csrf}, "email": {"eve@example.com"}})
		if err != nil {
			t.Fatal(err)
		}
		resp2.Body.Close()
		if resp2.StatusCode != http.StatusForbidden {
			t.Errorf("non-admin console invite: %d, want 403", resp2.StatusCode)
		}
	})
}

// An admin lists the pending invites (not the used or expired ones) and
// revokes one, through the API and the console alike; the revoked link then
// fails with a page that says so, and the activity feed records who revoked
// it, for admins only.
func TestInvitesListAndRevoke(t *testing.T) {
	rf := setupRoles(t)
	f := rf.fixture
	ctx := context.Background()
	admin := apiv1.NewClient(f.srv.URL, f.token)
	mk := func(email string) apiv1.Invite {
		t.Helper()
		inv, err := admin.CreateInvite(ctx, apiv1.CreateInviteRequest{Email: email})
		if err != nil {
			t.Fatal(err)
		}
		if inv.ID == 0 || inv.CreatedBy != "ada@example.com" || inv.CreatedAt.IsZero() {
			t.Fatalf("created invite = %+v", inv)
		}
		return inv
	}
	used := mk("used@example.com")
	if _, resp := acceptInvite(t, f, used.URL, "used-password-1"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("accept: %d", resp.StatusCode)
	}
	_, expiredHash, _ := auth.NewInviteToken()
	old := time.Now().Add(-8 * 24 * time.Hour)
	if err := f.store.CreateInvite(ctx, &store.Invite{TokenHash: expiredHash, Email: "late@example.com", CreatedAt: old, ExpiresAt: old.Add(web.InviteTTL)}); err != nil {
		t.Fatal(err)
	}
	first, second := mk("first@example.com"), mk("second@example.com")

	list, err := admin.Invites(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var emails []string
	for _, inv := range list {
		emails = append(emails, inv.Email)
		if inv.URL != "" {
			t.Errorf("the list shows the link of %s again", inv.Email)
		}
	}
	if strings.Join(emails, " ") != "second@example.com first@example.com" {
		t.Fatalf("pending invites = %v, want the two unused unexpired ones, newest first", emails)
	}

	t.Run("API revoke", func(t *testing.T) {
		if err := admin.RevokeInvite(ctx, first.ID); err != nil {
			t.Fatal(err)
		}
		if err := admin.RevokeInvite(ctx, first.ID); !isStatus(err, http.StatusConflict) || !strings.Contains(err.Error(), "revoked already") {
			t.Errorf("revoke twice: %v, want 409", err)
		}
		if err := admin.RevokeInvite(ctx, used.ID); !isStatus(err, http.StatusConflict) || !strings.Contains(err.Error(), "used already") {
			t.Errorf("revoke a used invite: %v, want 409", err)
		}
		if err := admin.RevokeInvite(ctx, 9999); !isStatus(err, http.StatusNotFound) {
			t.Errorf("revoke an unknown invite: %v, want 404", err)
		}
		if list, _ := admin.Invites(ctx); len(list) != 1 || list[0].ID != second.ID {
			t.Errorf("pending after revoking: %+v", list)
		}
		// The link fails, on its page and when its form is posted.
		_, resp := acceptInvite(t, f, first.URL, "first-password-1")
		if resp.StatusCode != http.StatusGone {
			t.Fatalf("revoked link: %d, want 410", resp.StatusCode)
		}
		page, _ := http.Get(f.srv.URL + first.URL[strings.Index(first.URL, "/invite/"):])
		body, _ := io.ReadAll(page.Body)
		page.Body.Close()
		if page.StatusCode != http.StatusGone || !strings.Contains(string(body), "was revoked") {
			t.Errorf("revoked link page: %d\n%s", page.StatusCode, body)
		}
		c := f.browser(t)
		tok := csrfFrom(t, c, f.srv.URL+"/login")
		token := first.URL[strings.LastIndex(first.URL, "/")+1:]
		post, err := c.PostForm(f.srv.URL+"/invite/"+token, url.Values{"_csrf": {tok}, "password": {"first-password-1"}, "confirm": {"first-password-1"}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(post.Body)
		post.Body.Close()
		if post.StatusCode != http.StatusGone || !strings.Contains(string(body), "was revoked") {
			t.Errorf("posting to a revoked link: %d", post.StatusCode)
		}
		if _, err := f.store.UserByEmail(ctx, "first@example.com"); err == nil {
			t.Error("a revoked invite made a user")
		}
	})

	t.Run("console list and revoke", func(t *testing.T) {
		c, csrf := f.signIn(t)
		body := getPage(t, c, f.srv.URL+"/account")
		for _, want := range []string{fmt.Sprintf(`data-testid="invite-%d"`, second.ID), "second@example.com", fmt.Sprintf(`action="/account/invites/%d/revoke"`, second.ID)} {
			if !strings.Contains(body, want) {
				t.Errorf("account page lacks %s", want)
			}
		}
		for _, gone := range []string{"first@example.com", "used@example.com", "late@example.com"} {
			if strings.Contains(body, gone) {
				t.Errorf("account page lists %s, which is not pending", gone)
			}
		}
		resp, err := c.PostForm(f.srv.URL+fmt.Sprintf("/account/invites/%d/revoke", second.ID), url.Values{"_csrf": {csrf}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account" {
			t.Fatalf("console revoke: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		body = getPage(t, c, f.srv.URL+"/account")
		if !strings.Contains(body, "The invite for second@example.com is revoked") || !strings.Contains(body, `data-testid="invites-empty"`) {
			t.Errorf("account page after revoking:\n%s", body)
		}
	})

	t.Run("activity feed", func(t *testing.T) {
		entries := func(token string) []apiv1.ActivityEntry {
			resp := apiGet(t, f.srv.URL, token, "/api/v1/activity")
			var out []apiv1.ActivityEntry
			json.NewDecoder(resp.Body).Decode(&out)
			return out
		}
		var got []string
		for _, e := range entries(f.token) {
			if e.Kind == "invite" {
				got = append(got, fmt.Sprintf("%d %s %s %s", e.ID, e.Email, e.TriggeredBy, e.Status))
			}
		}
		want := []string{fmt.Sprintf("%d second@example.com ada@example.com revoked", second.ID), fmt.Sprintf("%d first@example.com ada@example.com revoked", first.ID)}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("invite entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		for _, e := range entries(rf.users[store.RoleOwner].token) {
			if e.Kind == "invite" {
				t.Errorf("a non-admin's feed shows %+v", e)
			}
		}
		c, _ := f.signIn(t)
		if body := getPage(t, c, f.srv.URL+"/activity"); !strings.Contains(body, "revoked the ") || !strings.Contains(body, " for first@example.com") {
			t.Errorf("the console feed does not show the revocation:\n%s", body)
		}
	})
}

// Every route the role table keeps for admins refuses everyone else with
// 403, whatever their roles on apps, and lets admins through.
func TestInviteRoutesAreForAdmins(t *testing.T) {
	rf := setupRoles(t)
	owner := rf.users[store.RoleOwner]
	admin := &roleUser{email: "ada@example.com", token: rf.token}
	admin.browser, admin.csrf = rf.signIn(t)
	inv, err := apiv1.NewClient(rf.srv.URL, rf.token).CreateInvite(context.Background(), apiv1.CreateInviteRequest{Email: "x@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range web.RoutesOf(rf.srv.Config.Handler.(*web.Server)) {
		if !web.AdminRoute(r.Method, r.Path) {
			continue
		}
		n++
		path := strings.Replace(r.Path, ":id", fmt.Sprint(inv.ID), 1)
		if status, body := rf.do(t, owner, r.Method, path); status != http.StatusForbidden || !strings.Contains(body, "Only admins") {
			t.Errorf("%s %s as an app owner: %d, want 403\n%.300s", r.Method, path, status, body)
		}
		if status, body := rf.do(t, admin, r.Method, path); status == http.StatusForbidden || status == http.StatusUnauthorized {
			t.Errorf("%s %s as an admin: %d\n%.300s", r.Method, path, status, body)
		}
	}
	if n != 5 {
		t.Errorf("%d admin routes, want 5 (invites: list, create, revoke; console: create, revoke)", n)
	}
	if body := getPage(t, owner.browser, rf.srv.URL+"/account"); strings.Contains(body, `data-testid="invites"`) || strings.Contains(body, "invites-empty") {
		t.Error("a non-admin's account page lists invites")
	}
}
