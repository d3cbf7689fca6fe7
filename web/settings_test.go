package web_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web"
	"github.com/seedbed/seedbed/web/apiv1"
)

// settingsSetup is setup with what the settings page needs too: a sealer
// for the forge token, the delivery log, a public URL and the git remote.
func settingsSetup(t *testing.T) (*fixture, store.App) {
	t.Helper()
	ctx := context.Background()
	st, accounts, tok := adminStore(t)
	sealer, err := pipelines.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakePipelines{Service: pipelines.New(pipelines.Config{Store: st, Sealer: sealer}), store: st}
	app, err := fake.CreateApp(ctx, pipelines.NewApp{Name: "shop", RepoURL: "https://github.com/acme/shop.git", Branch: "main", NoCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	handler, err := web.New(web.Config{Store: st, Deliveries: st, Pipelines: fake, Accounts: accounts,
		Assets: fstest.MapFS{"app.css": {Data: []byte("body{}")}}, GatewayURL: "http://gw.example",
		PublicURL: "https://seedbed.example", GitReposDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, store: st, accounts: accounts, fake: fake, token: tok}, app
}

func getBody(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The settings page shows, per forge, the payload URL and setup steps, the
// secret, the built-in remote, recent deliveries; its form saves the forge
// settings and never shows the token again.
func TestAppSettingsPage(t *testing.T) {
	f, app := settingsSetup(t)
	ctx := context.Background()
	secret, err := f.fake.WebhookSecret(app)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.RecordDelivery(ctx, &store.WebhookDelivery{AppID: app.ID, Forge: "github", DeliveryID: "d-1", Event: "push",
		Outcome: store.DeliveryIgnored, Reason: "no stage follows branch feature", Summary: "push to feature by ada"}); err != nil {
		t.Fatal(err)
	}
	c, _ := f.signIn(t)
	settings := f.srv.URL + "/apps/shop/settings"

	if code, body := getBody(t, c, f.srv.URL+"/apps/shop"); code != 200 || !strings.Contains(body, `href="/apps/shop/settings"`) {
		t.Fatalf("app page %d lacks a link to the settings", code)
	}
	code, body := getBody(t, c, settings)
	if code != http.StatusOK {
		t.Fatalf("settings page: %d\n%s", code, body)
	}
	for _, want := range []string{
		`value="https://seedbed.example/hooks/github/shop"`,
		`value="https://seedbed.example/hooks/gitlab/shop"`,
		`value="https://seedbed.example/hooks/gitea/shop"`,
		`value="https://seedbed.example/hooks/bitbucket/shop"`,
		`value="` + secret + `"`,
		`data-copy="webhook-secret"`,
		"<code>application/json</code>",
		"Merge request events",
		`value="https://seedbed.example/git/shop.git"`,
		"git remote add seedbed https://seedbed.example/git/shop.git\ngit push seedbed main",
		"no stage follows branch feature",
		"push to feature by ada",
		"acme/shop", // the repository path read from the URL
		"No token is set",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("settings page lacks %q", want)
		}
	}

	post := func(form url.Values) (int, string, string) {
		t.Helper()
		form.Set("_csrf", csrfFrom(t, c, settings))
		resp, err := c.PostForm(settings, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Location"), string(b)
	}
	tests := []struct {
		name      string
		form      url.Values
		status    int
		wantField string // the field whose error shows
	}{
		{"poll too often", url.Values{"forge": {"github"}, "poll": {"5s"}}, http.StatusUnprocessableEntity, "poll"},
		{"poll not a duration", url.Values{"forge": {"github"}, "poll": {"often"}}, http.StatusUnprocessableEntity, "poll"},
		{"gitea without URL", url.Values{"forge": {"gitea"}}, http.StatusUnprocessableEntity, "api_url"},
		{"bad API URL", url.Values{"forge": {"gitlab"}, "api_url": {"gitlab.example.com"}}, http.StatusUnprocessableEntity, "api_url"},
		{"saved", url.Values{"forge": {"gitlab"}, "api_url": {"https://gitlab.example.com"}, "token": {"glpat-very-secret"}, "poll": {"1m"}}, http.StatusSeeOther, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, loc, body := post(tt.form)
			if code != tt.status {
				t.Fatalf("status %d, want %d\n%s", code, tt.status, body)
			}
			if tt.wantField != "" && !strings.Contains(body, `data-testid="error-`+tt.wantField+`"`) {
				t.Errorf("no error by the %s field:\n%s", tt.wantField, body)
			}
			if tt.wantField == "" && loc != "/apps/shop/settings" {
				t.Errorf("redirect to %q", loc)
			}
		})
	}
	_, body = getBody(t, c, settings)
	if strings.Contains(body, "glpat-very-secret") {
		t.Fatal("the settings page shows the token")
	}
	for _, want := range []string{"A token is set", `<option value="gitlab" selected>`, `value="https://gitlab.example.com"`, `value="1m0s"`} {
		if !strings.Contains(body, want) {
			t.Errorf("after saving, the page lacks %q", want)
		}
	}
	a, err := f.store.AppByName(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if a.ForgeToken == "" || strings.Contains(a.ForgeToken, "glpat") || a.PollSeconds != 60 {
		t.Fatalf("stored token %q (must be sealed), poll %d", a.ForgeToken, a.PollSeconds)
	}
	// Saving without a token keeps it; "remove" removes it.
	post(url.Values{"forge": {"gitlab"}, "api_url": {"https://gitlab.example.com"}})
	if _, body = getBody(t, c, settings); !strings.Contains(body, "A token is set") {
		t.Error("saving without a token removed it")
	}
	post(url.Values{"forge": {"gitlab"}, "api_url": {"https://gitlab.example.com"}, "clear_token": {"on"}})
	if _, body = getBody(t, c, settings); !strings.Contains(body, "No token is set") {
		t.Error("remove the token did not")
	}
}

// The settings API takes the token but only ever says whether it is set.
func TestAppSettingsAPI(t *testing.T) {
	f, _ := settingsSetup(t)
	ctx := context.Background()
	api := apiv1.NewClient(f.srv.URL, f.token)
	got, err := api.AppSettings(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if got.Forge != "" || got.Token != "not set" || got.PollSeconds != 0 || got.RepoDerived != "acme/shop" {
		t.Fatalf("fresh settings: %+v", got)
	}
	s := func(v string) *string { return &v }
	got, err = api.UpdateAppSettings(ctx, "shop", apiv1.AppSettingsRequest{Forge: s("github"), Token: s("ghp_secret123"), Poll: s("2m"), Repo: s("acme/shop-mirror")})
	if err != nil {
		t.Fatal(err)
	}
	if got.Forge != "github" || got.Token != "set" || got.PollSeconds != 120 || got.Repo != "acme/shop-mirror" {
		t.Fatalf("after update: %+v", got)
	}
	// Omitted fields are kept.
	if got, err = api.UpdateAppSettings(ctx, "shop", apiv1.AppSettingsRequest{Poll: s("0")}); err != nil || got.Forge != "github" || got.Token != "set" || got.PollSeconds != 0 {
		t.Fatalf("partial update: %+v, %v", got, err)
	}
	// The raw answers never carry the token.
	for _, method := range []string{http.MethodGet, http.MethodPut} {
		req, _ := http.NewRequest(method, f.srv.URL+"/api/v1/apps/shop/settings", strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+f.token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || strings.Contains(string(b), "ghp_secret123") || !strings.Contains(string(b), `"token":"set"`) {
			t.Fatalf("%s settings: %d %s", method, resp.StatusCode, b)
		}
	}
	for _, tt := range []struct {
		name string
		req  apiv1.AppSettingsRequest
		want string
	}{
		{"unknown forge", apiv1.AppSettingsRequest{Forge: s("sourcehut")}, "forge:"},
		{"poll too often", apiv1.AppSettingsRequest{Poll: s("1s")}, "poll:"},
		{"repo not a path", apiv1.AppSettingsRequest{Repo: s("shop")}, "repo:"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := api.UpdateAppSettings(ctx, "shop", tt.req)
			var apiErr *apiv1.APIError
			if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnprocessableEntity || !strings.Contains(apiErr.Error(), tt.want) {
				t.Fatalf("got %v, want a 422 about %s", err, tt.want)
			}
		})
	}
	if _, err := api.AppSettings(ctx, "nope"); err == nil {
		t.Fatal("settings of an unknown app: no error")
	}
}
