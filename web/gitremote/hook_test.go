//go:build unix

package gitremote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

func TestRunHookRefusesWithoutServer(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		wantErr  string
	}{
		{name: "no descriptors", args: []string{"pre-receive"}, wantCode: 1, wantErr: "takes pushes only through Seedbed's git remote"},
		{name: "bad descriptors", args: []string{"pre-receive"}, env: map[string]string{hookFDsEnv: "x,4"}, wantCode: 1, wantErr: "not two file descriptors"},
		{name: "no hook name", args: nil, wantCode: 2, wantErr: "usage"},
		{name: "other hook", args: []string{"post-receive"}, wantCode: 2, wantErr: "usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := RunHook(context.Background(), tt.args, strings.NewReader(ZeroID+" "+ZeroID+" refs/heads/main\n"),
				&stdout, &stderr, func(k string) string { return tt.env[k] })
			if code != tt.wantCode || !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("RunHook = %d, stderr %q; want %d and %q", code, stderr.String(), tt.wantCode, tt.wantErr)
			}
		})
	}
}

// TestHookConversation runs both ends of the hook protocol in-process over
// real pipes: the request reaches OnPush, progress reaches the hook's
// stdout, and the verdict its exit code. Each case runs RunHook once; its
// descriptors are closed when it returns.
func TestHookConversation(t *testing.T) {
	tests := []struct {
		name     string
		onPush   func(ctx context.Context, push Push, progress io.Writer) error
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{name: "accept", onPush: func(_ context.Context, _ Push, w io.Writer) error {
			_, _ = io.WriteString(w, "one\n")
			_, _ = io.WriteString(w, "two\n")
			return nil
		}, wantCode: 0, wantOut: "one\ntwo\n"},
		{name: "refuse", onPush: func(_ context.Context, _ Push, w io.Writer) error {
			_, _ = io.WriteString(w, "checking\n")
			return errors.New("stage prod is locked")
		}, wantCode: 1, wantOut: "checking\n", wantErr: "error: stage prod is locked\n"},
		{name: "refuse without a message", onPush: func(context.Context, Push, io.Writer) error {
			return errors.New("")
		}, wantCode: 1, wantErr: "error: push refused\n"},
		{name: "panic", onPush: func(context.Context, Push, io.Writer) error {
			panic("boom")
		}, wantCode: 1, wantErr: "internal error while accepting this push"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Push
			srv, err := New(Config{ReposDir: t.TempDir(), Logger: discardLogger(), HookCommand: []string{"true"},
				Authenticate: func(context.Context, string, string) (string, error) { return "", errors.New("no") },
				Authorize:    func(context.Context, string, string) (Access, error) { return NoAccess, nil },
				OnPush: func(ctx context.Context, push Push, w io.Writer) error {
					got = push
					return tt.onPush(ctx, push, w)
				}})
			if err != nil {
				t.Fatal(err)
			}
			repo, err := srv.EnsureRepo("app")
			if err != nil {
				t.Fatal(err)
			}
			commit := emptyCommit(t, repo)
			toHookR, toHookW := pipe(t)
			fromHookR, fromHookW := pipe(t)
			verdict := make(chan hookVerdict, 1)
			go func() {
				verdict <- srv.serveHook(context.Background(), Push{App: "app", RepoDir: repo}, fromHookR, toHookW)
			}()

			// The hook owns duplicates of the descriptors, as a child would.
			env := map[string]string{
				hookFDsEnv:              fmt.Sprintf("%d,%d", dupFD(t, toHookR), dupFD(t, fromHookW)),
				"GIT_PUSH_OPTION_COUNT": "1",
				"GIT_PUSH_OPTION_0":     "nowait",
			}
			_ = toHookR.Close()
			_ = fromHookW.Close()
			stdin := ZeroID + " " + commit + " refs/heads/main\n"
			var stdout, stderr bytes.Buffer
			code := RunHook(context.Background(), []string{"pre-receive"}, strings.NewReader(stdin), &stdout, &stderr, func(k string) string { return env[k] })
			v := <-verdict
			if v.unlock == nil {
				t.Errorf("the verdict holds no push lock to release")
			} else {
				v.unlock()
			}
			if code != tt.wantCode || stdout.String() != tt.wantOut || !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("hook exit %d, stdout %q, stderr %q; want %d, %q, %q", code, stdout.String(), stderr.String(), tt.wantCode, tt.wantOut, tt.wantErr)
			}
			want := Push{App: "app", RepoDir: repo, Updates: []RefUpdate{{Ref: "refs/heads/main", Old: ZeroID, New: commit}}, Options: []string{"nowait"}}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("OnPush got %+v, want %+v", got, want)
			}
			if !v.ran || (v.err == nil) != (tt.wantCode == 0) {
				t.Errorf("verdict %+v for exit code %d", v, code)
			}
		})
	}
}

// emptyCommit writes a commit of the empty tree into the bare repository
// repo and returns its name.
func emptyCommit(t *testing.T, repo string) string {
	t.Helper()
	cmd := exec.Command("git", "--git-dir", repo, "commit-tree", "-m", "empty", "4b825dc642cb6eb9a060e54bf8d69288fbee4904")
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Ann", "GIT_AUTHOR_EMAIL=ann@example.com", "GIT_COMMITTER_NAME=Ann", "GIT_COMMITTER_EMAIL=ann@example.com")
	if err := exec.Command("git", "--git-dir", repo, "hash-object", "-w", "-t", "tree", "/dev/null").Run(); err != nil {
		t.Fatalf("write the empty tree: %v", err)
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git commit-tree: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// dupFD duplicates f's descriptor, as a child process inherits it, for
// RunHook to own and close.
func dupFD(t *testing.T, f *os.File) int {
	t.Helper()
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func pipe(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = r.Close()
		_ = w.Close()
	})
	return r, w
}
