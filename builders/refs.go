package builders

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/seedbed/seedbed/netguard"
)

// ListRefs lists the branches and tags of opts.RepoURL without cloning it
// (git ls-remote), with the same credentials as Fetch. The map goes from
// full ref name ("refs/heads/main", "refs/tags/v1") to commit SHA; an
// annotated tag maps to the commit it points at when the server says so.
// An empty repository gives an empty map.
func ListRefs(ctx context.Context, opts FetchOptions) (map[string]string, error) {
	repoURL := strings.TrimSpace(opts.RepoURL)
	shown := redactURL(repoURL)
	if repoURL == "" {
		return nil, errors.New("list refs: the app has no repository URL")
	}
	ep, err := transport.NewEndpoint(repoURL)
	if err != nil {
		return nil, fmt.Errorf("list refs: %q is not a repository URL or path; use e.g. https://host/owner/repo.git, git@host:owner/repo.git or a local path", shown)
	}
	auth, cleanup, err := authFor(ep, opts, discard{})
	if err != nil {
		return nil, fmt.Errorf("list refs of %s: %w", shown, err)
	}
	defer cleanup()
	refs, err := listRefs(ctx, repoURL, ep, auth, opts.Network)
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list refs: %w", cloneError(ctx, shown, ep, err))
	}
	out := map[string]string{}
	for _, r := range refs {
		name := r.Name().String()
		if r.Hash().IsZero() {
			continue // a symbolic ref (HEAD)
		}
		if peeled, ok := strings.CutSuffix(name, "^{}"); ok {
			out[peeled] = r.Hash().String() // the commit an annotated tag names
			continue
		}
		if !strings.HasPrefix(name, "refs/heads/") && !strings.HasPrefix(name, "refs/tags/") {
			continue
		}
		if _, seen := out[name]; !seen || !strings.HasPrefix(name, "refs/tags/") {
			out[name] = r.Hash().String()
		}
	}
	return out, nil
}

// discard is a Log that drops everything: listing refs has no log.
type discard struct{}

func (discard) Line(stream, text string) {}

// listRefs lists the references the remote advertises, a peeled tag as
// "refs/tags/NAME^{}", held to policy (see netfetch.go).
func listRefs(ctx context.Context, repoURL string, ep *transport.Endpoint, auth transport.AuthMethod, policy netguard.Policy) ([]*plumbing.Reference, error) {
	if err := checkEndpoint(ctx, ep, policy); err != nil {
		return nil, err
	}
	if !isHTTP(ep) {
		remote := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{repoURL}})
		return remote.ListContext(ctx, &git.ListOptions{Auth: auth, PeelingOption: git.AppendPeeled})
	}
	ar, _, err := httpRefs(ctx, ep, auth, policy)
	if err != nil {
		return nil, err
	}
	var out []*plumbing.Reference
	for name, h := range ar.References {
		out = append(out, plumbing.NewHashReference(plumbing.ReferenceName(name), h))
	}
	for name, h := range ar.Peeled {
		out = append(out, plumbing.NewHashReference(plumbing.ReferenceName(name+"^{}"), h))
	}
	return out, nil
}
