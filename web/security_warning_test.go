package web_test

import (
	"context"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web"
	"github.com/seedbed/seedbed/web/auth"
)

// TestSecurityWarningBanner checks that admins, and only they, see on
// every console page what of the server is not confined.
func TestSecurityWarningBanner(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "seedbed.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	accounts := auth.New(st, 4)
	for _, u := range []struct {
		email string
		admin bool
	}{{"ada@example.com", true}, {"bob@example.com", false}} {
		if _, err := accounts.CreateUser(ctx, u.email, "correct-horse", u.admin, false); err != nil {
			t.Fatal(err)
		}
	}
	const warning = "functions are NOT confined: bwrap is not installed"
	fake := &fakePipelines{Service: pipelines.New(pipelines.Config{Store: st}), store: st}
	handler, err := web.New(web.Config{Store: st, Pipelines: fake, Accounts: accounts,
		Assets: fstest.MapFS{"app.css": {Data: []byte("body{}")}}, GatewayURL: "http://gw.example", SecurityWarning: warning})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	f := &fixture{srv: srv, store: st, accounts: accounts, fake: fake}

	tests := []struct {
		name  string
		email string
		want  bool
	}{
		{name: "admin sees it", email: "ada@example.com", want: true},
		{name: "other users do not", email: "bob@example.com", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := f.signInAs(t, tt.email, "correct-horse")
			for _, page := range []string{"/apps", "/account"} {
				resp, err := c.Get(srv.URL + page)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				got := strings.Contains(string(b), `data-testid="security-warning"`) && strings.Contains(string(b), warning)
				if got != tt.want {
					t.Errorf("%s: banner shown %v, want %v", page, got, tt.want)
				}
			}
		})
	}
}
