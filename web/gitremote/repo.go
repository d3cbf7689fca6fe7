package gitremote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// spoolPattern names the temporary files push bodies are spooled to.
const spoolPattern = ".push-*"

// serveConfig is the configuration every served git command runs with. It is
// given on the command line rather than written into each repository so
// that repositories made by an older Seedbed get it too, and so that the
// server user's own git configuration cannot change it.
func serveConfig(dir string) []string {
	return []string{
		// Hooks come from the repository, whatever a global config says:
		// the pre-receive hook is what makes OnPush see every push.
		"core.hooksPath=" + filepath.Join(dir, "hooks"),
		// Reflogs record who pushed what (GIT_COMMITTER_* is the pusher).
		"core.logAllRefUpdates=true",
		"receive.advertisePushOptions=true",
		"receive.denyNonFastForwards=false",
		"receive.denyDeletes=false",
		// The automatic gc after a push runs inside receive-pack, under the
		// app's push lock, rather than in the background where packing refs
		// could hold a ref's lock when the next push updates it.
		"gc.autoDetach=false",
		"maintenance.autoDetach=false",
		// Clone filters (--filter=blob:none) and fetching a pending push's
		// commit by hash (see the package documentation).
		"uploadpack.allowFilter=true",
		"uploadpack.allowAnySHA1InWant=true",
		// Commits waiting for their build are pinned under PushRefPrefix;
		// pushers and cloners never see those refs.
		"uploadpack.hideRefs=" + PushRefPrefix,
		"receive.hideRefs=" + PushRefPrefix,
	}
}

// git returns a command running git with serveConfig for dir and the base
// environment plus env. When ctx is done git gets SIGTERM rather than
// SIGKILL, so that it removes its quarantine and lock files.
func (s *Server) git(ctx context.Context, dir string, env []string, args ...string) *exec.Cmd {
	full := make([]string, 0, 16+len(args))
	for _, kv := range serveConfig(dir) {
		full = append(full, "-c", kv)
	}
	full = append(full, args...)
	cmd := exec.CommandContext(ctx, s.gitPath, full...)
	cmd.Env = append(append([]string{}, s.baseEnv...), env...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// EnsureRepo returns the absolute path of app's bare repository, creating it
// on first use, and makes sure its pre-receive hook runs this Server's hook
// command. It is safe to call concurrently and cheap when nothing changes;
// ServeHTTP calls it for every request.
func (s *Server) EnsureRepo(app string) (string, error) {
	if !validApp(app) {
		return "", fmt.Errorf("repository of app %q: not a valid app name", app)
	}
	dir := filepath.Join(s.reposDir, app+".git")
	_, err := os.Stat(filepath.Join(dir, "HEAD"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := s.initRepo(dir); err != nil {
			return "", fmt.Errorf("create repository of app %q: %w", app, err)
		}
	case err != nil:
		return "", fmt.Errorf("repository of app %q: %w", app, err)
	}
	if err := s.installHook(dir); err != nil {
		return "", fmt.Errorf("repository of app %q: %w", app, err)
	}
	return dir, nil
}

// initRepo creates a bare repository next to dir and renames it into place,
// so that a half-made repository is never served and two first pushes racing
// each other both end up with the same one.
func (s *Server) initRepo(dir string) error {
	tmp, err := os.MkdirTemp(s.reposDir, ".init-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) //nolint:errcheck // gone already after the rename
	// No templates: no sample hooks, nothing an admin's init.templateDir adds.
	cmd := exec.Command(s.gitPath, "init", "--quiet", "--bare", "--template=", "--initial-branch=main", tmp)
	cmd.Env = s.baseEnv
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git init: %w: %s", err, bytes.TrimSpace(out))
	}
	if err := s.installHook(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, "HEAD")); statErr == nil {
			return nil // made by a concurrent request
		}
		return err
	}
	return nil
}

// installHook writes hooks/pre-receive unless it is already current; the
// binary's path changes when Seedbed is upgraded or moved.
func (s *Server) installHook(dir string) error {
	hooks := filepath.Join(dir, "hooks")
	path := filepath.Join(hooks, "pre-receive")
	if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, s.hook) {
		return nil
	}
	if err := os.MkdirAll(hooks, 0o755); err != nil {
		return fmt.Errorf("install pre-receive hook: %w", err)
	}
	f, err := os.CreateTemp(hooks, ".pre-receive-*")
	if err != nil {
		return fmt.Errorf("install pre-receive hook: %w", err)
	}
	defer os.Remove(f.Name()) //nolint:errcheck // gone already after the rename
	_, err = f.Write(s.hook)
	if err == nil {
		err = f.Chmod(0o755)
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("install pre-receive hook: %w", err)
	}
	return nil
}

// hookScript is the pre-receive hook: a shell script that execs cmd.
func hookScript(cmd []string) []byte {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n# Installed by Seedbed: hands every push to the Seedbed server that receives it.\nexec")
	for _, arg := range cmd {
		b.WriteString(" '")
		b.WriteString(strings.ReplaceAll(arg, "'", `'\''`))
		b.WriteString("'")
	}
	b.WriteString(" pre-receive\n")
	return []byte(b.String())
}

// PushRefPrefix holds a hidden branch per pushed commit, so builds can
// fetch a commit whose push waits for them (a branch moves only once the
// push is accepted). Hidden from git clients by uploadpack.hideRefs.
const PushRefPrefix = "refs/heads/seedbed-push/"

// PinCommit makes a pushed commit fetchable as branch
// "seedbed-push/<sha>" before the push is accepted.
func (s *Server) PinCommit(ctx context.Context, dir, sha string) error {
	env := []string{"GIT_DIR=" + dir}
	if out, err := s.git(ctx, dir, env, "update-ref", PushRefPrefix+sha, sha).CombinedOutput(); err != nil {
		return fmt.Errorf("pin commit %s: %w: %s", sha, err, bytes.TrimSpace(out))
	}
	return nil
}

// fixHead points HEAD at a branch that exists when it points at none, as it
// does after the first push of a branch other than main or after main is
// deleted: without it, clones would have nothing to check out.
func (s *Server) fixHead(ctx context.Context, dir string, updates []RefUpdate) error {
	touched := false
	var candidates []string
	for _, u := range updates {
		if strings.HasPrefix(u.Ref, "refs/heads/") {
			touched = true
			if u.New != ZeroID {
				candidates = append(candidates, u.Ref)
			}
		}
	}
	if !touched {
		return nil
	}
	env := []string{"GIT_DIR=" + dir}
	exists := func(ref string) bool {
		return s.git(ctx, dir, env, "rev-parse", "--quiet", "--verify", ref+"^{commit}").Run() == nil
	}
	if exists("HEAD") {
		return nil
	}
	out, err := s.git(ctx, dir, env, "for-each-ref", "--format=%(refname)", "refs/heads/").Output()
	if err != nil {
		return fmt.Errorf("list branches: %w", err)
	}
	var first string
	for _, ref := range strings.Fields(string(out)) {
		if !strings.HasPrefix(ref, PushRefPrefix) {
			first = ref
			break
		}
	}
	candidates = append([]string{"refs/heads/main", "refs/heads/master"}, append(candidates, first)...)
	for _, ref := range candidates {
		if ref != "" && exists(ref) {
			if out, err := s.git(ctx, dir, env, "symbolic-ref", "HEAD", ref).CombinedOutput(); err != nil {
				return fmt.Errorf("point HEAD at %s: %w: %s", ref, err, bytes.TrimSpace(out))
			}
			return nil
		}
	}
	return nil
}
