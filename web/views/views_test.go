package views

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"
	"golang.org/x/net/html"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// now is the fixed "current time" every fixture renders against.
var now = time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)

func testPage(title string) Page {
	return Page{Title: title, UserEmail: "ada@example.com", CSRFToken: "tok-123", Nav: "apps", Now: now}
}

func appFixture() AppModel {
	live := &ReleaseInfo{ID: 3, BuildID: 7, CommitSHA: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
		CommitMessage: "Say hello in French\n\nBecause we can.", CommitAuthor: "Ada Lovelace", CreatedAt: now.Add(-3 * time.Minute)}
	return AppModel{
		Page:        testPage("shop"),
		Name:        "shop",
		RepoURL:     "https://git.example.com/acme/shop.git",
		Branch:      "main",
		SettingsURL: "/apps/shop/settings",
		Stages: []StageCard{
			{
				Name: "dev", Branch: "main", URL: "http://127.0.0.1:8081/shop/dev/", Live: live,
				LastDeploy: &DeployRow{ID: 4, URL: "/deploys/4", Stage: "dev", BuildID: 7, Status: "succeeded", Trigger: "console", CreatedAt: now.Add(-4 * time.Minute), Duration: 2300 * time.Millisecond},
				DeployURL:  "/apps/shop/stages/dev/deploy",
				Functions: []FunctionInfo{
					{Key: "api/hello", Digest: "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", Routes: []string{"GET /hello", "ANY /hello/{proxy+}"}},
				},
			},
			{Name: "staging", URL: "http://127.0.0.1:8081/shop/staging/", DeployURL: "/apps/shop/stages/staging/deploy"},
		},
		Builds: []BuildRow{
			{ID: 8, URL: "/builds/8", Ref: "main", Status: "running", Trigger: "push", CreatedAt: now.Add(-20 * time.Second)},
			{ID: 7, URL: "/builds/7", Ref: "main", CommitSHA: live.CommitSHA, CommitMessage: live.CommitMessage, Status: "succeeded",
				Trigger: "console", CreatedAt: now.Add(-5 * time.Minute), Duration: 74 * time.Second},
		},
		Deploys: []DeployRow{
			{ID: 5, URL: "/deploys/5", Stage: "staging", BuildID: 6, Status: "failed", Trigger: "console", Error: "function api/hello did not listen on $PORT within 10s\nsee the log", CreatedAt: now.Add(-2 * time.Hour), Duration: 11 * time.Second},
			{ID: 4, URL: "/deploys/4", Stage: "dev", BuildID: 7, Status: "succeeded", Trigger: "console", CreatedAt: now.Add(-4 * time.Minute), Duration: 2300 * time.Millisecond},
		},
	}
}

func buildFixture() BuildModel {
	return BuildModel{
		Page:   testPage("Build #7 · shop"),
		App:    "shop",
		AppURL: "/apps/shop",
		Build: BuildRow{ID: 7, URL: "/builds/7", Ref: "main", CommitSHA: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
			CommitMessage: "Say hello in French", Status: "running", Trigger: "console", CreatedAt: now.Add(-90 * time.Second)},
		Artifacts: []ArtifactRow{
			{Service: "api", Function: "hello", Digest: "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", Size: 6_543_210},
		},
		Deploys: []DeployRow{{ID: 4, URL: "/deploys/4", Stage: "dev", BuildID: 7, Status: "queued", Trigger: "console", CreatedAt: now.Add(-90 * time.Second)}},
		Log: []LogLine{
			{ID: 1, Stream: "seedbed", Text: "Checking out main at 9f86d08"},
			{ID: 2, Stream: "stdout", Text: `echo "<script>alert('x')</script> & done"`},
			{ID: 3, Stream: "stderr", Text: "warning: a < b && c > d"},
		},
		StreamURL: "/builds/7/events?after=3",
	}
}

func deployFixture() DeployModel {
	return DeployModel{
		Page:     testPage("Deploy #4 · shop/dev"),
		App:      "shop",
		AppURL:   "/apps/shop",
		Deploy:   DeployRow{ID: 4, URL: "/deploys/4", Stage: "dev", BuildID: 7, Status: "succeeded", Trigger: "console", CreatedAt: now.Add(-4 * time.Minute), Duration: 2300 * time.Millisecond},
		BuildURL: "/builds/7",
		Summary:  "1 added, 1 changed, 1 removed",
		Changes: []ChangeItem{
			{Kind: "add", Key: "api/bonjour", After: "sha256:abcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcd", Detail: []string{"route added: GET /bonjour"}},
			{Kind: "change", Key: "api/hello", Before: "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", After: "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", Detail: []string{"code: aaaaaaaaaaaa → bbbbbbbbbbbb", "env added: GREETING"}},
			{Kind: "keep", Key: "api/health", Before: "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc", After: "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"},
			{Kind: "remove", Key: "api/old", Before: "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd", Detail: []string{"route removed: GET /old"}},
		},
		Log: []LogLine{
			{ID: 10, Stream: "seedbed", Text: "Planning deploy of release 3 to dev"},
			{ID: 11, Stream: "seedbed", Text: "Deploy succeeded"},
		},
	}
}

// render renders a component as the browser would receive it.
func render(t *testing.T, c templ.Component) string {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	return buf.String()
}

// checkGolden compares got with testdata/name, or rewrites it with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test ./web/views -update` to create it)", err)
	}
	if got == string(want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	t.Errorf("%s differs from the rendered page at byte %d (run `go test ./web/views -update` if the change is intended)\nwant: …%s…\ngot:  …%s…",
		path, i, excerpt(string(want), i), excerpt(got, i))
}

func excerpt(s string, i int) string {
	lo, hi := max(0, i-80), min(len(s), i+80)
	return s[lo:hi]
}

func TestGolden(t *testing.T) {
	tests := []struct {
		name   string
		golden string
		c      templ.Component
	}{
		{name: "app page with two stages, one live", golden: "app.golden.html", c: AppPage(appFixture())},
		{name: "running build with escaped log", golden: "build.golden.html", c: BuildPage(buildFixture())},
		{name: "finished deploy with change set", golden: "deploy.golden.html", c: DeployPage(deployFixture())},
		{name: "pipeline with a protected stage", golden: "app-pipeline.golden.html", c: AppPage(pipelineFixture())},
		{name: "promotion awaiting approval", golden: "deploy-awaiting.golden.html", c: DeployPage(awaitingDeployFixture())},
		{name: "cancellable build", golden: "build-cancel.golden.html", c: BuildPage(cancellableBuildFixture())},
		{name: "promotion preview", golden: "promote.golden.html", c: PromotePage(promoteFixture())},
		{name: "promotion preview, nothing changes", golden: "promote-nothing.golden.html", c: PromotePage(promoteNothingFixture())},
		{name: "stage settings with a secret", golden: "stage.golden.html", c: StageSettingsPage(stageSettingsFixture())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGolden(t, tt.golden, render(t, tt.c))
		})
	}
}

// doc parses rendered HTML; the tests below look elements up in it the way
// a user finds them on the page.
type doc struct {
	t    *testing.T
	root *html.Node
}

func parse(t *testing.T, c templ.Component) doc {
	t.Helper()
	root, err := html.Parse(strings.NewReader(render(t, c)))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return doc{t: t, root: root}
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// all returns the elements for which match is true, in document order.
func all(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	for c := range n.Descendants() {
		if c.Type == html.ElementNode && match(c) {
			out = append(out, c)
		}
	}
	return out
}

// byTestID returns the one element with data-testid=id.
func (d doc) byTestID(id string) *html.Node {
	d.t.Helper()
	found := all(d.root, func(n *html.Node) bool { v, _ := attr(n, "data-testid"); return v == id })
	if len(found) != 1 {
		d.t.Fatalf("want one element with data-testid=%q, found %d", id, len(found))
	}
	return found[0]
}

func (d doc) hasTestID(id string) bool {
	return len(all(d.root, func(n *html.Node) bool { v, _ := attr(n, "data-testid"); return v == id })) > 0
}

func text(n *html.Node) string {
	var b strings.Builder
	for c := range n.Descendants() {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	}
	return b.String()
}

func ancestor(n *html.Node, tag string) *html.Node {
	for p := n.Parent; p != nil; p = p.Parent {
		if p.Type == html.ElementNode && p.Data == tag {
			return p
		}
	}
	return nil
}

// formValue is the value of the form's input with the given name.
func formValue(form *html.Node, name string) (string, bool) {
	inputs := all(form, func(n *html.Node) bool { v, _ := attr(n, "name"); return v == name })
	if len(inputs) == 0 {
		return "", false
	}
	v, _ := attr(inputs[0], "value")
	return v, true
}

func TestAppPageDeployFormPerStage(t *testing.T) {
	m := appFixture()
	d := parse(t, AppPage(m))
	for _, st := range m.Stages {
		btn := d.byTestID("deploy-" + st.Name)
		if btn.Data != "button" {
			t.Errorf("deploy-%s is a <%s>, want a button", st.Name, btn.Data)
		}
		form := ancestor(btn, "form")
		if form == nil {
			t.Fatalf("deploy-%s is not in a form", st.Name)
		}
		if action, _ := attr(form, "action"); action != st.DeployURL {
			t.Errorf("deploy-%s posts to %q, want %q", st.Name, action, st.DeployURL)
		}
		if method, _ := attr(form, "method"); method != "post" {
			t.Errorf("deploy-%s form method = %q, want post", st.Name, method)
		}
		if tok, ok := formValue(form, "_csrf"); !ok || tok != "tok-123" {
			t.Errorf("deploy-%s form _csrf = %q, %v; want tok-123", st.Name, tok, ok)
		}
		if _, ok := formValue(form, "ref"); !ok {
			t.Errorf("deploy-%s form has no ref input", st.Name)
		}
	}
	live := text(d.byTestID("live-dev"))
	for _, want := range []string{"9f86d08", "Say hello in French", "Ada Lovelace", "3m ago", "build #7"} {
		if !strings.Contains(live, want) {
			t.Errorf("dev's live release %q does not mention %q", live, want)
		}
	}
	if strings.Contains(live, "Because we can") {
		t.Errorf("live release shows the commit body, want only its subject: %q", live)
	}
	if got := text(d.byTestID("live-staging")); !strings.Contains(got, "Nothing deployed yet") {
		t.Errorf("staging's live release = %q, want the empty note", got)
	}
	if got := text(d.byTestID("functions-dev")); !strings.Contains(got, "2cf24dba5fb0") || strings.Contains(got, "2cf24dba5fb0a") {
		t.Errorf("functions show %q, want the 12-character digest", got)
	}
	badge := all(d.byTestID("stage-status-dev"), func(n *html.Node) bool { _, ok := attr(n, "data-status"); return ok })
	if len(badge) != 1 || text(badge[0]) != "succeeded" {
		t.Errorf("dev's status badge is missing or wrong")
	}
}

func TestBuildPageLogEscapedAndLive(t *testing.T) {
	m := buildFixture()
	raw := render(t, BuildPage(m))
	if strings.Contains(raw, "<script>alert") {
		t.Fatal("a log line's HTML reached the page unescaped")
	}
	d := parse(t, BuildPage(m))
	log := d.byTestID("build-log")
	if url, _ := attr(log, "data-stream-url"); url != m.StreamURL {
		t.Errorf("log data-stream-url = %q, want %q", url, m.StreamURL)
	}
	var got []string
	for _, span := range all(log, func(n *html.Node) bool { return n.Data == "span" }) {
		id, _ := attr(span, "data-id")
		class, _ := attr(span, "class")
		got = append(got, id+" "+class+" "+text(span))
	}
	want := []string{
		"1 line stream-seedbed Checking out main at 9f86d08",
		`2 line stream-stdout echo "<script>alert('x')</script> & done"`,
		"3 line stream-stderr warning: a < b && c > d",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("log lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	wantText := "Checking out main at 9f86d08\n" + `echo "<script>alert('x')</script> & done"` + "\nwarning: a < b && c > d\n"
	if text(log) != wantText {
		t.Errorf("log text = %q, want one line per span", text(log))
	}
	status := d.byTestID("build-status")
	if s, _ := attr(status, "data-status"); s != "running" || text(status) != "running" {
		t.Errorf("build-status = %q (data-status %q), want running", text(status), s)
	}
	if errBox := d.byTestID("build-error"); !hasAttr(errBox, "hidden") {
		t.Error("the error box shows although the build has no error")
	}
}

func hasAttr(n *html.Node, key string) bool { _, ok := attr(n, key); return ok }

func TestBuildPageFinished(t *testing.T) {
	m := buildFixture()
	m.Build.Status, m.Error, m.StreamURL = "failed", "go build: exit status 1", ""
	d := parse(t, BuildPage(m))
	if hasAttr(d.byTestID("build-log"), "data-stream-url") {
		t.Error("a finished build's log still streams")
	}
	errBox := d.byTestID("build-error")
	if hasAttr(errBox, "hidden") || !strings.Contains(text(errBox), "go build: exit status 1") {
		t.Errorf("error box = %q (hidden %v), want the build's error", text(errBox), hasAttr(errBox, "hidden"))
	}
	if s, _ := attr(d.byTestID("build-status"), "data-status"); s != "failed" {
		t.Errorf("data-status = %q, want failed", s)
	}
}

func TestDeployPageChangeSet(t *testing.T) {
	d := parse(t, DeployPage(deployFixture()))
	cs := d.byTestID("change-set")
	items := all(cs, func(n *html.Node) bool { _, ok := attr(n, "data-kind"); return ok })
	var got []string
	for _, it := range items {
		line := all(it, func(n *html.Node) bool { c, _ := attr(n, "class"); return c == "change-line" })[0]
		got = append(got, strings.Join(strings.Fields(text(line)), " "))
	}
	want := []string{
		"+ api/bonjour abcdabcdabcd → new",
		"~ api/hello aaaaaaaaaaaa → bbbbbbbbbbbb",
		"= api/health cccccccccccc unchanged",
		"- api/old dddddddddddd removed",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("change set:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(text(cs), "env added: GREETING") || !strings.Contains(text(cs), "1 added, 1 changed, 1 removed") {
		t.Errorf("change set lacks its summary or details: %q", text(cs))
	}
	if s, _ := attr(d.byTestID("deploy-status"), "data-status"); s != "succeeded" {
		t.Errorf("deploy-status data-status = %q", s)
	}
	if href, _ := attr(d.byTestID("deploy-build"), "href"); href != "/builds/7" {
		t.Errorf("build link = %q", href)
	}
	if d.hasTestID("deploy-log") && hasAttr(d.byTestID("deploy-log"), "data-stream-url") {
		t.Error("a finished deploy's log streams")
	}
}

func TestLayout(t *testing.T) {
	t.Run("signed in", func(t *testing.T) {
		p := testPage("Apps")
		p.Flash = "App shop is connected."
		d := parse(t, AppsPage(AppsModel{Page: p}))
		metas := all(d.root, func(n *html.Node) bool { v, _ := attr(n, "name"); return n.Data == "meta" && v == "csrf-token" })
		if len(metas) != 1 {
			t.Fatal("no csrf-token meta")
		}
		if v, _ := attr(metas[0], "content"); v != "tok-123" {
			t.Errorf("csrf-token meta = %q", v)
		}
		form := ancestor(d.byTestID("sign-out"), "form")
		if a, _ := attr(form, "action"); a != "/logout" {
			t.Errorf("sign-out posts to %q", a)
		}
		if v, _ := formValue(form, "_csrf"); v != "tok-123" {
			t.Errorf("sign-out _csrf = %q", v)
		}
		if got := text(d.byTestID("user-email")); got != "ada@example.com" {
			t.Errorf("user email = %q", got)
		}
		if got := text(d.byTestID("flash")); got != p.Flash {
			t.Errorf("flash = %q", got)
		}
		var scripts []string
		for _, s := range all(d.root, func(n *html.Node) bool { return n.Data == "script" }) {
			src, _ := attr(s, "src")
			if !hasAttr(s, "defer") {
				t.Errorf("script %s is not deferred", src)
			}
			scripts = append(scripts, src)
		}
		if strings.Join(scripts, " ") != "/assets/htmx.min.js /assets/app.js" {
			t.Errorf("scripts = %v", scripts)
		}
	})
	t.Run("signed out", func(t *testing.T) {
		d := parse(t, LoginPage(LoginModel{Page: Page{Title: "Sign in", CSRFToken: "pre-session"}, Next: "/apps/shop", Error: "Wrong email or password."}))
		if d.hasTestID("sign-out") || d.hasTestID("user-email") {
			t.Error("a signed-out page offers to sign out")
		}
		form := d.byTestID("login-form")
		if a, _ := attr(form, "action"); a != "/login" {
			t.Errorf("login posts to %q", a)
		}
		for name, want := range map[string]string{"_csrf": "pre-session", "next": "/apps/shop", "email": "", "password": ""} {
			if v, ok := formValue(form, name); !ok || v != want {
				t.Errorf("login field %s = %q, %v; want %q", name, v, ok, want)
			}
		}
		if got := text(d.byTestID("login-error")); got != "Wrong email or password." {
			t.Errorf("login error = %q", got)
		}
	})
}

func TestAppsPage(t *testing.T) {
	t.Run("empty, for a user who may not create apps", func(t *testing.T) {
		d := parse(t, AppsPage(AppsModel{Page: testPage("Apps")}))
		links := all(d.root, func(n *html.Node) bool { v, _ := attr(n, "data-testid"); return v == "new-app" })
		if len(links) != 0 || !strings.Contains(text(d.byTestID("no-create")), "creators") {
			t.Errorf("a user who may not create apps is shown the way to, or not told why not")
		}
	})
	t.Run("empty", func(t *testing.T) {
		d := parse(t, AppsPage(AppsModel{Page: testPage("Apps"), CanCreate: true}))
		empty := text(d.byTestID("apps-empty"))
		if !strings.Contains(empty, "seedbed apps create NAME --repo URL") {
			t.Errorf("empty state lacks the CLI command: %q", empty)
		}
		if href, _ := attr(d.byTestID("new-app"), "href"); href != "/apps/new" {
			t.Errorf("connect button goes to %q", href)
		}
	})
	t.Run("list", func(t *testing.T) {
		d := parse(t, AppsPage(AppsModel{Page: testPage("Apps"), Apps: []AppRow{{Name: "shop", RepoURL: "/srv/git/shop", Branch: "main",
			Stages: []StageBadge{{Name: "dev", Status: "running"}, {Name: "staging", Status: "cancelled", LiveReleaseID: 21, LiveCommit: "abcdef0123456789"},
				{Name: "prod", Status: "awaiting_approval", LiveReleaseID: 6}}}}}))
		row := d.byTestID("app-shop")
		links := all(row, func(n *html.Node) bool { return n.Data == "a" })
		if href, _ := attr(links[0], "href"); href != "/apps/shop" {
			t.Errorf("app link = %q", href)
		}
		var badges []string
		for _, b := range all(row, func(n *html.Node) bool { return hasAttr(n, "data-status") }) {
			class, _ := attr(b, "class")
			badges = append(badges, class+":"+text(b))
		}
		if got := strings.Join(badges, ","); got != "badge badge-running:running,badge badge-awaiting_approval:awaiting approval" {
			t.Errorf("stage badges = %s", got)
		}
		for stage, want := range map[string]string{"dev": "nothing live", "staging": "#21 abcdef0", "prod": "#6"} {
			badge := all(row, func(n *html.Node) bool { v, ok := attr(n, "data-stage"); return ok && v == stage })
			if len(badge) != 1 {
				t.Errorf("%d badges of stage %s, want 1", len(badge), stage)
				continue
			}
			live := all(badge[0], func(n *html.Node) bool { v, _ := attr(n, "data-testid"); return v == "live" })
			if len(live) != 1 {
				t.Errorf("%s has %d elements saying what is live, want 1", stage, len(live))
			} else if got := strings.Join(strings.Fields(text(live[0])), " "); got != want {
				t.Errorf("%s shows live %q, want %q", stage, got, want)
			}
		}
	})
}

func TestNewAppPageErrors(t *testing.T) {
	m := AppForm{Page: testPage("Connect a repository"), Name: "Bad Name", RepoURL: "nope", Error: "Could not reach the repository.",
		Errors: map[string]string{"name": "Use lower-case letters.", "repo_url": "Give the clone URL."}}
	d := parse(t, NewAppPage(m))
	if got := text(d.byTestID("error-name")); got != "Use lower-case letters." {
		t.Errorf("name error = %q", got)
	}
	if got := text(d.byTestID("error-repo_url")); got != "Give the clone URL." {
		t.Errorf("repo_url error = %q", got)
	}
	if d.hasTestID("error-branch") {
		t.Error("branch shows an error it does not have")
	}
	if got := text(d.byTestID("form-error")); got != m.Error {
		t.Errorf("form error = %q", got)
	}
	form := d.byTestID("new-app-form")
	for name, want := range map[string]string{"name": "Bad Name", "repo_url": "nope", "branch": "main", "_csrf": "tok-123"} {
		if v, _ := formValue(form, name); v != want {
			t.Errorf("field %s = %q, want %q", name, v, want)
		}
	}
	if len(all(form, func(n *html.Node) bool { v, _ := attr(n, "name"); return n.Data == "textarea" && v == "deploy_key" })) != 1 {
		t.Error("no deploy_key textarea")
	}
}

func TestErrorPage(t *testing.T) {
	tests := []struct {
		name, message, text, code string
	}{
		{name: "plain", message: `No app named "x".`, text: `No app named "x".`},
		{name: "command as code", message: "No app named \"x\". `seedbed apps list` shows the apps.",
			text: `No app named "x". seedbed apps list shows the apps.`, code: "seedbed apps list"},
		{name: "unbalanced backquote", message: "run `seedbed login", text: "run `seedbed login"},
		{name: "markup is text", message: "<b>no</b> `<i>`", text: "<b>no</b> <i>", code: "<i>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := parse(t, ErrorPage(ErrorModel{Page: testPage("Error"), Status: 404, Message: tt.message}))
			msg := d.byTestID("error-message")
			if got := strings.TrimSpace(text(msg)); got != tt.text {
				t.Errorf("message = %q, want %q", got, tt.text)
			}
			var codes []string
			for _, c := range all(msg, func(n *html.Node) bool { return n.Data == "code" }) {
				codes = append(codes, text(c))
			}
			if strings.Join(codes, "|") != tt.code {
				t.Errorf("code parts = %q, want %q", codes, tt.code)
			}
			if len(all(msg, func(n *html.Node) bool { return n.Data == "b" || n.Data == "i" })) > 0 {
				t.Error("markup in the message was interpreted")
			}
			if !strings.Contains(text(d.byTestID("error-page")), "Not found") {
				t.Error("no headline for 404")
			}
		})
	}
}
