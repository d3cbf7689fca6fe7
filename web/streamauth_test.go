package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web"
)

// openStream starts reading a server-sent event stream and returns a
// channel closed when the server ends it.
func openStream(t *testing.T, c *http.Client, u string, header http.Header) <-chan struct{} {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		resp.Body.Close()
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
	}()
	return ended
}

// Open live streams end once their reader may no longer read them: a
// revoked session, a revoked API token, a member removed from the app
// (issue 10: such streams kept streaming).
func TestStreamsEndWhenAccessEnds(t *testing.T) {
	f := setupWith(t, func(c *web.Config) { c.StreamRecheck = 100 * time.Millisecond })
	ctx := context.Background()
	app, err := f.store.AppByName(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	b := store.Build{AppID: app.ID, Ref: "main", Status: store.BuildQueued, TriggerKind: "api"}
	if err := f.store.CreateBuild(ctx, &b); err != nil {
		t.Fatal(err)
	}
	buildEvents := fmt.Sprintf("%s/builds/%d/events", f.srv.URL, b.ID)
	ada, err := f.store.UserByEmail(ctx, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		open func(t *testing.T) <-chan struct{}
		end  func(t *testing.T)
	}{
		{"revoked session", func(t *testing.T) <-chan struct{} {
			c, _ := f.signIn(t)
			return openStream(t, c, buildEvents, nil)
		}, func(t *testing.T) {
			sessions, err := f.store.UserSessions(ctx, ada.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range sessions {
				if err := f.store.DeleteUserSession(ctx, ada.ID, s.ID); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"revoked token", func(t *testing.T) <-chan struct{} {
			return openStream(t, http.DefaultClient, fmt.Sprintf("%s/api/v1/builds/%d/events", f.srv.URL, b.ID),
				http.Header{"Authorization": {"Bearer " + f.token}})
		}, func(t *testing.T) {
			toks, err := f.store.APITokens(ctx, ada.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, tok := range toks {
				if err := f.store.RevokeAPIToken(ctx, ada.ID, tok.ID); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"removed member", func(t *testing.T) <-chan struct{} {
			u, err := f.accounts.CreateUser(ctx, "vic@example.com", "correct-horse", false, false)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.store.SetMember(ctx, app.ID, u.ID, store.RoleViewer); err != nil {
				t.Fatal(err)
			}
			c, _ := f.signInAs(t, "vic@example.com", "correct-horse")
			return openStream(t, c, f.srv.URL+"/apps/shop/events", nil)
		}, func(t *testing.T) {
			u, err := f.store.UserByEmail(ctx, "vic@example.com")
			if err != nil {
				t.Fatal(err)
			}
			if err := f.store.RemoveMember(ctx, app.ID, u.ID); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ended := tt.open(t)
			select {
			case <-ended:
				t.Fatal("the stream ended before access did")
			case <-time.After(time.Second): // ten rechecks that found all well
			}
			tt.end(t)
			select {
			case <-ended:
			case <-time.After(3 * time.Second):
				t.Fatal("the stream still runs 3s after access ended")
			}
		})
	}
}
