package builders

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ErrNoCommit says a commit is not in the checkout's history: it was
// rewritten away (a force push) or never fetched.
var ErrNoCommit = errors.New("commit not in the repository")

// ChangedPaths lists the files (slash-separated, relative to the
// repository root) that differ between the trees of the commits fromSHA
// and toSHA of the checkout in repoDir: added, removed, changed, and
// both names of a rename. A missing fromSHA gives an error wrapping
// ErrNoCommit, and the caller should rebuild everything.
func ChangedPaths(ctx context.Context, repoDir, fromSHA, toSHA string) ([]string, error) {
	repo, err := git.PlainOpen(repoDir)
	if err != nil {
		return nil, fmt.Errorf("open checkout %s: %w", repoDir, err)
	}
	from, err := treeOf(repo, fromSHA)
	if err != nil {
		return nil, err
	}
	to, err := treeOf(repo, toSHA)
	if err != nil {
		return nil, err
	}
	changes, err := object.DiffTreeWithOptions(ctx, from, to, &object.DiffTreeOptions{})
	if err != nil {
		return nil, fmt.Errorf("diff %s..%s: %w", short7(fromSHA), short7(toSHA), err)
	}
	seen := map[string]bool{}
	var out []string
	for _, c := range changes {
		for _, name := range []string{c.From.Name, c.To.Name} {
			if name != "" && !seen[name] {
				seen[name] = true
				out = append(out, name)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// FileAt returns the contents of the file at path (slash-separated) in
// the commit sha of the checkout in repoDir. A missing commit gives an
// error wrapping ErrNoCommit; a missing file one wrapping
// object.ErrFileNotFound.
func FileAt(repoDir, sha, path string) ([]byte, error) {
	repo, err := git.PlainOpen(repoDir)
	if err != nil {
		return nil, fmt.Errorf("open checkout %s: %w", repoDir, err)
	}
	tree, err := treeOf(repo, sha)
	if err != nil {
		return nil, err
	}
	f, err := tree.File(path)
	if err != nil {
		return nil, fmt.Errorf("%s at %s: %w", path, short7(sha), err)
	}
	r, err := f.Reader()
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", path, short7(sha), err)
	}
	defer r.Close()
	return io.ReadAll(io.LimitReader(r, 10<<20))
}

func treeOf(repo *git.Repository, sha string) (*object.Tree, error) {
	if !isHex(sha) || len(sha) != 40 {
		return nil, fmt.Errorf("%q is not a full commit SHA", sha)
	}
	c, err := repo.CommitObject(plumbing.NewHash(sha))
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return nil, fmt.Errorf("commit %s: %w", short7(sha), ErrNoCommit)
	}
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", short7(sha), err)
	}
	t, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("read the tree of commit %s: %w", short7(sha), err)
	}
	return t, nil
}

func short7(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// BranchOf names the branch the build of ref in the checkout repoDir
// builds: ref itself when the remote has a branch of that name, else a
// branch of the remote whose head is commit (prefer, when several are,
// the first of prefer), else "" (a tag or a commit no branch points at).
func BranchOf(repoDir, ref, commit string, prefer ...string) string {
	repo, err := git.PlainOpen(repoDir)
	if err != nil {
		return ""
	}
	if ref != "" {
		for _, name := range []plumbing.ReferenceName{plumbing.NewRemoteReferenceName("origin", ref), plumbing.NewBranchReferenceName(ref)} {
			if _, err := repo.Reference(name, false); err == nil {
				return ref
			}
		}
	}
	refs, err := repo.References()
	if err != nil {
		return ""
	}
	defer refs.Close()
	var heads []string
	_ = refs.ForEach(func(r *plumbing.Reference) error {
		name := r.Name()
		if name.IsRemote() && r.Type() == plumbing.HashReference && r.Hash().String() == commit {
			short := strings.TrimPrefix(name.String(), "refs/remotes/origin/")
			if short != "HEAD" && !strings.HasPrefix(short, "seedbed/") {
				heads = append(heads, short)
			}
		}
		return nil
	})
	for _, p := range prefer {
		if slices.Contains(heads, p) {
			return p
		}
	}
	sort.Strings(heads)
	if len(heads) > 0 {
		return heads[0]
	}
	return ""
}
