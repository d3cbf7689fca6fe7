package builders

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"
	"golang.org/x/crypto/ssh"

	"github.com/seedbed/seedbed/netguard"
)

// Repositories are fetched over the network under opts.Network, the rule
// on which addresses Seedbed may connect to for an app (see netguard):
//
//   - http(s): through an HTTP client whose dialer checks every address
//     right before connecting, after DNS resolution and on every redirect.
//     go-git picks its HTTP client from a package-level registry
//     (client.InstallProtocol), which would make the rule global and racy
//     between fetches, so http(s) repositories are fetched here with
//     go-git's upload-pack session on a client made for this fetch.
//   - ssh: go-git dials by itself, so the host is checked before, and the
//     address actually connected to is checked again in the host key
//     callback, before any credential is sent.
//   - git://: checked before connecting (go-git dials by itself; the
//     protocol sends no credentials).
//   - local paths and file:// are not network fetches; who may set them is
//     checked when the URL is saved (netguard.RepoRules).

// isHTTP tells whether ep is fetched over http(s).
func isHTTP(ep *transport.Endpoint) bool { return ep.Protocol == "http" || ep.Protocol == "https" }

// checkEndpoint refuses, before connecting, an endpoint whose host is or
// (for ssh and git://) resolves to an address the policy refuses.
func checkEndpoint(ctx context.Context, ep *transport.Endpoint, policy netguard.Policy) error {
	switch ep.Protocol {
	case "ssh", "git":
		return policy.CheckHost(ctx, nil, ep.Host)
	}
	// http(s) is checked by its dialer after resolution; an address in a
	// form only the C library reads (http://2130706433/) would not get
	// that far, and is refused here so the error says why.
	if ip, ok := netguard.ParseHostIP(ep.Host); ok {
		return policy.CheckAddr(ep.Host, ip)
	}
	return nil
}

// guardHostKey wraps an ssh host key callback so that the connection is
// dropped, before authentication, when the address connected to is one the
// policy refuses: the host may have resolved differently than when it was
// checked.
func guardHostKey(cb ssh.HostKeyCallback, host string, policy netguard.Policy) ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		if ta, ok := remote.(*net.TCPAddr); ok {
			if ip, ok := netip.AddrFromSlice(ta.IP); ok {
				if err := policy.CheckAddr(host, ip); err != nil {
					return err
				}
			}
		}
		return cb(hostname, remote, key)
	}
}

// cloneRepo clones ep as clone says, into dir or, when dir is "", into
// memory, held to policy: http(s) through httpFetch, every other protocol
// through go-git's clone after checkEndpoint.
func cloneRepo(ctx context.Context, dir string, ep *transport.Endpoint, policy netguard.Policy, clone *git.CloneOptions) (*git.Repository, error) {
	if err := checkEndpoint(ctx, ep, policy); err != nil {
		return nil, err
	}
	if !isHTTP(ep) {
		if dir == "" {
			return git.CloneContext(ctx, memory.NewStorage(), nil, clone)
		}
		return git.PlainCloneContext(ctx, dir, false, clone)
	}
	var (
		repo *git.Repository
		err  error
	)
	if dir == "" {
		repo, err = git.Init(memory.NewStorage(), nil)
	} else {
		repo, err = git.PlainInit(dir, false)
	}
	if err != nil {
		return nil, fmt.Errorf("make the repository: %w", err)
	}
	branch := ""
	if clone.SingleBranch {
		branch = clone.ReferenceName.Short()
	}
	if err := httpFetch(ctx, repo.Storer, ep, clone.Auth, policy, branch, clone.Tags != git.NoTags); err != nil {
		return nil, err
	}
	return repo, nil
}

// uploadPackSession opens an upload-pack session to an http(s) endpoint
// on an HTTP client held to policy.
func uploadPackSession(ep *transport.Endpoint, auth transport.AuthMethod, policy netguard.Policy) (transport.UploadPackSession, error) {
	tr := githttp.NewClient(policy.HTTPClient(0))
	return tr.NewUploadPackSession(ep, auth)
}

// httpRefs lists the references an http(s) repository advertises, HEAD
// included as a symbolic reference where the server tells it.
func httpRefs(ctx context.Context, ep *transport.Endpoint, auth transport.AuthMethod, policy netguard.Policy) (*packp.AdvRefs, map[plumbing.ReferenceName]*plumbing.Reference, error) {
	sess, err := uploadPackSession(ep, auth, policy)
	if err != nil {
		return nil, nil, err
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return nil, nil, err
	}
	refs, err := ar.AllReferences()
	if err != nil {
		return nil, nil, err
	}
	return ar, refs, nil
}

// httpFetch copies the objects of an http(s) repository's branches (only
// branch, when given) and, with tags, its tags into st, and points st's
// references the way a clone does: refs/remotes/origin/BRANCH, refs/tags/TAG,
// and HEAD at a local branch of the remote's default branch.
func httpFetch(ctx context.Context, st storer.Storer, ep *transport.Endpoint, auth transport.AuthMethod, policy netguard.Policy, branch string, tags bool) error {
	sess, err := uploadPackSession(ep, auth, policy)
	if err != nil {
		return err
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return err
	}
	refs, err := ar.AllReferences()
	if err != nil {
		return err
	}
	var keep []*plumbing.Reference
	seen := map[plumbing.Hash]bool{}
	var wants []plumbing.Hash
	for name, ref := range refs {
		if ref.Type() != plumbing.HashReference {
			continue
		}
		switch {
		case name.IsBranch() && (branch == "" || name.Short() == branch):
		case name.IsTag() && tags:
		default:
			continue
		}
		keep = append(keep, ref)
		if !seen[ref.Hash()] {
			seen[ref.Hash()] = true
			wants = append(wants, ref.Hash())
		}
	}
	if len(wants) == 0 {
		if branch != "" && len(refs) > 0 {
			return fmt.Errorf("couldn't find remote ref %q", plumbing.NewBranchReferenceName(branch))
		}
		return transport.ErrEmptyRemoteRepository
	}
	req := packp.NewUploadPackRequestFromCapabilities(ar.Capabilities)
	req.Wants = wants
	if tags && ar.Capabilities.Supports(capability.IncludeTag) {
		_ = req.Capabilities.Set(capability.IncludeTag)
	}
	resp, err := sess.UploadPack(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Close()
	var r io.Reader = resp
	switch {
	case req.Capabilities.Supports(capability.Sideband64k):
		r = sideband.NewDemuxer(sideband.Sideband64k, resp)
	case req.Capabilities.Supports(capability.Sideband):
		r = sideband.NewDemuxer(sideband.Sideband, resp)
	}
	if err := packfile.UpdateObjectStorage(st, r); err != nil {
		return fmt.Errorf("read the pack: %w", err)
	}
	for _, ref := range keep {
		name := ref.Name()
		if name.IsBranch() {
			name = plumbing.NewRemoteReferenceName("origin", name.Short())
		}
		if err := st.SetReference(plumbing.NewHashReference(name, ref.Hash())); err != nil {
			return fmt.Errorf("set %s: %w", name, err)
		}
	}
	return setHead(st, refs, branch)
}

// setHead points HEAD at a local branch named after the remote's default
// branch (or the one branch fetched), as a clone leaves it.
func setHead(st storer.Storer, refs map[plumbing.ReferenceName]*plumbing.Reference, branch string) error {
	var target plumbing.ReferenceName
	if branch != "" {
		target = plumbing.NewBranchReferenceName(branch)
	} else if head, ok := refs[plumbing.HEAD]; ok && head.Type() == plumbing.SymbolicReference {
		target = head.Target()
	}
	ref, ok := refs[target]
	if target == "" || !ok {
		return nil // no default branch: resolveRef says so when it matters
	}
	if err := st.SetReference(plumbing.NewHashReference(target, ref.Hash())); err != nil {
		return fmt.Errorf("set %s: %w", target, err)
	}
	if err := st.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, target)); err != nil {
		return fmt.Errorf("set HEAD: %w", err)
	}
	return nil
}
