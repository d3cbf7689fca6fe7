package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/store"
)

// The builds list filters and pages from the CLI; an admin invites a user
// by link, which opens the sign-up form on the real server; the activity
// feed lists what happened.
func TestBuildsListInviteAndActivityCLI(t *testing.T) {
	t.Parallel()
	a := startApp(t, embedded)
	c := cli{t: t, env: map[string]string{"SEEDBED_CLI_CONFIG": filepath.Join(t.TempDir(), "cli.json")}}
	c.must("login", "--server", a.ConsoleURL(), "--email", adminEmail, "--password", adminPassword)
	repo := a.newAppRepoOnly()
	c.must("apps", "create", "list-app", "--repo", repo.Dir)

	ctx := context.Background()
	app, err := a.store.AppByName(ctx, "list-app")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 12; i++ {
		b := store.Build{AppID: app.ID, Ref: "main", Status: store.BuildSucceeded, TriggerKind: "cli", TriggeredBy: adminEmail}
		if i%2 == 1 {
			b.Ref = "feature"
		}
		if i%3 == 0 {
			b.Status = store.BuildFailed
		}
		if err := a.store.CreateBuild(ctx, &b); err != nil {
			t.Fatal(err)
		}
	}
	rows := func(out string) []string {
		var ids []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			ids = append(ids, strings.Fields(line)[0])
		}
		return ids
	}

	out := c.must("builds", "list", "list-app", "--status", "failed", "--ref", "main")
	got := rows(out)
	if len(got) != 2 || !strings.Contains(out, "failed") || strings.Contains(out, "feature") || strings.Contains(out, "succeeded") {
		t.Fatalf("builds list --status failed --ref main:\n%s", out)
	}
	first := rows(c.must("builds", "list", "list-app", "--limit", "5"))
	next := rows(c.must("builds", "list", "list-app", "--limit", "5", "--before", first[4]))
	if len(first) != 5 || len(next) != 5 || atoi(t, next[0]) != atoi(t, first[4])-1 {
		t.Fatalf("pages: %v then %v", first, next)
	}
	if out := c.must("builds", "list", "list-app", "--ref", "nope"); !strings.Contains(out, "No builds of list-app match") {
		t.Fatalf("no match:\n%s", out)
	}
	if code, _, errOut := c.run("builds", "list", "list-app", "--status", "weird"); code != 1 || !strings.Contains(errOut, "No build status") {
		t.Fatalf("bad status: exit %d %q", code, errOut)
	}

	out = c.must("users", "invite", "newbie@example.com", "--approver")
	link := regexp.MustCompile(`https?://\S+/invite/sbi_\S+`).FindString(out)
	if link == "" || !strings.Contains(out, "approver: true") {
		t.Fatalf("users invite printed:\n%s", out)
	}
	resp, err := http.Get(a.ConsoleURL() + link[strings.Index(link, "/invite/"):])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "newbie@example.com") {
		t.Fatalf("invite page: %d\n%s", resp.StatusCode, body)
	}

	out = c.must("activity", "--limit", "3")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 4 || !strings.Contains(out, "build #12") || !strings.Contains(out, adminEmail) {
		t.Fatalf("activity:\n%s", out)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return n
}
