package builders

import (
	"context"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// history is a repository with two branches and two tags:
//
//	main: first (tags v1.0, annotated, and light) ← second
//	dev:  first ← dev work
type history struct {
	repo                 string
	first, second, devSH string
	tagObject            string // the annotated tag v1.0's own object
}

func setupHistory(t *testing.T) history {
	t.Helper()
	files := map[string]string{"VERSION": "one\n"}
	for k, v := range helloApp {
		files[k] = v
	}
	h := history{repo: newRepo(t, files)}
	h.first = runGit(t, h.repo, "rev-parse", "HEAD")
	runGit(t, h.repo, "tag", "-a", "v1.0", "-m", "Release 1.0")
	h.tagObject = runGit(t, h.repo, "rev-parse", "v1.0")
	runGit(t, h.repo, "tag", "light")
	writeFiles(t, h.repo, map[string]string{"VERSION": "two\n"})
	h.second = commitAll(t, h.repo, "Second commit")
	runGit(t, h.repo, "checkout", "-q", "-b", "dev", h.first)
	writeFiles(t, h.repo, map[string]string{"VERSION": "dev\n"})
	h.devSH = commitAll(t, h.repo, "Dev work")
	runGit(t, h.repo, "checkout", "-q", "main")
	return h
}

func TestFetchRefs(t *testing.T) {
	h := setupHistory(t)
	tests := []struct {
		name        string
		ref         string
		wantSHA     string
		wantVersion string
		wantMessage string
	}{
		{"default branch", "", h.second, "two", "Second commit"},
		{"branch main", "main", h.second, "two", "Second commit"},
		{"branch dev", "dev", h.devSH, "dev", "Dev work"},
		{"full branch ref", "refs/heads/dev", h.devSH, "dev", "Dev work"},
		{"annotated tag", "v1.0", h.first, "one", "First commit"},
		{"full tag ref", "refs/tags/v1.0", h.first, "one", "First commit"},
		{"lightweight tag", "light", h.first, "one", "First commit"},
		{"full SHA", h.first, h.first, "one", "First commit"},
		{"short SHA", h.first[:7], h.first, "one", "First commit"},
		{"short SHA not on a branch tip", h.devSH[:9], h.devSH, "dev", "Dev work"},
		// What a webhook for an annotated tag may name: the tag object,
		// checked out as the commit it points to.
		{"annotated tag's object SHA", h.tagObject, h.first, "one", "First commit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &testLog{}
			dir := filepath.Join(t.TempDir(), "checkout")
			co, err := Fetch(context.Background(), FetchOptions{RepoURL: h.repo, Ref: tt.ref, Dir: dir}, log)
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if co.CommitSHA != tt.wantSHA || co.Message != tt.wantMessage || co.Author != "Ada Lovelace" || co.Dir != dir {
				t.Errorf("Fetch = %+v, want commit %s %q by Ada Lovelace in %s", co, tt.wantSHA, tt.wantMessage, dir)
			}
			got, err := os.ReadFile(filepath.Join(dir, "VERSION"))
			if err != nil || strings.TrimSpace(string(got)) != tt.wantVersion {
				t.Errorf("VERSION in checkout = %q (%v), want %q", got, err, tt.wantVersion)
			}
			if _, err := os.Stat(filepath.Join(dir, "services/api/main.go")); err != nil {
				t.Errorf("checkout misses services/api/main.go: %v", err)
			}
			mustLog(t, log, "seedbed", "Fetching "+h.repo+" at ")
			mustLog(t, log, "seedbed", "Checked out "+tt.wantSHA[:7]+" "+tt.wantMessage)
		})
	}
}

// startHTTPGitServer serves the repositories under root with the real
// git http-backend and returns the server's URL.
func startHTTPGitServer(t *testing.T, root string) string {
	t.Helper()
	backend := filepath.Join(runGit(t, root, "--exec-path"), "git-http-backend")
	srv := httptest.NewServer(&cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}})
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestFetchTransports(t *testing.T) {
	h := setupHistory(t)
	ssh := startSSHGitServer(t)
	httpURL := startHTTPGitServer(t, filepath.Dir(h.repo))
	noKnownHosts := func(t *testing.T) {
		t.Setenv("HOME", t.TempDir())
		t.Setenv("SSH_KNOWN_HOSTS", filepath.Join(t.TempDir(), "none"))
	}
	tests := []struct {
		name    string
		opts    FetchOptions
		setup   func(t *testing.T)
		wantLog string
	}{
		{name: "local path", opts: FetchOptions{RepoURL: h.repo}},
		{name: "file URL", opts: FetchOptions{RepoURL: "file://" + h.repo}},
		{name: "http with git http-backend", opts: FetchOptions{RepoURL: httpURL + "/repo"}},
		{
			name:    "http with a token in the URL, not logged",
			opts:    FetchOptions{RepoURL: strings.Replace(httpURL, "http://", "http://bot:s3cret@", 1) + "/repo"},
			wantLog: "Fetching http://bot:xxxxx@",
		},
		{
			name: "ssh with deploy key and known host",
			opts: FetchOptions{RepoURL: "ssh://git@" + ssh.Addr + h.repo, DeployKey: ssh.DeployKey, KnownHosts: ssh.KnownHosts},
		},
		{
			name:    "ssh with deploy key and no known_hosts anywhere",
			opts:    FetchOptions{RepoURL: "ssh://git@" + ssh.Addr + h.repo, DeployKey: ssh.DeployKey},
			setup:   noKnownHosts,
			wantLog: "Warning: no known_hosts on this machine, so the host key of 127.0.0.1 is not checked",
		},
		{
			name: "ssh with the machine's known_hosts",
			opts: FetchOptions{RepoURL: "ssh://git@" + ssh.Addr + h.repo, DeployKey: ssh.DeployKey},
			setup: func(t *testing.T) {
				f := filepath.Join(t.TempDir(), "known_hosts")
				writeFiles(t, filepath.Dir(f), map[string]string{"known_hosts": ssh.KnownHosts + "\n"})
				t.Setenv("SSH_KNOWN_HOSTS", f)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup(t)
			}
			log := &testLog{}
			tt.opts.Ref = "dev"
			tt.opts.Dir = filepath.Join(t.TempDir(), "checkout")
			tt.opts.Network = loopbackOK // the test servers listen on 127.0.0.1
			co, err := Fetch(context.Background(), tt.opts, log)
			if err != nil {
				t.Fatalf("Fetch: %v\nlog:\n%s", err, log)
			}
			if co.CommitSHA != h.devSH {
				t.Errorf("CommitSHA = %s, want %s", co.CommitSHA, h.devSH)
			}
			if got, _ := os.ReadFile(filepath.Join(co.Dir, "VERSION")); string(got) != "dev\n" {
				t.Errorf("VERSION = %q, want dev", got)
			}
			if tt.wantLog != "" {
				mustLog(t, log, "seedbed", tt.wantLog)
			}
			if strings.Contains(log.String(), "s3cret") {
				t.Errorf("log shows the password:\n%s", log)
			}
		})
	}
}

func TestFetchErrors(t *testing.T) {
	h := setupHistory(t)
	ssh := startSSHGitServer(t)
	other := startSSHGitServer(t) // another host key, another accepted key
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	runGit(t, empty, "init", "-q", "-b", "main")
	sshURL := "ssh://git@" + ssh.Addr + h.repo
	wrongHostKey := strings.Replace(other.KnownHosts, other.Addr[strings.LastIndex(other.Addr, ":")+1:], ssh.Addr[strings.LastIndex(ssh.Addr, ":")+1:], 1)

	tests := []struct {
		name    string
		opts    FetchOptions
		wantErr []string
	}{
		{
			name:    "misspelt branch lists the branches and tags",
			opts:    FetchOptions{RepoURL: h.repo, Ref: "mian"},
			wantErr: []string{`branch or tag "mian" not found in ` + h.repo + `; branches: dev, main; tags: light, v1.0`},
		},
		{
			name:    "a tag asked for as a branch",
			opts:    FetchOptions{RepoURL: h.repo, Ref: "refs/heads/v1.0"},
			wantErr: []string{`branch "v1.0" not found in`, "branches: dev, main"},
		},
		{
			name:    "unknown commit",
			opts:    FetchOptions{RepoURL: h.repo, Ref: "deadbeef"},
			wantErr: []string{`commit, branch or tag "deadbeef" not found in ` + h.repo + ` (is the commit pushed?)`},
		},
		{
			name:    "no such repository",
			opts:    FetchOptions{RepoURL: filepath.Join(t.TempDir(), "nope")},
			wantErr: []string{"repository not found; check the URL"},
		},
		{
			name:    "empty repository",
			opts:    FetchOptions{RepoURL: empty},
			wantErr: []string{"the repository is empty; push a commit first"},
		},
		{
			name:    "ssh without a deploy key",
			opts:    FetchOptions{RepoURL: sshURL, KnownHosts: ssh.KnownHosts},
			wantErr: []string{"an ssh URL needs a deploy key"},
		},
		{
			name:    "malformed deploy key",
			opts:    FetchOptions{RepoURL: sshURL, DeployKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n-----END OPENSSH PRIVATE KEY-----", KnownHosts: ssh.KnownHosts},
			wantErr: []string{"the deploy key is not a usable SSH private key"},
		},
		{
			name:    "deploy key the server does not accept",
			opts:    FetchOptions{RepoURL: sshURL, DeployKey: other.DeployKey, KnownHosts: ssh.KnownHosts},
			wantErr: []string{"the server refused the deploy key; add its public key to the repository's deploy keys"},
		},
		{
			name:    "host key not in known_hosts",
			opts:    FetchOptions{RepoURL: sshURL, DeployKey: ssh.DeployKey, KnownHosts: other.KnownHosts},
			wantErr: []string{"the host key of 127.0.0.1 is not in known_hosts; add it"},
		},
		{
			name:    "host key differs from known_hosts",
			opts:    FetchOptions{RepoURL: sshURL, DeployKey: ssh.DeployKey, KnownHosts: wrongHostKey},
			wantErr: []string{"the host key of 127.0.0.1 does not match known_hosts"},
		},
		{
			name:    "not a URL",
			opts:    FetchOptions{RepoURL: "http://[::1"},
			wantErr: []string{`"http://[::1" is not a repository URL or path`},
		},
		{
			name:    "password never shown in errors",
			opts:    FetchOptions{RepoURL: "http://bot:s3cret@127.0.0.1:1/repo"},
			wantErr: []string{"fetch http://bot:xxxxx@127.0.0.1:1/repo"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &testLog{}
			tt.opts.Dir = filepath.Join(t.TempDir(), "checkout")
			tt.opts.Network = loopbackOK
			_, err := Fetch(context.Background(), tt.opts, log)
			if err == nil {
				t.Fatal("Fetch succeeded")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Fetch error = %v\nwant it to contain %q", err, want)
				}
			}
			if strings.Contains(err.Error()+log.String(), "s3cret") {
				t.Errorf("password shown: %v\n%s", err, log)
			}
		})
	}
}

func TestFetchCanceled(t *testing.T) {
	h := setupHistory(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Fetch(ctx, FetchOptions{RepoURL: h.repo, Dir: filepath.Join(t.TempDir(), "co")}, &testLog{})
	if err == nil || !strings.Contains(err.Error(), "stopped: context canceled") {
		t.Errorf("Fetch error = %v, want stopped: context canceled", err)
	}
}
