package builders

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Commit is one commit of a repository's history.
type Commit struct {
	SHA     string
	Message string // first line
	Author  string
}

// discardLog drops progress lines nobody reads.
type discardLog struct{}

func (discardLog) Line(string, string) {}

// errStop ends a walk of the history early.
var errStop = errors.New("stop")

// Commits lists the commits reachable from head that base does not contain,
// newest first and at most limit: what a promotion brings to a stage. An
// empty base lists head's history. The repository is read into memory and
// nothing is checked out.
func Commits(ctx context.Context, opts FetchOptions, base, head string, limit int) ([]Commit, error) {
	shown := redactURL(opts.RepoURL)
	ep, err := transport.NewEndpoint(strings.TrimSpace(opts.RepoURL))
	if err != nil {
		return nil, fmt.Errorf("list commits: %q is not a repository URL or path", shown)
	}
	auth, cleanup, err := authFor(ep, opts, discardLog{})
	if err != nil {
		return nil, fmt.Errorf("list commits of %s: %w", shown, err)
	}
	defer cleanup()
	repo, err := cloneRepo(ctx, "", ep, opts.Network, &git.CloneOptions{URL: opts.RepoURL, Auth: auth, NoCheckout: true, Tags: git.NoTags})
	if err != nil {
		return nil, cloneError(ctx, shown, ep, err)
	}
	headCommit, err := repo.CommitObject(plumbing.NewHash(head))
	if err != nil {
		return nil, fmt.Errorf("list commits of %s: commit %s: %w", shown, head, err)
	}
	seenInBase := map[plumbing.Hash]bool{}
	if base != "" {
		baseCommit, err := repo.CommitObject(plumbing.NewHash(base))
		if err != nil {
			return nil, fmt.Errorf("list commits of %s: commit %s (the stage's release) is not in the repository any more", shown, base)
		}
		// Everything reachable from base is old, however the branches merged.
		iter := object.NewCommitPreorderIter(baseCommit, nil, nil)
		if err := iter.ForEach(func(c *object.Commit) error {
			seenInBase[c.Hash] = true
			if len(seenInBase) > 10000 {
				return errStop
			}
			return nil
		}); err != nil && !errors.Is(err, errStop) {
			return nil, fmt.Errorf("list commits of %s: %w", shown, err)
		}
	}
	var out []Commit
	iter := object.NewCommitIterCTime(headCommit, seenInBase, nil)
	err = iter.ForEach(func(c *object.Commit) error {
		if len(out) >= limit {
			return errStop
		}
		author := c.Author.Name
		if author == "" {
			author = c.Author.Email
		}
		out = append(out, Commit{SHA: c.Hash.String(), Message: firstLine(c.Message), Author: author})
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return out, fmt.Errorf("list commits of %s: %w", shown, err)
	}
	return out, nil
}
