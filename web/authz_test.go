package web_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/assets"
	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web"
	"github.com/seedbed/seedbed/web/apiv1"
	"github.com/seedbed/seedbed/web/auth"
)

// rolesFixture is setup with four non-admin users around app shop: a viewer,
// a deployer, an owner and a stranger who holds no role; each with a
// signed-in browser and an API token. All of them are approvers, so only
// their role on the app decides.
type rolesFixture struct {
	*fixture
	build, deploy uint
	users         map[string]*roleUser
}

type roleUser struct {
	email   string
	token   string
	browser *http.Client
	csrf    string
}

// setupFull is setup with everything every page needs: the delivery log,
// a sealer for secrets, a public URL and the real assets (for browsers);
// configure, if given, adds to the server's Config.
func setupFull(t *testing.T, configure ...func(*web.Config)) *fixture {
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
	sealer, err := pipelines.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakePipelines{Service: pipelines.New(pipelines.Config{Store: st, Sealer: sealer}), store: st}
	if _, err := fake.CreateApp(ctx, pipelines.NewApp{Name: "shop", RepoURL: "/src/shop", Branch: "main", NoCheck: true}); err != nil {
		t.Fatal(err)
	}
	cfg := web.Config{Store: st, Deliveries: st, Pipelines: fake, Accounts: accounts,
		Assets: assets.FS(), GatewayURL: "http://gw.example", PublicURL: "https://seedbed.example"}
	for _, c := range configure {
		c(&cfg)
	}
	handler, err := web.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, store: st, accounts: accounts, fake: fake, token: tok}
}

func setupRoles(t *testing.T, configure ...func(*web.Config)) *rolesFixture {
	t.Helper()
	f := setupFull(t, configure...)
	ctx := context.Background()
	app, err := f.store.AppByName(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	dev, err := f.store.StageByName(ctx, app.ID, "dev")
	if err != nil {
		t.Fatal(err)
	}
	b := store.Build{AppID: app.ID, Ref: "main", Status: store.BuildQueued, TriggerKind: "api"}
	if err := f.store.CreateBuild(ctx, &b); err != nil {
		t.Fatal(err)
	}
	d := store.Deploy{AppID: app.ID, StageID: dev.ID, BuildID: &b.ID, Status: store.DeployQueued, TriggerKind: "api"}
	if err := f.store.CreateDeploy(ctx, &d); err != nil {
		t.Fatal(err)
	}
	rf := &rolesFixture{fixture: f, build: b.ID, deploy: d.ID, users: map[string]*roleUser{}}
	for _, role := range []string{store.RoleViewer, store.RoleDeployer, store.RoleOwner, "stranger"} {
		email := role + "@example.com"
		u, err := f.accounts.CreateUser(ctx, email, "correct-horse", false, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.store.SetUserFlags(ctx, u.ID, false, true); err != nil {
			t.Fatal(err)
		}
		if role != "stranger" {
			if err := f.store.SetMember(ctx, app.ID, u.ID, role); err != nil {
				t.Fatal(err)
			}
		}
		tok, _, err := f.accounts.NewToken(ctx, u, "test")
		if err != nil {
			t.Fatal(err)
		}
		ru := &roleUser{email: email, token: tok}
		ru.browser, ru.csrf = f.signInAs(t, email, "correct-horse")
		rf.users[role] = ru
	}
	return rf
}

// signInAs signs a browser in and returns it with its CSRF token.
func (f *fixture) signInAs(t *testing.T, email, password string) (*http.Client, string) {
	t.Helper()
	c := f.browser(t)
	tok := csrfFrom(t, c, f.srv.URL+"/login")
	resp, err := c.PostForm(f.srv.URL+"/login", url.Values{"email": {email}, "password": {password}, "_csrf": {tok}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in as %s: %d", email, resp.StatusCode)
	}
	return c, csrfFrom(t, c, f.srv.URL+"/apps")
}

// do sends a request as the user: with the CSRF token through the browser
// for console routes, with the bearer token for API routes.
func (rf *rolesFixture) do(t *testing.T, u *roleUser, method, path string) (int, string) {
	t.Helper()
	var req *http.Request
	client := http.DefaultClient
	if strings.HasPrefix(path, "/api/") {
		var body io.Reader
		if method != http.MethodGet && method != http.MethodDelete {
			body = strings.NewReader("{}")
		}
		req, _ = http.NewRequest(method, rf.srv.URL+path, body)
		req.Header.Set("Authorization", "Bearer "+u.token)
		req.Header.Set("Content-Type", "application/json")
	} else {
		var body io.Reader
		if method != http.MethodGet {
			body = strings.NewReader(url.Values{"_csrf": {u.csrf}}.Encode())
		}
		req, _ = http.NewRequest(method, rf.srv.URL+path, body)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		client = u.browser
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// wantRole is the policy under test, written out apart from the code: what
// each app route needs. App routes not listed need viewer to read and owner
// to change anything.
var wantRole = map[string]string{
	"GET /api/v1/apps/:app/stages/:stage/target":       store.RoleOwner,
	"POST /apps/:app/issues/:id/resolve":               store.RoleDeployer,
	"POST /apps/:app/issues/:id/reopen":                store.RoleDeployer,
	"POST /api/v1/apps/:app/issues/:id/resolve":        store.RoleDeployer,
	"POST /api/v1/apps/:app/issues/:id/reopen":         store.RoleDeployer,
	"POST /apps/:app/stages/:stage/deploy":             store.RoleDeployer,
	"POST /api/v1/apps/:app/deploys":                   store.RoleDeployer,
	"POST /apps/:app/promote":                          store.RoleDeployer,
	"POST /api/v1/apps/:app/promotions":                store.RoleDeployer,
	"POST /apps/:app/stages/:stage/rollback":           store.RoleDeployer,
	"POST /api/v1/apps/:app/stages/:stage/rollback":    store.RoleDeployer,
	"POST /apps/:app/stages/:stage/vars":               store.RoleDeployer,
	"POST /apps/:app/stages/:stage/vars/:key/delete":   store.RoleDeployer,
	"PUT /api/v1/apps/:app/stages/:stage/vars/:key":    store.RoleDeployer,
	"DELETE /api/v1/apps/:app/stages/:stage/vars/:key": store.RoleDeployer,
	"POST /deploys/:id/approve":                        store.RoleDeployer,
	"POST /deploys/:id/reject":                         store.RoleDeployer,
	"POST /deploys/:id/cancel":                         store.RoleDeployer,
	"POST /builds/:id/cancel":                          store.RoleDeployer,
	"POST /api/v1/deploys/:id/approve":                 store.RoleDeployer,
	"POST /api/v1/deploys/:id/reject":                  store.RoleDeployer,
	"POST /api/v1/deploys/:id/cancel":                  store.RoleDeployer,
	"POST /api/v1/builds/:id/cancel":                   store.RoleDeployer,
	"POST /api/v1/apps/:app/previews":                  store.RoleDeployer,
	"DELETE /api/v1/apps/:app/previews/:number":        store.RoleDeployer,
	"GET /api/v1/apps/:app/webhooks":                   store.RoleOwner,
	"GET /apps/:app/settings":                          store.RoleOwner,
	"GET /api/v1/apps/:app/settings":                   store.RoleOwner,
	// Events: acting on schedules, queues and dead letters is a deployer's.
	"POST /apps/:app/stages/:stage/queues/:queue/purge":            store.RoleDeployer,
	"POST /apps/:app/stages/:stage/queues/:queue/redrive":          store.RoleDeployer,
	"POST /api/v1/apps/:app/stages/:stage/queues/:queue/messages":  store.RoleDeployer,
	"GET /api/v1/apps/:app/stages/:stage/queue-credentials":        store.RoleDeployer,
	"POST /api/v1/apps/:app/stages/:stage/queues/:queue/purge":     store.RoleDeployer,
	"POST /api/v1/apps/:app/stages/:stage/queues/:queue/redrive":   store.RoleDeployer,
	"POST /apps/:app/stages/:stage/schedules/:id/run":              store.RoleDeployer,
	"POST /apps/:app/stages/:stage/schedules/:id/pause":            store.RoleDeployer,
	"POST /apps/:app/stages/:stage/schedules/:id/resume":           store.RoleDeployer,
	"POST /apps/:app/stages/:stage/invocations/redrive":            store.RoleDeployer,
	"POST /apps/:app/stages/:stage/invocations/:id/redrive":        store.RoleDeployer,
	"POST /api/v1/apps/:app/stages/:stage/schedules/:id/run":       store.RoleDeployer,
	"POST /api/v1/apps/:app/stages/:stage/schedules/:id/pause":     store.RoleDeployer,
	"POST /api/v1/apps/:app/stages/:stage/schedules/:id/resume":    store.RoleDeployer,
	"POST /api/v1/apps/:app/stages/:stage/invocations/redrive":     store.RoleDeployer,
	"POST /api/v1/apps/:app/stages/:stage/invocations/:id/redrive": store.RoleDeployer,
}

// unscoped are the routes about no app: what a signed-in user may do
// whatever their roles (their own account, making an app), or before
// signing in.
var unscoped = map[string]bool{
	"POST /login": true, "POST /logout": true, "POST /apps": true, "POST /account/tokens": true,
	"POST /account/tokens/:id/revoke": true, "POST /account/sessions/:id/revoke": true,
	"POST /api/v1/login": true, "POST /api/v1/apps": true, "POST /api/v1/users": true,
	// Admins change what users may do (see TestUsersAPI).
	"PATCH /api/v1/users/:email": true,
	"POST /api/v1/tokens":        true, "DELETE /api/v1/tokens/:id": true, "DELETE /api/v1/sessions/:id": true,
	"POST /hooks/:forge/:app": true,
	// Invites: admins only (see TestInviteRoutesAreForAdmins); accepting
	// needs none.
	"POST /account/invites": true, "POST /api/v1/invites": true, "POST /invite/:token": true,
	"POST /account/invites/:id/revoke": true, "DELETE /api/v1/invites/:id": true,
}

func rank(role string) int {
	return map[string]int{store.RoleViewer: 1, store.RoleDeployer: 2, store.RoleOwner: 3}[role]
}

// Every route about an app, console and API, for every role: a user who
// holds no role gets 404 as if the app did not exist, a role too weak gets
// 403 with a message saying which role is needed, and a strong enough role
// gets through to the handler. New routes are covered as they are added.
func TestEveryAppRouteForEveryRole(t *testing.T) {
	probe := setupFull(t)
	routes := web.RoutesOf(probe.srv.Config.Handler.(*web.Server))
	tested := 0
	for _, r := range routes {
		key := r.Method + " " + r.Path
		switch {
		case !strings.Contains("GET POST PUT PATCH DELETE", r.Method) || r.Method == "" || strings.HasPrefix(r.Path, "/assets"):
			continue
		case unscoped[key]:
			continue
		}
		api := strings.TrimPrefix(r.Path, "/api/v1")
		scoped := strings.HasPrefix(api, "/apps/:app") || strings.HasPrefix(api, "/builds/:id") || strings.HasPrefix(api, "/deploys/:id")
		if !scoped {
			if r.Method != http.MethodGet {
				t.Errorf("%s changes something but names no app: list it in unscoped, or make it an app route", key)
			}
			continue
		}
		need, ok := wantRole[key]
		if !ok {
			need = store.RoleOwner
			if r.Method == http.MethodGet {
				need = store.RoleViewer
			}
		}
		tested++
		t.Run(key, func(t *testing.T) {
			rf := setupRoles(t)
			path := strings.NewReplacer(":app", "shop", ":stage", "dev", ":key", "A", ":email", "viewer@example.com",
				":number", "7", ":forge", "github").Replace(r.Path)
			if strings.Contains(api, "/builds/:id") {
				path = strings.Replace(path, ":id", fmt.Sprint(rf.build), 1)
			} else {
				path = strings.Replace(path, ":id", fmt.Sprint(rf.deploy), 1)
			}
			stream := strings.HasSuffix(path, "/events")
			// The weakest first: a refused request changes nothing, so the
			// ones allowed after it find the app as it was.
			for _, role := range []string{"stranger", store.RoleViewer, store.RoleDeployer, store.RoleOwner} {
				allowed := rank(role) >= rank(need)
				if allowed && stream {
					continue // a live log of a queued build never ends
				}
				status, body := rf.do(t, rf.users[role], r.Method, path)
				hidden := status == http.StatusNotFound && (strings.Contains(body, `No app named`) || strings.Contains(body, "No build #") || strings.Contains(body, "No deploy #"))
				switch {
				case role == "stranger":
					if !hidden {
						t.Errorf("%s %s as a user with no role: %d, want 404 as if the app did not exist\n%.300s", r.Method, path, status, body)
					}
				case !allowed:
					if status != http.StatusForbidden || !strings.Contains(body, "needs the "+need+" role") {
						t.Errorf("%s %s as %s: %d, want 403 saying it needs %s\n%.300s", r.Method, path, role, status, need, body)
					}
				default:
					if status == http.StatusForbidden || hidden || status == http.StatusUnauthorized {
						t.Errorf("%s %s as %s: %d, want the handler's answer\n%.300s", r.Method, path, role, status, body)
					}
				}
			}
		})
	}
	if tested < 40 {
		t.Fatalf("only %d app routes found; the route listing is broken", tested)
	}
}

// Refused requests change nothing: a viewer's deploy is not asked for, its
// variable is not set.
func TestViewerChangesNothing(t *testing.T) {
	rf := setupRoles(t)
	v := rf.users[store.RoleViewer]
	for _, path := range []string{"/apps/shop/stages/dev/deploy", "/api/v1/apps/shop/deploys"} {
		if status, _ := rf.do(t, v, http.MethodPost, path); status != http.StatusForbidden {
			t.Fatalf("viewer POST %s: %d", path, status)
		}
	}
	if len(rf.fake.deploys) != 0 {
		t.Fatalf("a viewer's deploy reached the pipelines: %+v", rf.fake.deploys)
	}
	if _, body := rf.do(t, v, http.MethodGet, "/apps/shop"); strings.Contains(body, "/apps/shop/stages/dev/deploy") {
		t.Fatal("a viewer's app page offers to deploy")
	}
	if _, body := rf.do(t, rf.users[store.RoleDeployer], http.MethodGet, "/apps/shop"); !strings.Contains(body, "/apps/shop/stages/dev/deploy") {
		t.Fatal("a deployer's app page does not offer to deploy")
	}
	viewer := apiv1.NewClient(rf.srv.URL, v.token)
	if err := viewer.SetVar(context.Background(), "shop", "dev", "A", apiv1.SetVarRequest{Value: "b"}); err == nil {
		t.Fatal("a viewer set a variable")
	}
	deployer := apiv1.NewClient(rf.srv.URL, rf.users[store.RoleDeployer].token)
	if err := deployer.SetVar(context.Background(), "shop", "dev", "A", apiv1.SetVarRequest{Value: "b"}); err != nil {
		t.Fatalf("a deployer sets variables: %v", err)
	}
	vars, err := viewer.Vars(context.Background(), "shop", "dev")
	if err != nil || len(vars) != 1 || vars[0].Value != "b" {
		t.Fatalf("a viewer reads plain variables: %+v, %v", vars, err)
	}
}

// Lists show only the apps a user holds a role on; creating an app makes
// its creator the owner.
func TestAppsAreListedByMembership(t *testing.T) {
	rf := setupRoles(t)
	ctx := context.Background()
	stranger := apiv1.NewClient(rf.srv.URL, rf.users["stranger"].token)
	if apps, err := stranger.Apps(ctx); err != nil || len(apps) != 0 {
		t.Fatalf("a user with no role lists %+v, %v; want none", apps, err)
	}
	status, body := rf.do(t, rf.users["stranger"], http.MethodGet, "/apps")
	if status != http.StatusOK || strings.Contains(body, `href="/apps/shop"`) {
		t.Fatalf("console apps list of a user with no role shows shop (%d)", status)
	}
	viewer := apiv1.NewClient(rf.srv.URL, rf.users[store.RoleViewer].token)
	if apps, err := viewer.Apps(ctx); err != nil || len(apps) != 1 || apps[0].Name != "shop" {
		t.Fatalf("a viewer lists %+v, %v; want shop", apps, err)
	}

	// Creating apps needs the creator mark (see TestCreatingAppsNeedsCreator).
	u, err := rf.store.UserByEmail(ctx, "stranger@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := rf.store.SetUserCreator(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := stranger.CreateApp(ctx, apiv1.CreateAppRequest{Name: "mine", RepoURL: "https://140.82.121.3/acme/mine.git", Branch: "main", Check: new(bool)}); err != nil {
		t.Fatal(err)
	}
	if _, err := stranger.UpdateStage(ctx, "mine", "dev", apiv1.StageRequest{Branch: "main"}); err != nil {
		t.Fatalf("the creator of an app changes its stages: %v", err)
	}
	ms, err := stranger.Members(ctx, "mine")
	if err != nil || len(ms) != 1 || ms[0].Email != "stranger@example.com" || ms[0].Role != store.RoleOwner {
		t.Fatalf("members of a new app: %+v, %v; want its creator as owner", ms, err)
	}
	if _, err := viewer.App(ctx, "mine"); !isStatus(err, http.StatusNotFound) {
		t.Fatalf("someone else's new app: %v, want 404", err)
	}
}

// Owners manage members; a member's new role applies to the next request.
func TestMembersAPI(t *testing.T) {
	rf := setupRoles(t)
	ctx := context.Background()
	owner := apiv1.NewClient(rf.srv.URL, rf.users[store.RoleOwner].token)
	stranger := apiv1.NewClient(rf.srv.URL, rf.users["stranger"].token)
	if _, err := owner.SetMember(ctx, "shop", "stranger@example.com", "boss"); !isStatus(err, http.StatusUnprocessableEntity) {
		t.Fatalf("unknown role: %v, want 422", err)
	}
	if _, err := owner.SetMember(ctx, "shop", "nobody@example.com", store.RoleViewer); !isStatus(err, http.StatusNotFound) {
		t.Fatalf("unknown user: %v, want 404", err)
	}
	if _, err := owner.SetMember(ctx, "shop", "Stranger@Example.com", store.RoleDeployer); err != nil {
		t.Fatal(err)
	}
	if _, err := stranger.Deploy(ctx, "shop", apiv1.DeployRequest{Stage: "dev"}); err != nil {
		t.Fatalf("a new deployer deploys: %v", err)
	}
	ms, err := owner.Members(ctx, "shop")
	if err != nil || len(ms) != 4 {
		t.Fatalf("members: %+v, %v", ms, err)
	}
	if err := owner.RemoveMember(ctx, "shop", "stranger@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := stranger.App(ctx, "shop"); !isStatus(err, http.StatusNotFound) {
		t.Fatalf("a removed member reads the app: %v, want 404 at once", err)
	}
	deployer := apiv1.NewClient(rf.srv.URL, rf.users[store.RoleDeployer].token)
	if _, err := deployer.SetMember(ctx, "shop", "stranger@example.com", store.RoleOwner); !isStatus(err, http.StatusForbidden) {
		t.Fatalf("a deployer makes owners: %v, want 403", err)
	}
}

func TestCreateUserIsForAdmins(t *testing.T) {
	rf := setupRoles(t)
	ctx := context.Background()
	owner := apiv1.NewClient(rf.srv.URL, rf.users[store.RoleOwner].token)
	req := apiv1.CreateUserRequest{Email: "new@example.com", Password: "long-enough", Approver: true}
	if _, err := owner.CreateUser(ctx, req); !isStatus(err, http.StatusForbidden) {
		t.Fatalf("a non-admin adds users: %v, want 403", err)
	}
	admin := apiv1.NewClient(rf.srv.URL, rf.token)
	if _, err := admin.CreateUser(ctx, apiv1.CreateUserRequest{Email: "short@example.com", Password: "short"}); !isStatus(err, http.StatusUnprocessableEntity) {
		t.Fatalf("short password: %v, want 422", err)
	}
	u, err := admin.CreateUser(ctx, req)
	if err != nil || !u.IsApprover || u.IsAdmin {
		t.Fatalf("create user: %+v, %v", u, err)
	}
	if _, err := admin.CreateUser(ctx, req); !isStatus(err, http.StatusConflict) {
		t.Fatalf("same email twice: %v, want 409", err)
	}
	if _, err := apiv1.NewClient(rf.srv.URL, "").Login(ctx, apiv1.LoginRequest{Email: req.Email, Password: req.Password}); err != nil {
		t.Fatalf("the new user signs in: %v", err)
	}
}

// A token revoked through the API or the console stops working at once.
func TestRevokedTokenStopsAtOnce(t *testing.T) {
	rf := setupRoles(t)
	ctx := context.Background()
	me := apiv1.NewClient(rf.srv.URL, rf.users[store.RoleDeployer].token)
	for _, via := range []string{"api", "console"} {
		made, err := me.CreateToken(ctx, "ci-"+via)
		if err != nil || !strings.HasPrefix(made.Token, "sbt_") {
			t.Fatalf("create token: %+v, %v", made, err)
		}
		ci := apiv1.NewClient(rf.srv.URL, made.Token)
		if _, err := ci.App(ctx, "shop"); err != nil {
			t.Fatalf("new token: %v", err)
		}
		if via == "api" {
			err = me.RevokeToken(ctx, made.Detail.ID)
		} else {
			u := rf.users[store.RoleDeployer]
			status, body := rf.do(t, u, http.MethodPost, fmt.Sprintf("/account/tokens/%d/revoke", made.Detail.ID))
			if status != http.StatusSeeOther {
				err = fmt.Errorf("console revoke: %d %.200s", status, body)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ci.App(ctx, "shop"); !isStatus(err, http.StatusUnauthorized) {
			t.Fatalf("revoked (%s) token: %v, want 401 at once", via, err)
		}
		toks, _ := me.Tokens(ctx)
		for _, tk := range toks {
			if tk.ID == made.Detail.ID && tk.RevokedAt == nil {
				t.Fatalf("token list shows %d as active", tk.ID)
			}
		}
	}
	// Someone else's token is not yours to revoke.
	other := apiv1.NewClient(rf.srv.URL, rf.users[store.RoleViewer].token)
	toks, _ := me.Tokens(ctx)
	if err := other.RevokeToken(ctx, toks[len(toks)-1].ID); !isStatus(err, http.StatusNotFound) {
		t.Fatalf("revoking another user's token: %v, want 404", err)
	}
	if _, err := me.App(ctx, "shop"); err != nil {
		t.Fatalf("the deployer's own token after someone tried to revoke it: %v", err)
	}
}

// The account page shows a new token once, lists sessions, and signing a
// session out ends it at once.
func TestAccountPageAndSessions(t *testing.T) {
	rf := setupRoles(t)
	ctx := context.Background()
	u := rf.users[store.RoleViewer]
	status, body := rf.do(t, u, http.MethodGet, "/account")
	if status != http.StatusOK || !strings.Contains(body, `data-testid="sessions"`) || !strings.Contains(body, "this browser") {
		t.Fatalf("account page: %d\n%.500s", status, body)
	}
	resp, err := u.browser.PostForm(rf.srv.URL+"/account/tokens", url.Values{"_csrf": {u.csrf}, "name": {"laptop"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || !bytes.Contains(b, []byte(`data-testid="new-token-value">sbt_`)) {
		t.Fatalf("create token in the console: %d\n%.500s", resp.StatusCode, b)
	}
	if _, body := rf.do(t, u, http.MethodGet, "/account"); strings.Contains(body, "new-token-value") || !strings.Contains(body, "laptop") {
		t.Fatal("the account page shows the token again, or not its name")
	}

	// A second browser, listed through the API and signed out from it.
	second, _ := rf.signInAs(t, u.email, "correct-horse")
	api := apiv1.NewClient(rf.srv.URL, u.token)
	ss, err := api.Sessions(ctx)
	if err != nil || len(ss) != 2 {
		t.Fatalf("sessions: %+v, %v", ss, err)
	}
	if err := api.RevokeSession(ctx, ss[0].ID); err != nil { // newest first: the second browser
		t.Fatal(err)
	}
	resp, err = second.Get(rf.srv.URL + "/apps")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("signed-out browser: %d → %q, want a redirect to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	if status, _ := rf.do(t, u, http.MethodGet, "/apps"); status != http.StatusOK {
		t.Fatalf("the first browser was signed out too: %d", status)
	}
	if err := apiv1.NewClient(rf.srv.URL, rf.users[store.RoleOwner].token).RevokeSession(ctx, ss[1].ID); !isStatus(err, http.StatusNotFound) {
		t.Fatalf("revoking another user's session: %v, want 404", err)
	}
}

// Past ten failed sign-ins for one email from one address, the console and
// the API refuse even the right password with 429; other emails still work.
func TestLoginIsRateLimited(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	for _, email := range []string{"api@example.com", "form@example.com", "other@example.com"} {
		if _, err := f.accounts.CreateUser(ctx, email, "correct-horse", false, false); err != nil {
			t.Fatal(err)
		}
	}
	anon := apiv1.NewClient(f.srv.URL, "")
	apiLogin := func(email, pw string) error {
		_, err := anon.Login(ctx, apiv1.LoginRequest{Email: email, Password: pw})
		return err
	}
	browser := f.browser(t)
	formLogin := func(email, pw string) (int, string) {
		tok := csrfFrom(t, browser, f.srv.URL+"/login")
		resp, err := browser.PostForm(f.srv.URL+"/login", url.Values{"email": {email}, "password": {pw}, "_csrf": {tok}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for i := 0; i < 10; i++ {
		if err := apiLogin("api@example.com", "wrong-password"); !isStatus(err, http.StatusUnauthorized) {
			t.Fatalf("failed API sign-in %d: %v, want 401", i+1, err)
		}
		if status, _ := formLogin("form@example.com", "wrong-password"); status != http.StatusUnauthorized {
			t.Fatalf("failed form sign-in %d: %d, want 401", i+1, status)
		}
	}
	err := apiLogin("api@example.com", "correct-horse")
	if !isStatus(err, http.StatusTooManyRequests) || !strings.Contains(err.Error(), "wait") {
		t.Fatalf("API sign-in past the limit with the right password: %v, want 429 saying to wait", err)
	}
	// The limit is per email and address, whichever door was used.
	if status, body := formLogin("api@example.com", "correct-horse"); status != http.StatusTooManyRequests || !strings.Contains(body, "Too many failed sign-ins") {
		t.Fatalf("form sign-in of the limited email: %d, want 429 with the reason", status)
	}
	if status, _ := formLogin("form@example.com", "correct-horse"); status != http.StatusTooManyRequests {
		t.Fatalf("form sign-in past the limit with the right password: %d, want 429", status)
	}
	if err := apiLogin("other@example.com", "correct-horse"); err != nil {
		t.Fatalf("another email from the same address: %v", err)
	}
}

func isStatus(err error, status int) bool {
	var ae *apiv1.APIError
	return asAPIError(err, &ae) && ae.Status == status
}
