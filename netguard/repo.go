package netguard

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

// RepoRules say which repository URL an app may have, by who sets it.
//
//   - Empty: the app gets its code by push to its built-in remote.
//   - A local path or file:// URL reads the server's own disk: admins only.
//     Paths inside DataDir are refused for everyone, admins too: the data
//     dir holds every app's built-in remote, the database and the secret
//     key, so an app pointed there builds another app's code or reads
//     Seedbed's own files; an admin never needs it, since an app's own
//     code reaches it by push.
//   - http(s)://, ssh://, git:// and git@host:path: a host that is, or
//     resolves to, a loopback, private or link-local address needs
//     Policy.AllowPrivate, whoever asks. The fetch checks again after its
//     own lookup (see Policy.Dialer).
type RepoRules struct {
	Policy Policy
	// DataDir is Seedbed's data dir; empty checks no path against it.
	DataDir string
	// Resolver looks host names up; nil means the system's.
	Resolver Resolver
}

// RepoRefusedError is a repository URL the rules refuse. AdminsOnly tells
// that an admin could set it (a local path), so the refusal is about who
// asks rather than about the URL.
type RepoRefusedError struct {
	Msg        string
	AdminsOnly bool
}

func (e *RepoRefusedError) Error() string { return e.Msg }

// Check refuses a repository URL the rules do not allow for the user
// (admin or not). URLs that are not repository URLs at all pass: checking
// their form is the caller's (pipelines.NewApp.Validate).
func (r RepoRules) Check(ctx context.Context, raw string, admin bool) error {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil
	}
	path, host, local := splitRepoURL(raw)
	if local {
		if !admin {
			return &RepoRefusedError{AdminsOnly: true, Msg: "Local paths and file:// repositories are for admins only: they read the server's own disk. " +
				"Give the repository's clone URL (https://host/owner/repo.git or git@host:owner/repo.git), or ask an admin to create the app."}
		}
		if inside, dir := r.inDataDir(path); inside {
			return &RepoRefusedError{Msg: fmt.Sprintf("%s is inside Seedbed's data dir (%s), which holds every app's built-in remote, the database and the secret key; "+
				"no app may read from it. To deploy code pushed to Seedbed, push it to this app's own built-in remote (leave the repository URL empty).", path, dir)}
		}
		return nil
	}
	if host == "" {
		return nil
	}
	if err := r.Policy.CheckHost(ctx, r.Resolver, host); err != nil {
		return &RepoRefusedError{Msg: "The repository's host " + err.Error() + "."}
	}
	return nil
}

// splitRepoURL tells the path of a local repository, or the host of a
// remote one, as go-git, which fetches it, reads the URL.
func splitRepoURL(raw string) (path, host string, local bool) {
	ep, err := transport.NewEndpoint(raw)
	if err != nil {
		return "", "", false // not a URL: the form check refuses it
	}
	if ep.Protocol == "file" {
		return ep.Path, "", true
	}
	return "", ep.Host, false
}

// inDataDir tells whether path is the data dir or inside it, following
// symbolic links where they exist.
func (r RepoRules) inDataDir(path string) (bool, string) {
	if r.DataDir == "" {
		return false, ""
	}
	dir := resolve(r.DataDir)
	p := resolve(path)
	rel, err := filepath.Rel(dir, p)
	if err != nil {
		return false, dir
	}
	return rel == "." || (rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))), dir
}

// resolve makes path absolute and clean, with symbolic links followed as
// far as the path exists.
func resolve(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.Clean(path)
	}
	rest := ""
	for p := abs; ; p = filepath.Dir(p) {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(real, rest)
		}
		if p == filepath.Dir(p) {
			return abs
		}
		rest = filepath.Join(filepath.Base(p), rest)
	}
}
