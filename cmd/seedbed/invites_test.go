package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/web/apiv1"
)

// Invites through the CLI on the real app: an admin makes two, lists the
// pending ones (the CLI and the API agree), revokes one, whose link then
// fails with a page saying it was revoked, and the activity feed shows who
// revoked it; a non-admin may do none of it.
func TestInvitesCLI(t *testing.T) {
	t.Parallel()
	a := startApp(t, embedded)
	as := func(email, password string) cli {
		c := cli{t: t, env: map[string]string{"SEEDBED_CLI_CONFIG": filepath.Join(t.TempDir(), "cli.json")}}
		c.must("login", "--server", a.ConsoleURL(), "--email", email, "--password", password)
		return c
	}
	admin := as(adminEmail, adminPassword)
	if out := admin.must("invites", "list"); !strings.Contains(out, "No pending invites") {
		t.Fatalf("invites list with none:\n%s", out)
	}
	made := map[string]string{} // email → invite id
	links := map[string]string{}
	for _, args := range [][]string{{"invites", "create", "kim@example.com", "--approver"}, {"users", "invite", "lee@example.com"}} {
		out := admin.must(args...)
		m := regexp.MustCompile(`Invite #(\d+) for (\S+)`).FindStringSubmatch(out)
		link := regexp.MustCompile(`https?://\S+/invite/sbi_\S+`).FindString(out)
		if m == nil || link == "" {
			t.Fatalf("seedbed %s printed:\n%s", strings.Join(args, " "), out)
		}
		made[m[2]], links[m[2]] = m[1], link
	}

	out := admin.must("invites", "list")
	rows := strings.Split(strings.TrimSpace(out), "\n")
	if len(rows) != 3 || !strings.HasPrefix(rows[1], made["lee@example.com"]+" ") || !strings.HasPrefix(rows[2], made["kim@example.com"]+" ") ||
		!strings.Contains(rows[2], "approver") || !strings.Contains(rows[2], adminEmail) || strings.Contains(out, "sbi_") {
		t.Fatalf("invites list:\n%s", out)
	}
	// The API lists the same.
	tok := regexp.MustCompile(`sbt_\S+`).FindString(admin.must("tokens", "create", "check"))
	api := apiv1.NewClient(a.ConsoleURL(), tok)
	list, err := api.Invites(context.Background())
	if err != nil || len(list) != 2 || list[0].Email != "lee@example.com" || list[1].Email != "kim@example.com" || !list[1].IsApprover {
		t.Fatalf("API invites: %+v, %v", list, err)
	}

	if out := admin.must("invites", "revoke", made["kim@example.com"]); !strings.Contains(out, "revoked") {
		t.Fatalf("invites revoke printed:\n%s", out)
	}
	if code, _, errOut := admin.run("invites", "revoke", made["kim@example.com"]); code != 1 || !strings.Contains(errOut, "revoked already") {
		t.Fatalf("revoke twice: exit %d, %q", code, errOut)
	}
	if out := admin.must("invites", "list"); strings.Contains(out, "kim@example.com") || !strings.Contains(out, "lee@example.com") {
		t.Fatalf("invites list after revoking kim:\n%s", out)
	}
	if list, _ := api.Invites(context.Background()); len(list) != 1 || list[0].Email != "lee@example.com" {
		t.Fatalf("API invites after revoking kim: %+v", list)
	}
	link := links["kim@example.com"]
	resp, err := http.Get(a.ConsoleURL() + link[strings.Index(link, "/invite/"):])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone || !strings.Contains(string(body), "was revoked") {
		t.Fatalf("revoked link: %d\n%s", resp.StatusCode, body)
	}
	if out := admin.must("activity"); !regexp.MustCompile(`(?m)` + regexp.QuoteMeta(adminEmail) + `\s+invite #` + made["kim@example.com"] + `\s.*kim@example\.com.*revoked`).MatchString(out) {
		t.Fatalf("activity lacks the revocation:\n%s", out)
	}

	admin.must("users", "create", "--email", "ola@example.com", "--password", "long-enough")
	ola := as("ola@example.com", "long-enough")
	for _, args := range [][]string{{"invites", "list"}, {"invites", "revoke", made["lee@example.com"]}, {"invites", "create", "x@example.com"}} {
		if code, _, errOut := ola.run(args...); code != 1 || !strings.Contains(errOut, "Only admins") {
			t.Errorf("a non-admin runs seedbed %s: exit %d, %q", strings.Join(args, " "), code, errOut)
		}
	}
	if out := ola.must("activity"); strings.Contains(out, "invite #") {
		t.Errorf("a non-admin's activity shows invites:\n%s", out)
	}
	if code, _, errOut := admin.run("invites", "revoke", "nope"); code != 2 || !strings.Contains(errOut, "usage") {
		t.Errorf("revoke with a bad id: exit %d, %q", code, errOut)
	}
}
