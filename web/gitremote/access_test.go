package gitremote

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAccessByRole drives the real git client with the token of a user of
// each kind: a stranger (no role) is told the app does not exist, for clone,
// fetch and push alike; a viewer clones and fetches but cannot push; a
// deployer pushes. Refused requests change nothing in the repository.
func TestAccessByRole(t *testing.T) {
	f := setup(t)
	work := f.workRepo(t)
	head := f.mustGit(t, work, "rev-parse", "HEAD")
	f.mustGit(t, work, "push", "--quiet", f.url("app", testToken), "main")
	f.takePushes()

	tests := []struct {
		name      string
		token     string
		args      func(dir string) []string // the git command; dir is a fresh path
		wantOK    bool
		wantInErr string
	}{
		{name: "stranger clones", token: strangerToken,
			args:   func(dir string) []string { return []string{"clone", f.url("app", strangerToken), dir} },
			wantOK: false, wantInErr: `Seedbed has no app "app"`},
		{name: "stranger lists refs", token: strangerToken,
			args:   func(string) []string { return []string{"ls-remote", f.url("app", strangerToken)} },
			wantOK: false, wantInErr: "not found"},
		{name: "stranger pushes", token: strangerToken,
			args: func(string) []string {
				return []string{"-C", work, "push", f.url("app", strangerToken), "main:refs/heads/stranger"}
			},
			wantOK: false, wantInErr: `Seedbed has no app "app"`},
		{name: "viewer of another app clones", token: viewerToken,
			args:   func(dir string) []string { return []string{"clone", f.url("other", viewerToken), dir} },
			wantOK: false, wantInErr: `Seedbed has no app "other"`},
		{name: "viewer clones", token: viewerToken,
			args:   func(dir string) []string { return []string{"clone", f.url("app", viewerToken), dir} },
			wantOK: true},
		{name: "viewer pushes", token: viewerToken,
			args: func(string) []string {
				return []string{"-C", work, "push", f.url("app", viewerToken), "main:refs/heads/viewer"}
			},
			wantOK: false, wantInErr: "needs the deployer role"},
		{name: "deployer pushes", token: testToken,
			args: func(string) []string {
				return []string{"-C", work, "push", f.url("app", testToken), "main:refs/heads/deployer"}
			},
			wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "clone")
			_, stderr, err := f.run(t, "", tt.args(dir)...)
			if (err == nil) != tt.wantOK {
				t.Fatalf("git %s: err %v, want success %v\n%s", strings.Join(tt.args(dir), " "), err, tt.wantOK, stderr)
			}
			if !strings.Contains(stderr, tt.wantInErr) {
				t.Errorf("git said %q; want it to contain %q", stderr, tt.wantInErr)
			}
			if !tt.wantOK {
				if _, err := os.Stat(filepath.Join(dir, "README.md")); err == nil {
					t.Errorf("a refused clone got the files")
				}
			}
		})
	}
	if got := f.bareRef(t, "app", "refs/heads/deployer"); got != head {
		t.Errorf("the deployer's push: refs/heads/deployer = %q, want %s", got, head)
	}
	for _, ref := range []string{"refs/heads/stranger", "refs/heads/viewer"} {
		if got := f.bareRef(t, "app", ref); got != "" {
			t.Errorf("a refused push created %s = %s", ref, got)
		}
	}
	pushes := f.takePushes()
	if len(pushes) != 1 || pushes[0].User != testUser {
		t.Errorf("OnPush saw %d pushes (%+v); want only the deployer's", len(pushes), pushes)
	}
	if _, err := os.Stat(f.repoDir("other")); err == nil {
		t.Errorf("a refused request created the repository of app other")
	}
}
