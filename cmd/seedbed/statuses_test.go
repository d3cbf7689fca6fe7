package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web/apiv1"
)

// statusCall is one request the fake forge received.
type statusCall struct {
	Method, Path, Auth string
	Body               struct {
		State       string `json:"state"`
		TargetURL   string `json:"target_url"`
		Description string `json:"description"`
		Context     string `json:"context"`
	}
}

// fakeForge is a GitHub statuses API that records what it is sent and
// answers with status.
type fakeForge struct {
	*httptest.Server
	mu    sync.Mutex
	calls []statusCall
}

func newFakeForge(t *testing.T, status int) *fakeForge {
	f := &fakeForge{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var c statusCall
		c.Method, c.Path, c.Auth = r.Method, r.URL.Path, r.Header.Get("Authorization")
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &c.Body)
		f.mu.Lock()
		f.calls = append(f.calls, c)
		f.mu.Unlock()
		w.WriteHeader(status)
		fmt.Fprint(w, `{"message":"recorded"}`)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeForge) recorded() []statusCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]statusCall(nil), f.calls...)
}

// A build and its deploy report pending, then success, to the forge, with
// links to the console; a forge that refuses every status fails nothing.
func TestCommitStatusesAroundABuild(t *testing.T) {
	t.Parallel()
	// The fake forge listens on 127.0.0.1.
	a := startAppWith(t, embedded, func(c *Config) { c.AllowPrivateRepos = true })
	ctx := context.Background()
	tests := []struct {
		name   string
		status int // what the forge answers
	}{
		{"forge accepts", http.StatusCreated},
		{"forge fails", http.StatusInternalServerError},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forge := newFakeForge(t, tt.status)
			name := fmt.Sprintf("statuses-%d", i)
			repo := a.newAppRepo(name)
			sha := repo.Git("rev-parse", "HEAD")
			s := func(v string) *string { return &v }
			got, err := a.api.UpdateAppSettings(ctx, name, apiv1.AppSettingsRequest{Forge: s("github"), APIURL: s(forge.URL), Repo: s("acme/shop"), Token: s("ghp_test_token")})
			if err != nil {
				t.Fatal(err)
			}
			if got.Token != "set" {
				t.Fatalf("settings: %+v", got)
			}
			d := a.mustDeploy(name, "dev", "")
			if d.Status != store.DeploySucceeded {
				t.Fatalf("deploy %s with a forge that answers %d: %s", d.Status, tt.status, d.Error)
			}
			b, err := a.api.Build(ctx, d.BuildID)
			if err != nil || b.Status != store.BuildSucceeded {
				t.Fatalf("build: %+v %v", b, err)
			}
			// The deploy's final status is sent after the deploy is
			// recorded as finished: give it a moment.
			deadline := time.Now().Add(5 * time.Second)
			for len(forge.recorded()) < 4 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			var seq []string
			for _, c := range forge.recorded() {
				if c.Method != http.MethodPost || c.Path != "/repos/acme/shop/statuses/"+sha || c.Auth != "Bearer ghp_test_token" {
					t.Errorf("request %s %s with auth %q", c.Method, c.Path, c.Auth)
				}
				seq = append(seq, c.Body.Context+":"+c.Body.State)
				want := fmt.Sprintf("%s/builds/%d", a.ConsoleURL(), b.ID)
				if strings.HasPrefix(c.Body.Context, "seedbed/deploy-") {
					want = fmt.Sprintf("%s/deploys/%d", a.ConsoleURL(), d.ID)
				}
				if c.Body.TargetURL != want {
					t.Errorf("%s links to %q, want %q", c.Body.Context, c.Body.TargetURL, want)
				}
			}
			want := "seedbed/build:pending seedbed/build:success seedbed/deploy-dev:pending seedbed/deploy-dev:success"
			if strings.Join(seq, " ") != want {
				t.Fatalf("statuses sent:\n %s\nwant\n %s", strings.Join(seq, " "), want)
			}
		})
	}
}
