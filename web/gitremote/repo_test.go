package gitremote

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestEnsureRepo(t *testing.T) {
	dir := t.TempDir()
	newServer := func(hook ...string) *Server {
		t.Helper()
		s, err := New(Config{
			ReposDir:     dir,
			Authenticate: func(context.Context, string, string) (string, error) { return "", errors.New("no") },
			Authorize:    func(context.Context, string, string) (Access, error) { return WriteAccess, nil },
			HookCommand:  hook,
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := newServer("/bin/sh", "-c", "echo it's me")
	repo, err := s.EnsureRepo("app")
	if err != nil {
		t.Fatal(err)
	}
	if repo != filepath.Join(dir, "app.git") {
		t.Errorf("EnsureRepo = %q", repo)
	}
	hook := filepath.Join(repo, "hooks", "pre-receive")
	script, err := os.ReadFile(hook)
	if err != nil {
		t.Fatal(err)
	}
	if want := "exec '/bin/sh' '-c' 'echo it'\\''s me' pre-receive\n"; !strings.HasSuffix(string(script), want) {
		t.Errorf("hook script %q does not end with %q", script, want)
	}
	if info, err := os.Stat(hook); err != nil || info.Mode()&0o111 == 0 {
		t.Errorf("hook is not executable: %v %v", info.Mode(), err)
	}
	if head, err := os.ReadFile(filepath.Join(repo, "HEAD")); err != nil || string(head) != "ref: refs/heads/main\n" {
		t.Errorf("HEAD = %q, %v", head, err)
	}
	if _, err := s.EnsureRepo("app"); err != nil {
		t.Errorf("second EnsureRepo: %v", err)
	}

	// A new binary path (an upgrade) rewrites the hook of existing repositories.
	if _, err := newServer("/bin/true").EnsureRepo("app"); err != nil {
		t.Fatal(err)
	}
	if script, _ := os.ReadFile(hook); !strings.HasSuffix(string(script), "exec '/bin/true' pre-receive\n") {
		t.Errorf("hook not updated: %q", script)
	}

	for _, bad := range []string{"", "..", "../x", "/etc", "a/b", "App", "-a"} {
		if _, err := s.EnsureRepo(bad); err == nil {
			t.Errorf("EnsureRepo(%q) succeeded", bad)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("ReposDir holds %d entries, want only app.git", len(entries))
	}
}

func TestRejectReport(t *testing.T) {
	var req bytes.Buffer
	writePkt(&req, ZeroID+" "+strings.Repeat("b", 40)+" refs/heads/main\x00 report-status side-band-64k agent=git/2.39\n")
	writePkt(&req, ZeroID+" "+strings.Repeat("c", 40)+" refs/tags/v1\n")
	req.WriteString("0000PACK...")
	refs, caps, err := readCommands(&req)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(refs, []string{"refs/heads/main", "refs/tags/v1"}) || !caps["side-band-64k"] || !caps["report-status"] {
		t.Fatalf("readCommands = %q, %v", refs, caps)
	}
	got := string(rejectReport(refs, map[string]bool{}, "too big", "msg\n"))
	want := "0013unpack too big\n" + "001fng refs/heads/main too big\n" + "001cng refs/tags/v1 too big\n" + "0000"
	if got != want {
		t.Errorf("report without side band = %q, want %q", got, want)
	}
	got = string(rejectReport(refs, caps, "too big", "msg\n"))
	want = "0009\x02msg\n" + "0057\x01" + want + "0000"
	if got != want {
		t.Errorf("report with side band = %q, want %q", got, want)
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{512 << 20: "512 MiB", 1 << 20: "1 MiB", 1536 << 10: "1.5 MiB", 2 << 30: "2 GiB", 1000: "1000 bytes", 4096: "4 KiB"} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestLimitedBody(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		wantErr error
	}{
		{name: "under", size: 99},
		{name: "at the limit", size: 100},
		{name: "over", size: 101, wantErr: errBodyTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &limitedBody{r: io.NopCloser(strings.NewReader(strings.Repeat("x", tt.size))), left: 100}
			n, err := io.Copy(io.Discard, b)
			if !errors.Is(err, tt.wantErr) || (err == nil && n != int64(tt.size)) {
				t.Errorf("copied %d, %v; want %d, %v", n, err, tt.size, tt.wantErr)
			}
		})
	}
}
