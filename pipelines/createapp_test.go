package pipelines_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/testutil"
)

// Creating an app reads its repository first, so a repository Seedbed
// cannot read is refused then, saying what failed, not at the first
// deploy. An empty repository, an app with no repository (code by push)
// and an app created with NoCheck are taken.
func TestCreateAppChecksTheRepository(t *testing.T) {
	ctx := context.Background()
	repo := testutil.NewRepo(t)
	repo.Commit("first", map[string]string{"README": "hi\n"})
	empty := filepath.Join(t.TempDir(), "empty.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", empty).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)

	tests := []struct {
		name    string
		in      pipelines.NewApp
		wantErr []string // all in the error; none means created
	}{
		{name: "readable local repository", in: pipelines.NewApp{RepoURL: repo.Dir}},
		{name: "empty repository", in: pipelines.NewApp{RepoURL: empty}},
		{name: "no repository: code by push", in: pipelines.NewApp{}},
		{name: "missing path", in: pipelines.NewApp{RepoURL: "/does/not/exist"},
			wantErr: []string{"repo_url: cannot read repository /does/not/exist: repository not found", "--no-check"}},
		{name: "missing path, not checked", in: pipelines.NewApp{RepoURL: "/does/not/exist", NoCheck: true}},
		{name: "a folder that is no repository", in: pipelines.NewApp{RepoURL: t.TempDir()},
			wantErr: []string{"cannot read repository"}},
		{name: "ssh without a deploy key", in: pipelines.NewApp{RepoURL: "git@example.com:acme/shop.git"},
			wantErr: []string{"cannot read repository git@example.com:acme/shop.git: an ssh URL needs a deploy key"}},
		{name: "address the network policy refuses", in: pipelines.NewApp{RepoURL: srv.URL + "/shop.git"},
			wantErr: []string{"cannot read repository", "loopback"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := store.Open(ctx, filepath.Join(t.TempDir(), "seedbed.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			svc := pipelines.New(pipelines.Config{Store: st, Queue: &recordingQueue{}, Sealer: newSealer(t)})
			tt.in.Name = "app-" + string(rune('a'+i))
			app, err := svc.CreateApp(ctx, tt.in)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("CreateApp: %v", err)
				}
				if _, err := st.AppByName(ctx, app.Name); err != nil {
					t.Fatalf("the app was not stored: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("CreateApp took a repository it cannot read")
			}
			if pipelines.ErrorCode(err) != pipelines.EInvalid {
				t.Errorf("error code %q, want %q", pipelines.ErrorCode(err), pipelines.EInvalid)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if _, err := st.AppByName(ctx, tt.in.Name); err == nil {
				t.Error("the app was stored")
			}
		})
	}
}
