package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/seedbed/seedbed/store"
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
