package gitremote

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRouting sends requests a git client would not, and checks that each
// gets the right status without touching anything outside ReposDir.
func TestRouting(t *testing.T) {
	f := setup(t)
	outside := filepath.Join(filepath.Dir(f.reposDir), "outside.git")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		method      string
		path        string // sent as is
		token       string
		contentType string
		wantStatus  int
		wantBody    string
		wantHeader  [2]string
	}{
		{name: "no credentials", method: "GET", path: "/git/app.git/info/refs?service=git-upload-pack",
			wantStatus: 401, wantHeader: [2]string{"WWW-Authenticate", `Basic realm="Seedbed", charset="UTF-8"`}},
		{name: "wrong token", method: "GET", path: "/git/app.git/info/refs?service=git-receive-pack", token: "sbt_wrong",
			wantStatus: 401, wantHeader: [2]string{"WWW-Authenticate", `Basic realm="Seedbed", charset="UTF-8"`}},
		{name: "unknown app without credentials", method: "GET", path: "/git/nope.git/info/refs?service=git-upload-pack",
			wantStatus: 401},
		{name: "unknown app", method: "GET", path: "/git/nope.git/info/refs?service=git-upload-pack", token: testToken,
			wantStatus: 404, wantBody: `Seedbed has no app "nope"`},
		{name: "no role: same answer as no app", method: "GET", path: "/git/app.git/info/refs?service=git-upload-pack", token: strangerToken,
			wantStatus: 404, wantBody: `Seedbed has no app "app"`},
		{name: "no role, push", method: "GET", path: "/git/app.git/info/refs?service=git-receive-pack", token: strangerToken,
			wantStatus: 404, wantBody: `Seedbed has no app "app"`},
		{name: "no role, upload-pack", method: "POST", path: "/git/app.git/git-upload-pack", token: strangerToken,
			contentType: "application/x-git-upload-pack-request", wantStatus: 404},
		{name: "viewer fetches", method: "GET", path: "/git/app.git/info/refs?service=git-upload-pack", token: viewerToken,
			wantStatus: 200, wantBody: "# service=git-upload-pack"},
		{name: "viewer push advertisement", method: "GET", path: "/git/app.git/info/refs?service=git-receive-pack", token: viewerToken,
			wantStatus: 403, wantBody: "needs the deployer role"},
		{name: "viewer receive-pack", method: "POST", path: "/git/app.git/git-receive-pack", token: viewerToken,
			contentType: "application/x-git-receive-pack-request", wantStatus: 403},
		{name: "viewer of another app", method: "GET", path: "/git/other.git/info/refs?service=git-upload-pack", token: viewerToken,
			wantStatus: 404, wantBody: `Seedbed has no app "other"`},
		{name: "advertisement", method: "GET", path: "/git/app.git/info/refs?service=git-receive-pack", token: testToken,
			wantStatus: 200, wantBody: "# service=git-receive-pack", wantHeader: [2]string{"Content-Type", "application/x-git-receive-pack-advertisement"}},
		{name: "without .git", method: "GET", path: "/git/app/info/refs?service=git-upload-pack", token: testToken,
			wantStatus: 200, wantHeader: [2]string{"Content-Type", "application/x-git-upload-pack-advertisement"}},
		{name: "dumb protocol", method: "GET", path: "/git/app.git/info/refs", token: testToken, wantStatus: 403, wantBody: "smart HTTP"},
		{name: "unknown service", method: "GET", path: "/git/app.git/info/refs?service=git-upload-archive", token: testToken, wantStatus: 403},
		{name: "dumb object path", method: "GET", path: "/git/app.git/objects/info/packs", token: testToken, wantStatus: 404},
		{name: "HEAD file", method: "GET", path: "/git/app.git/HEAD", token: testToken, wantStatus: 404},
		{name: "dot dot", method: "GET", path: "/git/../outside.git/info/refs?service=git-upload-pack", token: testToken, wantStatus: 404},
		{name: "escaped dot dot", method: "GET", path: "/git/%2e%2e%2foutside.git/info/refs?service=git-upload-pack", token: testToken, wantStatus: 404},
		{name: "dot dot after app", method: "GET", path: "/git/app.git/../../outside.git/info/refs?service=git-upload-pack", token: testToken, wantStatus: 404},
		{name: "absolute", method: "GET", path: "/git//tmp/x.git/info/refs?service=git-upload-pack", token: testToken, wantStatus: 404},
		{name: "upper case", method: "GET", path: "/git/App.git/info/refs?service=git-upload-pack", token: testToken, wantStatus: 404},
		{name: "leading dash", method: "GET", path: "/git/-app.git/info/refs?service=git-upload-pack", token: testToken, wantStatus: 404},
		{name: "dot name", method: "GET", path: "/git/..git/info/refs?service=git-upload-pack", token: testToken, wantStatus: 404},
		{name: "underscore", method: "GET", path: "/git/my_app.git/info/refs?service=git-upload-pack", token: testToken, wantStatus: 404},
		{name: "too long", method: "GET", path: "/git/" + strings.Repeat("a", 64) + ".git/info/refs?service=git-upload-pack", token: testToken, wantStatus: 404},
		{name: "not under /git/", method: "GET", path: "/app.git/info/refs?service=git-upload-pack", token: testToken, wantStatus: 404},
		{name: "POST info/refs", method: "POST", path: "/git/app.git/info/refs", token: testToken, wantStatus: 405, wantHeader: [2]string{"Allow", "GET"}},
		{name: "GET receive-pack", method: "GET", path: "/git/app.git/git-receive-pack", token: testToken, wantStatus: 405},
		{name: "wrong content type", method: "POST", path: "/git/app.git/git-receive-pack", token: testToken, contentType: "text/plain", wantStatus: 415},
		{name: "probe", method: "POST", path: "/git/app.git/git-receive-pack", token: testToken,
			contentType: "application/x-git-receive-pack-request", wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, f.base+"/", strings.NewReader("0000"))
			if err != nil {
				t.Fatal(err)
			}
			req.URL.Opaque = "//" + req.URL.Host + strings.SplitN(tt.path, "?", 2)[0]
			if _, q, ok := strings.Cut(tt.path, "?"); ok {
				req.URL.RawQuery = q
			}
			if tt.token != "" {
				req.SetBasicAuth("ann", tt.token)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d; body %q", resp.StatusCode, tt.wantStatus, body)
			}
			if !bytes.Contains(body, []byte(tt.wantBody)) {
				t.Errorf("body %q does not contain %q", body, tt.wantBody)
			}
			if h := tt.wantHeader; h[0] != "" && resp.Header.Get(h[0]) != h[1] {
				t.Errorf("%s = %q, want %q", h[0], resp.Header.Get(h[0]), h[1])
			}
		})
	}
	entries, err := os.ReadDir(f.reposDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "app.git" {
			t.Errorf("unexpected %s in ReposDir", e.Name())
		}
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("something was written outside ReposDir: %v", entries)
	}
}

func TestParsePath(t *testing.T) {
	tests := []struct {
		path, app, action string
		ok                bool
	}{
		{path: "/git/app.git/info/refs", app: "app", action: "info/refs", ok: true},
		{path: "/git/my-app-2/git-upload-pack", app: "my-app-2", action: "git-upload-pack", ok: true},
		{path: "/git/0.git/git-receive-pack", app: "0", action: "git-receive-pack", ok: true},
		{path: "/git/.git/info/refs"},
		{path: "/git/app.git.git/info/refs"},
		{path: "/git/app.git/info/refs/"},
		{path: "/git/app.git"},
		{path: "/git/a%2fb.git/info/refs"},
		{path: "/git/app.git/git-upload-pack/../git-receive-pack"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			app, action, ok := parsePath(tt.path)
			if app != tt.app || action != tt.action || ok != tt.ok {
				t.Errorf("parsePath = %q, %q, %v; want %q, %q, %v", app, action, ok, tt.app, tt.action, tt.ok)
			}
		})
	}
}
