package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/web/apiv1"
)

// Creating an app is for admins and creators, through the console and the
// API alike; a user who may not does not see the way to, and a refusal
// says what is needed. A creator may not point an app at the server's
// disk or its loopback; an admin may use a local path.
func TestCreatingAppsNeedsCreator(t *testing.T) {
	rf := setupRoles(t)
	ctx := context.Background()
	plain := rf.users["stranger"]
	admin := apiv1.NewClient(rf.srv.URL, rf.token)

	status, body := rf.do(t, plain, http.MethodGet, "/apps")
	if status != http.StatusOK || strings.Contains(body, `data-testid="new-app"`) || !strings.Contains(body, `data-testid="no-create"`) {
		t.Fatalf("apps page of a user who may not create apps (%d) shows the way to:\n%s", status, body)
	}
	status, body = rf.do(t, plain, http.MethodGet, "/apps/new")
	if status != http.StatusForbidden || !strings.Contains(body, "creators") {
		t.Fatalf("GET /apps/new by a plain user: %d, want 403 naming creators:\n%s", status, body)
	}
	form := func(u string, name, repo string) (int, string) {
		t.Helper()
		resp, err := rf.users[u].browser.PostForm(rf.srv.URL+"/apps", url.Values{"_csrf": {rf.users[u].csrf}, "name": {name}, "repo_url": {repo}, "branch": {"main"}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b := new(strings.Builder)
		_, _ = io.Copy(b, resp.Body)
		return resp.StatusCode, b.String()
	}
	if status, body := form("stranger", "nope", "https://140.82.121.3/x.git"); status != http.StatusForbidden || !strings.Contains(body, "creators") {
		t.Fatalf("console create by a plain user: %d, want 403:\n%s", status, body)
	}
	stranger := apiv1.NewClient(rf.srv.URL, plain.token)
	if _, err := stranger.CreateApp(ctx, apiv1.CreateAppRequest{Name: "nope", RepoURL: "https://140.82.121.3/x.git", Branch: "main"}); !isStatus(err, http.StatusForbidden) || !strings.Contains(err.Error(), "creator") {
		t.Fatalf("API create by a plain user: %v, want 403 naming creators", err)
	}

	// An admin marks the user a creator.
	creator := true
	acc, err := admin.UpdateUser(ctx, "stranger@example.com", apiv1.UpdateUserRequest{Creator: &creator})
	if err != nil || !acc.IsCreator {
		t.Fatalf("mark a creator: %+v, %v", acc, err)
	}
	if _, err := stranger.UpdateUser(ctx, "viewer@example.com", apiv1.UpdateUserRequest{Creator: &creator}); !isStatus(err, http.StatusForbidden) {
		t.Fatalf("a non-admin marks a creator: %v, want 403", err)
	}
	if status, body := rf.do(t, plain, http.MethodGet, "/apps"); status != http.StatusOK || !strings.Contains(body, `data-testid="new-app"`) {
		t.Fatalf("apps page of a creator (%d) lacks the New app button", status)
	}
	if status, _ := rf.do(t, plain, http.MethodGet, "/apps/new"); status != http.StatusOK {
		t.Fatalf("GET /apps/new by a creator: %d", status)
	}

	tests := []struct {
		name   string
		repo   string
		status int
		says   string
	}{
		{name: "local path", repo: "/srv/other/repo", status: http.StatusForbidden, says: "for admins only"},
		{name: "file URL", repo: "file:///srv/other/repo", status: http.StatusForbidden, says: "for admins only"},
		{name: "loopback", repo: "http://127.0.0.1:8080/git/shop.git", status: http.StatusUnprocessableEntity, says: "SEEDBED_ALLOW_PRIVATE_REPOS"},
		{name: "metadata service", repo: "http://169.254.169.254/x.git", status: http.StatusUnprocessableEntity, says: "link-local"},
		{name: "decimal loopback", repo: "http://2130706433/x.git", status: http.StatusUnprocessableEntity, says: "loopback"},
		{name: "private ssh", repo: "git@10.0.0.1:acme/x.git", status: http.StatusUnprocessableEntity, says: "private"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "c" + string(rune('a'+i))
			_, err := stranger.CreateApp(ctx, apiv1.CreateAppRequest{Name: name, RepoURL: tt.repo, Branch: "main"})
			if !isStatus(err, tt.status) || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("API: %v, want %d saying %q", err, tt.status, tt.says)
			}
			status, body := form("stranger", name, tt.repo)
			if status != tt.status || !strings.Contains(body, tt.says) {
				t.Fatalf("console: %d, want %d saying %q:\n%s", status, tt.status, tt.says, body)
			}
			if _, err := rf.store.AppByName(ctx, name); err == nil {
				t.Fatalf("app %s was created", name)
			}
		})
	}
	if _, err := stranger.CreateApp(ctx, apiv1.CreateAppRequest{Name: "public", RepoURL: "https://140.82.121.3/acme/x.git", Branch: "main", Check: new(bool)}); err != nil {
		t.Fatalf("a creator with a public URL: %v", err)
	}
	if _, err := admin.CreateApp(ctx, apiv1.CreateAppRequest{Name: "local", RepoURL: "/srv/local/repo", Branch: "main", Check: new(bool)}); err != nil {
		t.Fatalf("an admin with a local path: %v", err)
	}
	if _, err := admin.CreateApp(ctx, apiv1.CreateAppRequest{Name: "lo", RepoURL: "http://localhost/x.git", Branch: "main"}); !isStatus(err, http.StatusUnprocessableEntity) {
		t.Fatalf("an admin with a loopback URL and no setting: %v, want 422", err)
	}
	// Taking the mark away closes the door again.
	no := false
	if _, err := admin.UpdateUser(ctx, "stranger@example.com", apiv1.UpdateUserRequest{Creator: &no}); err != nil {
		t.Fatal(err)
	}
	if _, err := stranger.CreateApp(ctx, apiv1.CreateAppRequest{Name: "again", RepoURL: "https://140.82.121.3/x.git", Branch: "main"}); !isStatus(err, http.StatusForbidden) {
		t.Fatalf("after the mark is taken away: %v, want 403", err)
	}
	users, err := admin.Users(ctx)
	if err != nil || len(users) != 5 {
		t.Fatalf("users list: %+v, %v", users, err)
	}
}
