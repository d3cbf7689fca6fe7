package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web"
	"github.com/seedbed/seedbed/web/apiv1"
	"github.com/seedbed/seedbed/web/auth"
)

// fakePipelines is the real pipelines on a store with no queue, except that
// deploy requests are recorded instead of queued.
type fakePipelines struct {
	*pipelines.Service
	store   *store.Store
	deploys []pipelines.DeployRequest
}

func (f *fakePipelines) RequestDeploy(ctx context.Context, req pipelines.DeployRequest) (store.Build, store.Deploy, error) {
	f.deploys = append(f.deploys, req)
	app, err := f.store.AppByName(ctx, req.App)
	if err != nil {
		return store.Build{}, store.Deploy{}, err
	}
	st, err := f.store.StageByName(ctx, app.ID, req.Stage)
	if err != nil {
		return store.Build{}, store.Deploy{}, err
	}
	b := store.Build{AppID: app.ID, Ref: "main", Status: store.BuildQueued, TriggerKind: req.Trigger}
	if err := f.store.CreateBuild(ctx, &b); err != nil {
		return b, store.Deploy{}, err
	}
	d := store.Deploy{AppID: app.ID, StageID: st.ID, BuildID: &b.ID, Status: store.DeployQueued, TriggerKind: req.Trigger}
	return b, d, f.store.CreateDeploy(ctx, &d)
}

type fixture struct {
	srv      *httptest.Server
	store    *store.Store
	accounts *auth.Accounts
	fake     *fakePipelines
	token    string
}

func setup(t *testing.T) *fixture {
	t.Helper()
	return setupWith(t, nil)
}

// adminStore opens a fresh SQLite store with one admin, ada@example.com
// (password correct-horse), and an API token of hers.
func adminStore(t *testing.T) (*store.Store, *auth.Accounts, string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "seedbed.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	accounts := auth.New(st, 4) // low bcrypt cost: tests, not security
	u, err := accounts.CreateUser(ctx, "ada@example.com", "correct-horse", true, false)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := accounts.NewToken(ctx, u, "test")
	if err != nil {
		t.Fatal(err)
	}
	return st, accounts, tok
}

// setupWith is setup with the server's Config changed by configure first.
func setupWith(t *testing.T, configure func(*web.Config)) *fixture {
	t.Helper()
	ctx := context.Background()
	st, accounts, tok := adminStore(t)
	sealer, err := pipelines.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakePipelines{Service: pipelines.New(pipelines.Config{Store: st, Sealer: sealer}), store: st}
	if _, err := fake.CreateApp(ctx, pipelines.NewApp{Name: "shop", RepoURL: "/src/shop", Branch: "main", NoCheck: true}); err != nil {
		t.Fatal(err)
	}
	cfg := web.Config{Store: st, Pipelines: fake, Accounts: accounts,
		Assets: fstest.MapFS{"app.css": {Data: []byte("body{}")}}, GatewayURL: "http://gw.example"}
	if configure != nil {
		configure(&cfg)
	}
	handler, err := web.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, store: st, accounts: accounts, fake: fake, token: tok}
}

// browser is an HTTP client with a cookie jar that does not follow redirects.
func (f *fixture) browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// csrfFrom loads a page and returns the CSRF token of its first form.
func csrfFrom(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := csrfField.FindSubmatch(b)
	if m == nil {
		t.Fatalf("no CSRF field on %s (status %d)", u, resp.StatusCode)
	}
	return string(m[1])
}

func (f *fixture) signIn(t *testing.T) (*http.Client, string) {
	t.Helper()
	c := f.browser(t)
	tok := csrfFrom(t, c, f.srv.URL+"/login")
	resp, err := c.PostForm(f.srv.URL+"/login", url.Values{"email": {"ada@example.com"}, "password": {"correct-horse"}, "_csrf": {tok}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/apps" {
		t.Fatalf("sign in: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return c, csrfFrom(t, c, f.srv.URL+"/apps/shop")
}

func TestLogin(t *testing.T) {
	f := setup(t)
	c := f.browser(t)
	if resp, _ := c.Get(f.srv.URL + "/apps"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("signed-out /apps: %d → %q, want a redirect to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	tok := csrfFrom(t, c, f.srv.URL+"/login")
	resp, _ := c.PostForm(f.srv.URL+"/login", url.Values{"email": {"ada@example.com"}, "password": {"nope-nope"}, "_csrf": {tok}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d, want 401", resp.StatusCode)
	}
	c, _ = f.signIn(t)
	resp, _ = c.Get(f.srv.URL + "/apps")
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), "shop") {
		t.Fatalf("signed-in /apps: %d, body lacks the app", resp.StatusCode)
	}
	for _, next := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example"} {
		c2 := f.browser(t)
		tok := csrfFrom(t, c2, f.srv.URL+"/login")
		resp, _ := c2.PostForm(f.srv.URL+"/login", url.Values{"email": {"ada@example.com"}, "password": {"correct-horse"}, "_csrf": {tok}, "next": {next}})
		if loc := resp.Header.Get("Location"); loc != "/apps" {
			t.Errorf("next=%q redirected to %q, want /apps", next, loc)
		}
	}
}

// Every form refuses a request without the CSRF token, and without a session.
func TestMutatingRoutesNeedCSRFAndSession(t *testing.T) {
	f := setup(t)
	routes := []struct {
		name string
		path string
		form url.Values
	}{
		{"create app", "/apps", url.Values{"name": {"x"}, "repo_url": {"/src/x"}, "branch": {"main"}}},
		{"deploy", "/apps/shop/stages/dev/deploy", url.Values{}},
		{"logout", "/logout", url.Values{}},
		{"promote", "/apps/shop/promote", url.Values{"from": {"dev"}, "to": {"staging"}}},
		{"rollback", "/apps/shop/stages/dev/rollback", url.Values{}},
		{"create stage", "/apps/shop/stages", url.Values{"name": {"qa"}}},
		{"stage settings", "/apps/shop/stages/dev/settings", url.Values{"branch": {"main"}}},
		{"set variable", "/apps/shop/stages/dev/vars", url.Values{"key": {"A"}, "value": {"b"}}},
		{"unset variable", "/apps/shop/stages/dev/vars/A/delete", url.Values{}},
		{"delete stage", "/apps/shop/stages/dev/delete", url.Values{}},
		{"approve", "/deploys/1/approve", url.Values{}},
		{"reject", "/deploys/1/reject", url.Values{}},
		{"cancel deploy", "/deploys/1/cancel", url.Values{}},
		{"cancel build", "/builds/1/cancel", url.Values{}},
		{"login", "/login", url.Values{"email": {"ada@example.com"}, "password": {"correct-horse"}}},
	}
	for _, r := range routes {
		t.Run(r.name+" without CSRF", func(t *testing.T) {
			c, _ := f.signIn(t)
			resp, err := c.PostForm(f.srv.URL+r.path, r.form)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("POST %s without a CSRF token: %d, want 403", r.path, resp.StatusCode)
			}
		})
		if r.path == "/login" {
			continue
		}
		t.Run(r.name+" signed out", func(t *testing.T) {
			c := f.browser(t)
			tok := csrfFrom(t, c, f.srv.URL+"/login")
			form := url.Values{"_csrf": {tok}}
			for k, v := range r.form {
				form[k] = v
			}
			resp, err := c.PostForm(f.srv.URL+r.path, form)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("POST %s signed out: %d, want 401", r.path, resp.StatusCode)
			}
		})
	}
	if len(f.fake.deploys) != 0 {
		t.Fatalf("refused requests still deployed: %+v", f.fake.deploys)
	}
	if stages, _ := f.store.Stages(context.Background(), 1); len(stages) != 3 {
		t.Fatalf("refused requests changed the stages: %d stages", len(stages))
	}

	c, tok := f.signIn(t)
	resp, _ := c.PostForm(f.srv.URL+"/apps/shop/stages/dev/deploy", url.Values{"_csrf": {tok}, "ref": {"main"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/builds/") {
		t.Fatalf("deploy with CSRF: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if len(f.fake.deploys) != 1 || f.fake.deploys[0].Trigger != pipelines.TriggerConsole || f.fake.deploys[0].By != "ada@example.com" {
		t.Fatalf("deploys asked: %+v", f.fake.deploys)
	}
}

func TestCreateAppFormShowsFieldErrors(t *testing.T) {
	f := setup(t)
	c, tok := f.signIn(t)
	resp, _ := c.PostForm(f.srv.URL+"/apps", url.Values{"_csrf": {tok}, "name": {"Bad Name"}, "repo_url": {"not a url"}, "branch": {"main"}})
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), "lower-case") || !strings.Contains(string(b), "clone URL") {
		t.Fatalf("invalid app form: %d\n%s", resp.StatusCode, b)
	}
	resp, _ = c.PostForm(f.srv.URL+"/apps", url.Values{"_csrf": {tok}, "name": {"shop"}, "repo_url": {"/src/shop"}, "branch": {"main"}})
	b, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(b), "exists already") {
		t.Fatalf("duplicate app form: %d\n%s", resp.StatusCode, b)
	}
	// A repository that cannot be read is refused at its field, unless
	// the form says not to check it now.
	missing := filepath.Join(t.TempDir(), "not-yet")
	resp, _ = c.PostForm(f.srv.URL+"/apps", url.Values{"_csrf": {tok}, "name": {"later"}, "repo_url": {missing}, "branch": {"main"}})
	b, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), "cannot read repository") || !strings.Contains(string(b), `data-testid="no-check"`) {
		t.Fatalf("unreadable repository: %d\n%s", resp.StatusCode, b)
	}
	resp, _ = c.PostForm(f.srv.URL+"/apps", url.Values{"_csrf": {tok}, "name": {"later"}, "repo_url": {missing}, "branch": {"main"}, "no_check": {"1"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusOK {
		t.Fatalf("unchecked repository: %d, want the app created", resp.StatusCode)
	}
	if _, err := f.store.AppByName(context.Background(), "later"); err != nil {
		t.Fatalf("the unchecked app was not created: %v", err)
	}
}

func TestAPITokens(t *testing.T) {
	f := setup(t)
	call := func(token string) (int, apiv1.Error) {
		req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/api/v1/apps", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e apiv1.Error
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e
	}
	if code, _ := call(f.token); code != 200 {
		t.Fatalf("valid token: %d", code)
	}
	tests := []struct{ name, token string }{
		{"no token", ""},
		{"unknown token", "sbt_made-up"},
		{"not a seedbed token", "ghp_something"},
	}
	for _, tt := range tests {
		if code, e := call(tt.token); code != 401 || e.Message == "" {
			t.Errorf("%s: %d %+v, want 401 with a message", tt.name, code, e)
		}
	}
	u, _ := f.store.UserByEmail(context.Background(), "ada@example.com")
	toks, _ := f.store.APITokens(context.Background(), u.ID)
	if err := f.store.RevokeAPIToken(context.Background(), u.ID, toks[0].ID); err != nil {
		t.Fatal(err)
	}
	if code, _ := call(f.token); code != 401 {
		t.Fatalf("revoked token: %d, want 401 at once", code)
	}
}

func TestAPIErrors(t *testing.T) {
	f := setup(t)
	api := apiv1.NewClient(f.srv.URL, f.token)
	ctx := context.Background()
	_, err := api.CreateApp(ctx, apiv1.CreateAppRequest{Name: "../../etc", RepoURL: "/x"})
	var ae *apiv1.APIError
	if !asAPIError(err, &ae) || ae.Status != 422 || !strings.Contains(ae.Body.Message, "lower-case") {
		t.Fatalf("bad app name: %v", err)
	}
	if _, err := api.App(ctx, "nope"); !asAPIError(err, &ae) || ae.Status != 404 {
		t.Fatalf("missing app: %v", err)
	}
	if _, err := api.Build(ctx, 999); !asAPIError(err, &ae) || ae.Status != 404 {
		t.Fatalf("missing build: %v", err)
	}
	resp, err := api.Deploy(ctx, "shop", apiv1.DeployRequest{Stage: "dev"})
	if err != nil || resp.Build.ID == 0 || resp.Deploy.Stage != "dev" {
		t.Fatalf("deploy: %+v, %v", resp, err)
	}
}

func asAPIError(err error, target **apiv1.APIError) bool {
	e, ok := err.(*apiv1.APIError)
	if ok {
		*target = e
	}
	return ok
}

// Owners add and reorder stages from the app page.
func TestStageFormsOnAppPage(t *testing.T) {
	f := setup(t)
	c, tok := f.signIn(t)
	resp, err := c.Get(f.srv.URL + "/apps/shop")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`data-testid="add-stage-form"`, `value="dev staging prod"`, `<option value="prod" selected>`} {
		if !strings.Contains(string(page), want) {
			t.Fatalf("app page lacks %s", want)
		}
	}
	order := func() string {
		t.Helper()
		stages, _ := f.store.Stages(context.Background(), 1)
		var names []string
		for _, st := range stages {
			names = append(names, st.Name)
		}
		return strings.Join(names, " ")
	}
	// A new stage goes right after the one the form names.
	resp, _ = c.PostForm(f.srv.URL+"/apps/shop/stages", url.Values{"_csrf": {tok}, "name": {"qa"}, "branch": {"release/*"}, "approval": {"on"}, "after": {"dev"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add stage: %d", resp.StatusCode)
	}
	if got := order(); got != "dev qa staging prod" {
		t.Fatalf("after adding qa after dev: %s", got)
	}
	stages, _ := f.store.Stages(context.Background(), 1)
	if !stages[1].Approval || stages[1].Branch != "release/*" {
		t.Fatalf("qa after the form: %+v", stages[1])
	}
	resp, _ = c.PostForm(f.srv.URL+"/apps/shop/stages/order", url.Values{"_csrf": {tok}, "order": {"dev staging qa prod"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("reorder: %d", resp.StatusCode)
	}
	if got := order(); got != "dev staging qa prod" {
		t.Fatalf("after the order form: %s", got)
	}
	resp, _ = c.PostForm(f.srv.URL+"/apps/shop/stages/order", url.Values{"_csrf": {tok}, "order": {"dev prod"}})
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("an order that leaves stages out: %d, want 422", resp.StatusCode)
	}
}

// Owners give, change and take away roles on the members page.
func TestMembersPage(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	if _, err := f.accounts.CreateUser(ctx, "bob@example.com", "bob-password", false, false); err != nil {
		t.Fatal(err)
	}
	c, tok := f.signIn(t)
	post := func(path string, form url.Values) (int, string) {
		form.Set("_csrf", tok)
		resp, err := c.PostForm(f.srv.URL+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := post("/apps/shop/members", url.Values{"email": {"bob@example.com"}, "role": {"viewer"}}); code != http.StatusSeeOther {
		t.Fatalf("give a role: %d", code)
	}
	if code, _ := post("/apps/shop/members", url.Values{"email": {"bob@example.com"}, "role": {"deployer"}}); code != http.StatusSeeOther {
		t.Fatalf("change a role: %d", code)
	}
	resp, _ := c.Get(f.srv.URL + "/apps/shop/members")
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `data-testid="member-bob@example.com"`) || !strings.Contains(string(page), "<code>deployer</code>") {
		t.Fatalf("members page lacks bob as deployer:\n%s", page)
	}
	if code, body := post("/apps/shop/members", url.Values{"email": {"nobody@example.com"}, "role": {"viewer"}}); code != http.StatusNotFound || !strings.Contains(body, "No user with email") {
		t.Fatalf("unknown user: %d", code)
	}
	if code, body := post("/apps/shop/members", url.Values{"email": {"bob@example.com"}, "role": {"god"}}); code != http.StatusUnprocessableEntity || !strings.Contains(body, "not a role") {
		t.Fatalf("bad role: %d", code)
	}
	if code, _ := post("/apps/shop/members/bob@example.com/delete", url.Values{}); code != http.StatusSeeOther {
		t.Fatalf("remove: %d", code)
	}
	if code, _ := post("/apps/shop/members/bob@example.com/delete", url.Values{}); code != http.StatusNotFound {
		t.Fatalf("remove twice: %d, want 404", code)
	}
}
