package web_test

import (
	"bufio"
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
	"github.com/seedbed/seedbed/web/apiv1"
)

// apiGet calls the API with a token and returns the answer, closed by
// t.Cleanup.
func apiGet(t *testing.T, base, token, path string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func decodeBuilds(t *testing.T, resp *http.Response) []apiv1.Build {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var out []apiv1.Build
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// seedBuilds records n builds of shop: refs alternate main / feature,
// every third failed, every fifth triggered by a push.
func seedBuilds(t *testing.T, f *fixture, n int) store.App {
	t.Helper()
	ctx := context.Background()
	app, err := f.store.AppByName(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		b := store.Build{AppID: app.ID, Ref: "main", Status: store.BuildSucceeded, TriggerKind: "console", TriggeredBy: "ada@example.com"}
		if i%2 == 1 {
			b.Ref = "feature"
		}
		if i%3 == 0 {
			b.Status = store.BuildFailed
		}
		if i%5 == 0 {
			b.TriggerKind = "push"
		}
		if err := f.store.CreateBuild(ctx, &b); err != nil {
			t.Fatal(err)
		}
	}
	return app
}

func TestBuildsListFiltersAndPages(t *testing.T) {
	f := setup(t)
	seedBuilds(t, f, 130)

	t.Run("default: newest 50, as before", func(t *testing.T) {
		resp := apiGet(t, f.srv.URL, f.token, "/api/v1/apps/shop/builds")
		bs := decodeBuilds(t, resp)
		if len(bs) != 50 || bs[0].ID != 130 || bs[49].ID != 81 {
			t.Fatalf("got %d builds, first %d last %d", len(bs), bs[0].ID, bs[len(bs)-1].ID)
		}
		if !strings.Contains(resp.Header.Get("Link"), "before=81") {
			t.Errorf("Link = %q, want the next page before=81", resp.Header.Get("Link"))
		}
	})

	tests := []struct {
		name  string
		query string
		match func(apiv1.Build) bool
		want  int
	}{
		{name: "status failed", query: "status=failed", match: func(b apiv1.Build) bool { return b.Status == "failed" }, want: 44},
		{name: "ref feature", query: "ref=feature", match: func(b apiv1.Build) bool { return b.Ref == "feature" }, want: 65},
		{name: "trigger push", query: "trigger=push", match: func(b apiv1.Build) bool { return b.Trigger == "push" }, want: 26},
		{name: "all three", query: "ref=main&status=failed&trigger=push", match: func(b apiv1.Build) bool {
			return b.Ref == "main" && b.Status == "failed" && b.Trigger == "push"
		}, want: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Page through with limit=20 and before=, as the CLI would.
			var all []apiv1.Build
			before := uint(0)
			for page := 0; page < 20; page++ {
				q := tt.query + "&limit=20"
				if before != 0 {
					q += fmt.Sprintf("&before=%d", before)
				}
				bs := decodeBuilds(t, apiGet(t, f.srv.URL, f.token, "/api/v1/apps/shop/builds?"+q))
				all = append(all, bs...)
				if len(bs) < 20 {
					break
				}
				before = bs[len(bs)-1].ID
			}
			if len(all) != tt.want {
				t.Fatalf("got %d builds over all pages, want %d", len(all), tt.want)
			}
			seen := map[uint]bool{}
			for i, b := range all {
				if !tt.match(b) {
					t.Errorf("build %d does not match %s: %+v", b.ID, tt.query, b)
				}
				if seen[b.ID] || (i > 0 && b.ID >= all[i-1].ID) {
					t.Fatalf("pages repeat or are out of order at build %d", b.ID)
				}
				seen[b.ID] = true
			}
		})
	}

	t.Run("bad filters are refused with what to do", func(t *testing.T) {
		for _, q := range []string{"status=weird", "before=abc", "limit=0", "limit=1000"} {
			resp := apiGet(t, f.srv.URL, f.token, "/api/v1/apps/shop/builds?"+q)
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Errorf("%s: status %d, want 422", q, resp.StatusCode)
			}
		}
	})

	t.Run("console page filters and pages", func(t *testing.T) {
		c, _ := f.signIn(t)
		body := getPage(t, c, f.srv.URL+"/apps/shop")
		if !strings.Contains(body, `href="/apps/shop/builds"`) {
			t.Fatal("the app page does not link to its builds list")
		}
		body = getPage(t, c, f.srv.URL+"/apps/shop/builds?status=failed&ref=main")
		if n := strings.Count(body, `<a href="/builds/`); n != 22 {
			t.Errorf("failed builds of main on the page: %d, want 22", n)
		}
		if strings.Contains(body, `data-testid="page-next"`) {
			t.Error("a single page shows an Older link")
		}
		if !strings.Contains(body, `<option value="failed" selected>`) || !strings.Contains(body, `<option value="main" selected>`) {
			t.Error("the filter form does not show the filters in effect")
		}
		body = getPage(t, c, f.srv.URL+"/apps/shop/builds")
		if !strings.Contains(body, `href="/apps/shop/builds?before=81"`) {
			t.Error("the first page has no link to the next")
		}
		body = getPage(t, c, f.srv.URL+"/apps/shop/builds?before=81")
		if !strings.Contains(body, `href="/builds/80"`) || strings.Contains(body, `href="/builds/81"`) || !strings.Contains(body, `data-testid="page-first"`) {
			t.Error("the second page does not start after the first")
		}
		body = getPage(t, c, f.srv.URL+"/apps/shop/builds?ref=nope")
		if !strings.Contains(body, `data-testid="builds-empty"`) {
			t.Error("no empty state for filters that match nothing")
		}
	})
}

func getPage(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", u, resp.StatusCode, b)
	}
	return string(b)
}

// A large log downloads whole, in order, as an attachment, without the
// server reading it all at once (it reads in batches of 1,000 lines).
func TestRawLogDownload(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	app := seedBuilds(t, f, 1)
	const n = 20000
	var lines []store.LogLine
	for i := 0; i < n; i++ {
		lines = append(lines, store.LogLine{OwnerKind: store.LogBuild, OwnerID: 1, Stream: "stdout", Text: fmt.Sprintf("\x1b[32mline %05d\x1b[0m <ok>", i)})
		if len(lines) == 2000 {
			if err := f.store.AppendLog(ctx, lines); err != nil {
				t.Fatal(err)
			}
			lines = nil
		}
	}
	dev, err := f.store.StageByName(ctx, app.ID, "dev")
	if err != nil {
		t.Fatal(err)
	}
	d := store.Deploy{AppID: app.ID, StageID: dev.ID, Status: store.DeploySucceeded, TriggerKind: "console"}
	if err := f.store.CreateDeploy(ctx, &d); err != nil {
		t.Fatal(err)
	}
	if err := f.store.AppendLog(ctx, []store.LogLine{{OwnerKind: store.LogDeploy, OwnerID: d.ID, Stream: "seedbed", Text: "applied"}}); err != nil {
		t.Fatal(err)
	}

	check := func(t *testing.T, resp *http.Response) {
		t.Helper()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
			t.Errorf("Content-Type = %q", ct)
		}
		if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="build-1.log"` {
			t.Errorf("Content-Disposition = %q", cd)
		}
		sc := bufio.NewScanner(resp.Body)
		i := 0
		for sc.Scan() {
			if want := fmt.Sprintf("\x1b[32mline %05d\x1b[0m <ok>", i); sc.Text() != want {
				t.Fatalf("line %d = %q, want %q", i, sc.Text(), want)
			}
			i++
		}
		if i != n {
			t.Fatalf("downloaded %d lines, want %d", i, n)
		}
	}
	t.Run("API", func(t *testing.T) { check(t, apiGet(t, f.srv.URL, f.token, "/api/v1/builds/1/log.txt")) })
	t.Run("console", func(t *testing.T) {
		c, _ := f.signIn(t)
		page := getPage(t, c, f.srv.URL+"/builds/1")
		if !strings.Contains(page, `href="/builds/1/log.txt"`) || !strings.Contains(page, `data-log-filter="log"`) {
			t.Fatal("the build page has no download link or filter box")
		}
		if !strings.Contains(page, `<span class="ansi-green">line 00000</span> &lt;ok&gt;`) {
			t.Error("the build page does not render the log's colours")
		}
		resp, err := c.Get(f.srv.URL + "/builds/1/log.txt")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		check(t, resp)
		resp2, err := c.Get(f.srv.URL + fmt.Sprintf("/deploys/%d/log.txt", d.ID))
		if err != nil {
			t.Fatal(err)
		}
		defer resp2.Body.Close()
		b, _ := io.ReadAll(resp2.Body)
		if string(b) != "applied\n" || !strings.Contains(resp2.Header.Get("Content-Disposition"), fmt.Sprintf("deploy-%d.log", d.ID)) {
			t.Errorf("deploy log = %q (%s)", b, resp2.Header.Get("Content-Disposition"))
		}
	})
	t.Run("no such build", func(t *testing.T) {
		if resp := apiGet(t, f.srv.URL, f.token, "/api/v1/builds/999/log.txt"); resp.StatusCode != http.StatusNotFound {
			t.Errorf("status %d, want 404", resp.StatusCode)
		}
	})
}

func TestActivityFeedByRole(t *testing.T) {
	rf := setupRoles(t)
	ctx := context.Background()
	// A second app only admins see, with a build and a promotion someone
	// approved.
	other := store.App{Name: "secret-app", RepoURL: "/src/x", Branch: "main"}
	if err := rf.store.CreateApp(ctx, &other, []store.Stage{{Name: "dev", Position: 0}}); err != nil {
		t.Fatal(err)
	}
	st, err := rf.store.StageByName(ctx, other.ID, "dev")
	if err != nil {
		t.Fatal(err)
	}
	ob := store.Build{AppID: other.ID, Ref: "hidden-ref", Status: store.BuildSucceeded, TriggerKind: "cli", TriggeredBy: "ada@example.com"}
	if err := rf.store.CreateBuild(ctx, &ob); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	od := store.Deploy{AppID: other.ID, StageID: st.ID, BuildID: &ob.ID, Status: store.DeploySucceeded, TriggerKind: "promotion",
		TriggeredBy: "ada@example.com", DecidedBy: "grace@example.com", DecidedAt: &now}
	if err := rf.store.CreateDeploy(ctx, &od); err != nil {
		t.Fatal(err)
	}

	feed := func(t *testing.T, token string) []apiv1.ActivityEntry {
		t.Helper()
		resp := apiGet(t, rf.srv.URL, token, "/api/v1/activity")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		var out []apiv1.ActivityEntry
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	tests := []struct {
		name  string
		token string
		apps  map[string]int // app → entries
	}{
		{name: "admin sees every app", token: rf.token, apps: map[string]int{"shop": 2, "secret-app": 2}},
		{name: "viewer sees their app only", token: rf.users[store.RoleViewer].token, apps: map[string]int{"shop": 2}},
		{name: "deployer sees their app only", token: rf.users[store.RoleDeployer].token, apps: map[string]int{"shop": 2}},
		{name: "stranger sees nothing", token: rf.users["stranger"].token, apps: map[string]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string]int{}
			entries := feed(t, tt.token)
			for i, e := range entries {
				got[e.App]++
				if i > 0 && e.CreatedAt.After(entries[i-1].CreatedAt) {
					t.Errorf("entry %d is newer than the one before it", i)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.apps) {
				t.Errorf("entries per app = %v, want %v", got, tt.apps)
			}
		})
	}

	t.Run("entries say who did what", func(t *testing.T) {
		entries := feed(t, rf.token)
		if len(entries) == 0 {
			t.Fatal("empty feed")
		}
		e := entries[0]
		if e.Kind != "deploy" || e.ID != od.ID || e.App != "secret-app" || e.Stage != "dev" || e.Trigger != "promotion" ||
			e.TriggeredBy != "ada@example.com" || e.DecidedBy != "grace@example.com" || e.Status != "succeeded" || e.BuildID != ob.ID {
			t.Errorf("newest entry = %+v", e)
		}
		if e := entries[1]; e.Kind != "build" || e.Ref != "hidden-ref" || e.TriggeredBy != "ada@example.com" || e.Trigger != "cli" {
			t.Errorf("second entry = %+v", e)
		}
		// Paging back from the newest entry leaves it out.
		before := url.QueryEscape(entries[0].CreatedAt.Format(time.RFC3339Nano))
		resp := apiGet(t, rf.srv.URL, rf.token, "/api/v1/activity?limit=1&before="+before)
		var page []apiv1.ActivityEntry
		json.NewDecoder(resp.Body).Decode(&page)
		if len(page) != 1 || (page[0].Kind == "deploy" && page[0].ID == od.ID) {
			t.Errorf("page before the newest = %+v", page)
		}
	})

	t.Run("console page per role", func(t *testing.T) {
		viewer := rf.users[store.RoleViewer]
		body := getPage(t, viewer.browser, rf.srv.URL+"/activity")
		if !strings.Contains(body, `data-testid="nav-activity"`) || !strings.Contains(body, `aria-current="page">Activity`) {
			t.Error("no active Activity link in the nav")
		}
		if !strings.Contains(body, `href="/apps/shop"`) || strings.Contains(body, "secret-app") || strings.Contains(body, "hidden-ref") {
			t.Errorf("viewer's feed shows the wrong apps:\n%s", body)
		}
		body = getPage(t, rf.users["stranger"].browser, rf.srv.URL+"/activity")
		if !strings.Contains(body, `data-testid="activity-empty"`) {
			t.Error("stranger's feed has no empty state")
		}
		admin, _ := rf.signIn(t)
		body = getPage(t, admin, rf.srv.URL+"/activity")
		if !strings.Contains(body, "approved by grace@example.com") || !strings.Contains(body, "promoted with") {
			t.Errorf("admin's feed does not say who approved the promotion:\n%s", body)
		}
	})
}
