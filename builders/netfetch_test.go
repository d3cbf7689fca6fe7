package builders

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/seedbed/seedbed/netguard"
)

// loopbackOK lets a test fetch from its servers on 127.0.0.1.
var loopbackOK = netguard.Policy{AllowPrivate: true}

// Over http(s) Fetch runs its own upload-pack exchange on a client held to
// the policy (netfetch.go); every ref form must still check out what a
// clone would.
func TestFetchHTTPRefs(t *testing.T) {
	h := setupHistory(t)
	url := startHTTPGitServer(t, filepath.Dir(h.repo)) + "/" + filepath.Base(h.repo)
	tests := []struct {
		name, ref, source, wantSHA string
	}{
		{name: "default branch", wantSHA: h.second},
		{name: "branch", ref: "dev", wantSHA: h.devSH},
		{name: "full branch ref", ref: "refs/heads/dev", wantSHA: h.devSH},
		{name: "annotated tag", ref: "v1.0", wantSHA: h.first},
		{name: "full tag ref", ref: "refs/tags/v1.0", wantSHA: h.first},
		{name: "lightweight tag", ref: "light", wantSHA: h.first},
		{name: "short SHA not on a branch tip", ref: h.devSH[:9], wantSHA: h.devSH},
		{name: "one source branch", ref: h.devSH, source: "dev", wantSHA: h.devSH},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &testLog{}
			co, err := Fetch(context.Background(), FetchOptions{RepoURL: url, Ref: tt.ref, SourceBranch: tt.source,
				Dir: filepath.Join(t.TempDir(), "co"), Network: loopbackOK}, log)
			if err != nil {
				t.Fatalf("Fetch: %v\nlog:\n%s", err, log)
			}
			if co.CommitSHA != tt.wantSHA {
				t.Fatalf("CommitSHA = %s, want %s", co.CommitSHA, tt.wantSHA)
			}
		})
	}
	t.Run("list refs", func(t *testing.T) {
		refs, err := ListRefs(context.Background(), FetchOptions{RepoURL: url, Network: loopbackOK})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"refs/heads/main": h.second, "refs/heads/dev": h.devSH, "refs/tags/v1.0": h.first, "refs/tags/light": h.first}
		for k, v := range want {
			if refs[k] != v {
				t.Errorf("refs[%s] = %q, want %s (all: %v)", k, refs[k], v, refs)
			}
		}
	})
	t.Run("commits", func(t *testing.T) {
		cs, err := Commits(context.Background(), FetchOptions{RepoURL: url, Network: loopbackOK}, h.first, h.second, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != 1 || cs[0].SHA != h.second {
			t.Fatalf("Commits = %+v, want just %s", cs, h.second)
		}
	})
}

// With the zero policy nothing on loopback is fetched, whatever the
// transport or the name used. A name resolving to 127.0.0.1 is refused by
// the dialer after resolution: what a DNS-rebinding host looks like at
// fetch time.
func TestFetchRefusesPrivateAddresses(t *testing.T) {
	h := setupHistory(t)
	httpURL := startHTTPGitServer(t, filepath.Dir(h.repo))
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(httpURL, "http://"))
	sshSrv := startSSHGitServer(t)
	_, sshPort, _ := net.SplitHostPort(sshSrv.Addr)
	repoPath := "/" + filepath.Base(h.repo)
	tests := []struct {
		name string
		opts FetchOptions
	}{
		{name: "http literal loopback", opts: FetchOptions{RepoURL: httpURL + repoPath}},
		{name: "http name resolving to loopback", opts: FetchOptions{RepoURL: "http://localhost:" + port + repoPath}},
		{name: "http decimal loopback", opts: FetchOptions{RepoURL: "http://2130706433:" + port + repoPath}},
		{name: "ssh literal loopback", opts: FetchOptions{RepoURL: "ssh://git@" + sshSrv.Addr + h.repo, DeployKey: sshSrv.DeployKey, KnownHosts: sshSrv.KnownHosts}},
		{name: "ssh name resolving to loopback", opts: FetchOptions{RepoURL: "ssh://git@localhost:" + sshPort + h.repo, DeployKey: sshSrv.DeployKey, KnownHosts: sshSrv.KnownHosts}},
		{name: "git protocol", opts: FetchOptions{RepoURL: "git://127.0.0.1:1/repo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, do := range []struct {
				what string
				run  func() error
			}{
				{"fetch", func() error {
					o := tt.opts
					o.Dir = filepath.Join(t.TempDir(), "co")
					_, err := Fetch(context.Background(), o, &testLog{})
					return err
				}},
				{"list refs", func() error { _, err := ListRefs(context.Background(), tt.opts); return err }},
				{"commits", func() error {
					_, err := Commits(context.Background(), tt.opts, "", strings.Repeat("0", 40), 1)
					return err
				}},
			} {
				err := do.run()
				if err == nil || !strings.Contains(err.Error(), "loopback") || !strings.Contains(err.Error(), "SEEDBED_ALLOW_PRIVATE_REPOS") {
					t.Fatalf("%s %s: err %v; want a refusal naming the rule and the setting", do.what, tt.opts.RepoURL, err)
				}
			}
		})
	}
}

// The ssh host key callback refuses a private address the connection
// reached, even when the name was public when it was checked.
func TestGuardHostKey(t *testing.T) {
	called := 0
	cb := guardHostKey(func(string, net.Addr, ssh.PublicKey) error { called++; return nil }, "git.example.com", netguard.Policy{})
	tests := []struct {
		name    string
		addr    string
		refused bool
	}{
		{name: "public", addr: "140.82.121.3"},
		{name: "loopback", addr: "127.0.0.1", refused: true},
		{name: "mapped loopback", addr: "::ffff:127.0.0.1", refused: true},
		{name: "private v6", addr: "fd00::1", refused: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := called
			err := cb("git.example.com:22", &net.TCPAddr{IP: net.ParseIP(tt.addr), Port: 22}, nil)
			if tt.refused != (err != nil) || tt.refused == (called > before) {
				t.Fatalf("addr %s: err %v, inner callback called %t", tt.addr, err, called > before)
			}
		})
	}
}
