package forge

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

const (
	testToken = "glpat-Sup3rS3cr3tT0ken"
	testSHA   = "9c2e4a7b1d3f5e8a0c6b2d4f7e9a1c3b5d8f0e2a"
)

// seen is one request as a forge received it.
type seen struct {
	method, path string
	header       http.Header
	body         map[string]any
}

// fakeForge starts a server that records requests and answers with status
// and body. It returns the base URL and a function returning what it saw.
func fakeForge(t *testing.T, status int, answer string) (string, func() []seen) {
	t.Helper()
	var (
		mu   sync.Mutex
		reqs []seen
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		data, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(data, &body); err != nil {
			t.Errorf("request body %q is not JSON: %v", data, err)
		}
		mu.Lock()
		reqs = append(reqs, seen{r.Method, r.URL.EscapedPath(), r.Header.Clone(), body})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []seen {
		mu.Lock()
		defer mu.Unlock()
		return append([]seen(nil), reqs...)
	}
}

func TestStatusReporters(t *testing.T) {
	st := Status{State: Failure, TargetURL: "https://seedbed.example.com/apps/shop/builds/12",
		Description: "build failed: go test ./...", Context: "seedbed/dev"}
	for _, tc := range []struct {
		name     string
		new      func(base string) StatusReporter
		basePath string // appended to the server URL as the configured base
		repo     string
		path     string
		header   map[string]string
		body     map[string]any
	}{
		{
			name: "GitHub",
			new:  func(base string) StatusReporter { return NewGitHubStatuses(base, testToken, nil) },
			repo: "Codertocat/Hello-World",
			path: "/repos/Codertocat/Hello-World/statuses/" + testSHA,
			header: map[string]string{"Authorization": "Bearer " + testToken,
				"Accept": "application/vnd.github+json", "Content-Type": "application/json"},
			body: map[string]any{"state": "failure", "target_url": st.TargetURL,
				"description": st.Description, "context": "seedbed/dev"},
		},
		{
			name:     "GitHub Enterprise",
			new:      func(base string) StatusReporter { return NewGitHubStatuses(base, testToken, nil) },
			basePath: "/api/v3/",
			repo:     "platform/shop",
			path:     "/api/v3/repos/platform/shop/statuses/" + testSHA,
			header:   map[string]string{"Authorization": "Bearer " + testToken},
			body: map[string]any{"state": "failure", "target_url": st.TargetURL,
				"description": st.Description, "context": "seedbed/dev"},
		},
		{
			name:   "GitLab",
			new:    func(base string) StatusReporter { return NewGitLabStatuses(base, testToken, nil) },
			repo:   "acme/web-shop",
			path:   "/api/v4/projects/acme%2Fweb-shop/statuses/" + testSHA,
			header: map[string]string{"PRIVATE-TOKEN": testToken, "Content-Type": "application/json"},
			body: map[string]any{"state": "failed", "target_url": st.TargetURL,
				"description": st.Description, "name": "seedbed/dev"},
		},
		{
			name:     "GitLab base URL given with /api/v4",
			new:      func(base string) StatusReporter { return NewGitLabStatuses(base, testToken, nil) },
			basePath: "/api/v4/",
			repo:     "acme/web-shop",
			path:     "/api/v4/projects/acme%2Fweb-shop/statuses/" + testSHA,
			header:   map[string]string{"PRIVATE-TOKEN": testToken},
			body: map[string]any{"state": "failed", "target_url": st.TargetURL,
				"description": st.Description, "name": "seedbed/dev"},
		},
		{
			name:   "GitLab subgroup",
			new:    func(base string) StatusReporter { return NewGitLabStatuses(base, testToken, nil) },
			repo:   "acme/shops/web-shop",
			path:   "/api/v4/projects/acme%2Fshops%2Fweb-shop/statuses/" + testSHA,
			header: map[string]string{"PRIVATE-TOKEN": testToken},
			body: map[string]any{"state": "failed", "target_url": st.TargetURL,
				"description": st.Description, "name": "seedbed/dev"},
		},
		{
			name:     "Forgejo under a path, base URL given with /api/v1",
			new:      func(base string) StatusReporter { return NewGiteaStatuses(base, testToken, nil) },
			basePath: "/forge/api/v1",
			repo:     "kitchen/recipes",
			path:     "/forge/api/v1/repos/kitchen/recipes/statuses/" + testSHA,
			header:   map[string]string{"Authorization": "token " + testToken},
			body: map[string]any{"state": "failure", "target_url": st.TargetURL,
				"description": st.Description, "context": "seedbed/dev"},
		},
		{
			name:   "Gitea",
			new:    func(base string) StatusReporter { return NewGiteaStatuses(base, testToken, nil) },
			repo:   "kitchen/recipes",
			path:   "/api/v1/repos/kitchen/recipes/statuses/" + testSHA,
			header: map[string]string{"Authorization": "token " + testToken, "Content-Type": "application/json"},
			body: map[string]any{"state": "failure", "target_url": st.TargetURL,
				"description": st.Description, "context": "seedbed/dev"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, requests := fakeForge(t, http.StatusCreated, `{"id":1}`)
			r := tc.new(base + tc.basePath)
			if err := r.Report(context.Background(), RepoRef{FullName: tc.repo}, testSHA, st); err != nil {
				t.Fatalf("Report: %v", err)
			}
			reqs := requests()
			if len(reqs) != 1 {
				t.Fatalf("forge saw %d requests, want 1", len(reqs))
			}
			got := reqs[0]
			if got.method != http.MethodPost || got.path != tc.path {
				t.Errorf("request = %s %s, want POST %s", got.method, got.path, tc.path)
			}
			for k, v := range tc.header {
				if got.header.Get(k) != v {
					t.Errorf("header %s = %q, want %q", k, got.header.Get(k), v)
				}
			}
			if !reflect.DeepEqual(got.body, tc.body) {
				t.Errorf("body = %v, want %v", got.body, tc.body)
			}
		})
	}
}

func TestStatusStates(t *testing.T) {
	type reporter func(base string) StatusReporter
	gh := func(base string) StatusReporter { return NewGitHubStatuses(base, testToken, nil) }
	gl := func(base string) StatusReporter { return NewGitLabStatuses(base, testToken, nil) }
	gt := func(base string) StatusReporter { return NewGiteaStatuses(base, testToken, nil) }
	for _, tc := range []struct {
		name  string
		new   reporter
		state StatusState
		want  string
	}{
		{"GitHub pending", gh, Pending, "pending"},
		{"GitHub success", gh, Success, "success"},
		{"GitHub failure", gh, Failure, "failure"},
		{"GitHub error", gh, Error, "error"},
		{"GitLab pending", gl, Pending, "pending"},
		{"GitLab success", gl, Success, "success"},
		{"GitLab failure", gl, Failure, "failed"},
		{"GitLab error", gl, Error, "failed"},
		{"Gitea pending", gt, Pending, "pending"},
		{"Gitea success", gt, Success, "success"},
		{"Gitea failure", gt, Failure, "failure"},
		{"Gitea error", gt, Error, "error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, requests := fakeForge(t, http.StatusCreated, `{}`)
			err := tc.new(base).Report(context.Background(), RepoRef{FullName: "o/r"}, testSHA, Status{State: tc.state})
			if err != nil {
				t.Fatal(err)
			}
			body := requests()[0].body
			if body["state"] != tc.want {
				t.Errorf("state = %v, want %q", body["state"], tc.want)
			}
			// Empty context means Seedbed's; empty URL and description are left out.
			ctxKey := "context"
			if strings.HasPrefix(tc.name, "GitLab") {
				ctxKey = "name"
			}
			if body[ctxKey] != DefaultContext {
				t.Errorf("%s = %v, want %q", ctxKey, body[ctxKey], DefaultContext)
			}
			if _, ok := body["target_url"]; ok {
				t.Errorf("empty target_url sent: %v", body)
			}
		})
	}
}

func TestStatusDescriptionIsCut(t *testing.T) {
	base, requests := fakeForge(t, http.StatusCreated, `{}`)
	long := strings.Repeat("ü", 200) + "\nsecond line"
	err := NewGitHubStatuses(base, testToken, nil).Report(context.Background(),
		RepoRef{FullName: "o/r"}, testSHA, Status{State: Pending, Description: long})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := requests()[0].body["description"].(string)
	if n := utf8.RuneCountInString(d); n != MaxDescription || !strings.HasSuffix(d, "…") || strings.Contains(d, "second") {
		t.Errorf("description has %d characters: %q; want %d, cut with …", n, d, MaxDescription)
	}
}

func TestStatusErrors(t *testing.T) {
	gh := func(base string) StatusReporter { return NewGitHubStatuses(base, testToken, nil) }
	gl := func(base string) StatusReporter { return NewGitLabStatuses(base, testToken, nil) }
	gt := func(base string) StatusReporter { return NewGiteaStatuses(base, testToken, nil) }
	for _, tc := range []struct {
		name     string
		new      func(base string) StatusReporter
		status   int
		answer   string
		repo     string
		sha      string
		noBase   bool
		wantErr  bool
		msg      string // substring of the error
		requests int
	}{
		{name: "GitHub bad credentials", new: gh, status: 401,
			answer:  `{"message":"Bad credentials: ` + testToken + `","documentation_url":"https://docs.github.com/rest"}`,
			wantErr: true, msg: "401", requests: 1},
		{name: "token echoed where the excerpt is cut", new: gh, status: 401,
			answer:  `{"message":"` + strings.Repeat("x", 175) + testToken + `"}`,
			wantErr: true, msg: "401", requests: 1},
		{name: "GitHub unknown commit", new: gh, status: 422,
			answer:  `{"message":"No commit found for SHA: ` + testSHA + `"}`,
			wantErr: true, msg: "No commit found", requests: 1},
		{name: "GitLab server error", new: gl, status: 500, answer: `<html>` + strings.Repeat("oops ", 500) + `</html>`,
			wantErr: true, msg: "500", requests: 1},
		{name: "GitLab status already set", new: gl, status: 400,
			answer:   `{"message":"Cannot transition status via :enqueue from :pending (Reason(s): Status cannot transition via \"enqueue\")"}`,
			requests: 1},
		{name: "GitLab other bad request", new: gl, status: 400, answer: `{"message":"400 Bad request - state is missing"}`,
			wantErr: true, msg: "state is missing", requests: 1},
		{name: "Gitea forbidden", new: gt, status: 403, answer: `{"message":"token does not have required scope: ` + testToken + `"}`,
			wantErr: true, msg: "403", requests: 1},
		{name: "Gitea without a base URL", new: gt, noBase: true, wantErr: true, msg: "API URL"},
		{name: "GitHub repository without owner", new: gh, repo: "hello", wantErr: true, msg: "owner/name"},
		{name: "Gitea repository with a subgroup", new: gt, repo: "a/b/c", wantErr: true, msg: "owner/name"},
		{name: "GitLab project without namespace", new: gl, repo: "shop", wantErr: true, msg: "full path"},
		{name: "not a SHA", new: gh, sha: "../../admin", wantErr: true, msg: "not a commit SHA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, requests := fakeForge(t, tc.status, tc.answer)
			if tc.noBase {
				base = ""
			}
			repo, sha := orElse(tc.repo, "o/r"), orElse(tc.sha, testSHA)
			err := tc.new(base).Report(context.Background(), RepoRef{FullName: repo}, sha, Status{State: Pending})
			if (err != nil) != tc.wantErr {
				t.Fatalf("Report error = %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				for i := 0; i+8 <= len(testToken); i++ {
					if strings.Contains(err.Error(), testToken[i:i+8]) {
						t.Fatalf("error contains part of the token: %v", err)
					}
				}
				if !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("error = %v, want it to mention %q", err, tc.msg)
				}
				if len(err.Error()) > 600 {
					t.Errorf("error is %d bytes long; want a short excerpt", len(err.Error()))
				}
				var se *StatusError
				if tc.status >= 400 && (!errors.As(err, &se) || se.StatusCode != tc.status) {
					t.Errorf("error %v is not a *StatusError with code %d", err, tc.status)
				}
			}
			if n := len(requests()); n != tc.requests {
				t.Errorf("forge saw %d requests, want %d", n, tc.requests)
			}
		})
	}
}

func TestStatusUnreachableForge(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	err := NewGitHubStatuses(base, testToken, nil).Report(context.Background(),
		RepoRef{FullName: "o/r"}, testSHA, Status{State: Success})
	if err == nil || strings.Contains(err.Error(), testToken) {
		t.Fatalf("Report to a closed server: %v; want an error without the token", err)
	}
}

func TestStatusContextCanceled(t *testing.T) {
	base, _ := fakeForge(t, http.StatusCreated, `{}`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := NewGiteaStatuses(base, testToken, nil).Report(ctx, RepoRef{FullName: "o/r"}, testSHA, Status{State: Success})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Report with a canceled context: %v", err)
	}
}

func TestNewStatusReporter(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind Kind
		want any
		err  error
	}{
		{"github", GitHub, &GitHubStatuses{}, nil},
		{"gitlab", GitLab, &GitLabStatuses{}, nil},
		{"gitea", Gitea, &GiteaStatuses{}, nil},
		{"bitbucket", Bitbucket, nil, ErrUnsupported},
		{"unknown", "svn", nil, ErrUnknownKind},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewStatusReporter(tc.kind, "", testToken, nil)
			checkErr(t, err, tc.err, "")
			if tc.want != nil && reflect.TypeOf(r) != reflect.TypeOf(tc.want) {
				t.Errorf("NewStatusReporter(%s) = %T, want %T", tc.kind, r, tc.want)
			}
		})
	}
}
