package builders

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"

	"github.com/seedbed/seedbed/netguard"
)

// FetchOptions says what to check out and where.
type FetchOptions struct {
	// RepoURL is a local path, a file://, http(s):// or ssh:// URL, or an
	// scp-like address (git@host:owner/repo.git). Credentials in an
	// http(s) URL are used and never logged.
	RepoURL string
	// Ref is a branch, a tag, a full or abbreviated commit SHA, or empty
	// for the remote's default branch (its HEAD).
	Ref string
	// DeployKey is an unencrypted SSH private key in PEM form, used for
	// ssh URLs.
	DeployKey string
	// SourceBranch, when set, is the only branch fetched: the built-in
	// remote pins a commit whose push waits for its build at a hidden
	// branch, before any ordinary branch points at it.
	SourceBranch string
	// KnownHosts holds known_hosts lines to check an SSH server's host
	// key against. Empty means the machine's known_hosts files
	// ($SSH_KNOWN_HOSTS, ~/.ssh/known_hosts, /etc/ssh/ssh_known_hosts).
	KnownHosts string
	// Dir is where the checkout goes; it must not exist or be empty.
	Dir string
	// Network says which addresses the fetch may connect to; the zero
	// Policy refuses loopback, private and link-local ones, checked
	// after DNS resolution (see netfetch.go).
	Network netguard.Policy
}

// Checkout is the exact commit Fetch checked out.
type Checkout struct {
	Dir       string
	CommitSHA string // full hex SHA
	Message   string // first line of the commit message
	Author    string // author name
}

// Fetch clones opts.RepoURL into opts.Dir and checks out the commit opts.Ref
// names, writing progress to log. Errors name the repository and the ref
// and say what to do.
func Fetch(ctx context.Context, opts FetchOptions, log Log) (Checkout, error) {
	repoURL := strings.TrimSpace(opts.RepoURL)
	shown := redactURL(repoURL)
	if repoURL == "" {
		return Checkout{}, errors.New("fetch: the app has no repository URL")
	}
	if opts.Dir == "" {
		return Checkout{}, errors.New("fetch: no checkout folder given")
	}
	refShown := opts.Ref
	if refShown == "" {
		refShown = "its default branch"
	}
	log.Line("seedbed", fmt.Sprintf("Fetching %s at %s", shown, refShown))
	start := time.Now()

	ep, err := transport.NewEndpoint(repoURL)
	if err != nil {
		return Checkout{}, fmt.Errorf("fetch: %q is not a repository URL or path; use e.g. https://host/owner/repo.git, git@host:owner/repo.git or a local path", shown)
	}
	auth, cleanup, err := authFor(ep, opts, log)
	if err != nil {
		return Checkout{}, fmt.Errorf("fetch %s: %w", shown, err)
	}
	defer cleanup()

	clone := &git.CloneOptions{
		URL:        repoURL,
		Auth:       auth,
		NoCheckout: true,
		Tags:       git.AllTags,
	}
	if opts.SourceBranch != "" {
		clone.ReferenceName, clone.SingleBranch, clone.Tags = plumbing.NewBranchReferenceName(opts.SourceBranch), true, git.NoTags
	}
	repo, err := cloneRepo(ctx, opts.Dir, ep, opts.Network, clone)
	if err != nil {
		return Checkout{}, cloneError(ctx, shown, ep, err)
	}
	hash, err := resolveRef(repo, opts.Ref, shown)
	if err != nil {
		return Checkout{}, err
	}
	wt, err := repo.Worktree()
	if err != nil {
		return Checkout{}, fmt.Errorf("fetch %s at %s: %w", shown, refShown, err)
	}
	if err := wt.Checkout(&git.CheckoutOptions{Hash: hash, Force: true}); err != nil {
		return Checkout{}, fmt.Errorf("check out %s of %s: %w", hash, shown, err)
	}
	commit, err := repo.CommitObject(hash)
	if err != nil {
		return Checkout{}, fmt.Errorf("read commit %s of %s: %w", hash, shown, err)
	}
	co := Checkout{
		Dir:       opts.Dir,
		CommitSHA: hash.String(),
		Message:   firstLine(commit.Message),
		Author:    commit.Author.Name,
	}
	if co.Author == "" {
		co.Author = commit.Author.Email
	}
	log.Line("seedbed", fmt.Sprintf("Checked out %s %s (%s, fetched in %s)", co.CommitSHA[:7], co.Message, co.Author, time.Since(start).Round(time.Millisecond)))
	return co, nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return s
}

// authFor picks the credentials for ep. The cleanup func removes any
// temporary file it made.
func authFor(ep *transport.Endpoint, opts FetchOptions, log Log) (transport.AuthMethod, func(), error) {
	nothing := func() {}
	switch ep.Protocol {
	case "http", "https":
		if opts.DeployKey != "" {
			log.Line("seedbed", "The deploy key is not used: it works with ssh URLs (git@host:owner/repo.git), and this app uses "+ep.Protocol+".")
		}
		if ep.User != "" {
			return &githttp.BasicAuth{Username: ep.User, Password: ep.Password}, nothing, nil
		}
		return nil, nothing, nil
	case "ssh":
	default:
		return nil, nothing, nil
	}
	if opts.DeployKey == "" {
		return nil, nothing, errors.New("an ssh URL needs a deploy key; add the app's deploy key (an SSH private key whose public half is added to the repository), or use an https URL for a public repository")
	}
	user := ep.User
	if user == "" {
		user = "git"
	}
	keys, err := gitssh.NewPublicKeys(user, []byte(strings.TrimSpace(opts.DeployKey)+"\n"), "")
	if err != nil {
		return nil, nothing, fmt.Errorf("the deploy key is not a usable SSH private key (it must be unencrypted, in PEM form: -----BEGIN OPENSSH PRIVATE KEY-----): %w", err)
	}
	cb, algos, cleanup, err := hostKeyCheck(ep, opts.KnownHosts, log)
	if err != nil {
		return nil, nothing, err
	}
	keys.HostKeyCallback, keys.HostKeyAlgorithms = guardHostKey(cb, ep.Host, opts.Network), algos
	return keys, cleanup, nil
}

// hostKeyCheck returns how to verify the SSH server's host key.
//
// With known_hosts lines (given, or found on the machine) the host key must
// match them. With none at all, the key is not checked: Seedbed usually
// runs in a fresh container that has never connected anywhere, and refusing
// every SSH repository there would leave users with no way to connect but
// to learn about known_hosts first. The risk accepted is that someone who
// can intercept the connection could serve different code; the log says
// so, and adding known_hosts closes it.
func hostKeyCheck(ep *transport.Endpoint, knownHosts string, log Log) (ssh.HostKeyCallback, []string, func(), error) {
	nothing := func() {}
	var files []string
	cleanup := nothing
	if strings.TrimSpace(knownHosts) != "" {
		f, err := os.CreateTemp("", "seedbed-known-hosts-*")
		if err != nil {
			return nil, nil, nothing, fmt.Errorf("write known_hosts: %w", err)
		}
		name := f.Name()
		cleanup = func() { os.Remove(name) }
		_, werr := f.WriteString(strings.TrimSpace(knownHosts) + "\n")
		if err := errors.Join(werr, f.Close()); err != nil {
			cleanup()
			return nil, nil, nothing, fmt.Errorf("write known_hosts: %w", err)
		}
		files = []string{name}
	} else {
		files = machineKnownHosts()
	}
	if len(files) == 0 {
		log.Line("seedbed", "Warning: no known_hosts on this machine, so the host key of "+ep.Host+" is not checked. Add it (ssh-keyscan "+ep.Host+" >> ~/.ssh/known_hosts) to be safe from a man in the middle.")
		return ssh.InsecureIgnoreHostKey(), nil, nothing, nil
	}
	db, err := gitssh.NewKnownHostsDb(files...)
	if err != nil {
		cleanup()
		return nil, nil, nothing, fmt.Errorf("read known_hosts: %w", err)
	}
	port := ep.Port
	if port == 0 {
		port = 22
	}
	return db.HostKeyCallback(), db.HostKeyAlgorithms(net.JoinHostPort(ep.Host, strconv.Itoa(port))), cleanup, nil
}

// machineKnownHosts lists the known_hosts files ssh itself would read.
func machineKnownHosts() []string {
	candidates := filepath.SplitList(os.Getenv("SSH_KNOWN_HOSTS"))
	if len(candidates) == 0 {
		if home, err := os.UserHomeDir(); err == nil {
			candidates = append(candidates, filepath.Join(home, ".ssh", "known_hosts"))
		}
		candidates = append(candidates, "/etc/ssh/ssh_known_hosts")
	}
	var out []string
	for _, c := range candidates {
		if fi, err := os.Stat(c); err == nil && fi.Mode().IsRegular() {
			out = append(out, c)
		}
	}
	return out
}

// cloneError turns go-git's clone errors into what the user should do.
func cloneError(ctx context.Context, shown string, ep *transport.Endpoint, err error) error {
	msg := err.Error()
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("fetch %s: stopped: %w", shown, ctx.Err())
	case netguard.IsBlocked(err):
		var b *netguard.BlockedError
		errors.As(err, &b)
		return fmt.Errorf("fetch %s: refused: %w", shown, b)
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return fmt.Errorf("fetch %s: the repository is empty; push a commit first", shown)
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return fmt.Errorf("fetch %s: repository not found; check the URL, and that the app's credentials may read it", shown)
	case errors.Is(err, transport.ErrAuthenticationRequired):
		return fmt.Errorf("fetch %s: the repository needs credentials; use an ssh URL with a deploy key, or put a token in the https URL", shown)
	case errors.Is(err, transport.ErrAuthorizationFailed):
		return fmt.Errorf("fetch %s: access denied; check that the credentials may read the repository", shown)
	case strings.Contains(msg, "knownhosts: key mismatch"):
		return fmt.Errorf("fetch %s: the host key of %s does not match known_hosts, so the connection may be intercepted; if the server's key really changed, update known_hosts: %w", shown, ep.Host, err)
	case strings.Contains(msg, "knownhosts: key is unknown"):
		return fmt.Errorf("fetch %s: the host key of %s is not in known_hosts; add it (ssh-keyscan -p %d %s >> ~/.ssh/known_hosts) or give it with the app: %w", shown, ep.Host, max(ep.Port, 22), ep.Host, err)
	case strings.Contains(msg, "unable to authenticate"):
		return fmt.Errorf("fetch %s: the server refused the deploy key; add its public key to the repository's deploy keys: %w", shown, err)
	}
	return fmt.Errorf("fetch %s: %w", shown, err)
}

// resolveRef finds the commit ref names: a branch first, then a tag, then
// a commit SHA (full or abbreviated); empty means the remote's HEAD.
func resolveRef(repo *git.Repository, ref, shown string) (plumbing.Hash, error) {
	if ref == "" {
		head, err := repo.Head()
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("fetch %s: the repository has no default branch (HEAD); give a branch, tag or commit", shown)
		}
		return head.Hash(), nil
	}
	name := ref
	wantBranch, wantTag := true, true
	if n, ok := strings.CutPrefix(ref, "refs/heads/"); ok {
		name, wantTag = n, false
	} else if n, ok := strings.CutPrefix(ref, "refs/tags/"); ok {
		name, wantBranch = n, false
	}
	if wantBranch {
		if r, err := repo.Reference(plumbing.NewRemoteReferenceName("origin", name), true); err == nil {
			return r.Hash(), nil
		}
	}
	if wantTag {
		if r, err := repo.Tag(name); err == nil {
			if tag, err := repo.TagObject(r.Hash()); err == nil {
				c, err := tag.Commit()
				if err != nil {
					return plumbing.ZeroHash, fmt.Errorf("tag %q of %s does not point at a commit: %w", name, shown, err)
				}
				return c.Hash, nil
			}
			return r.Hash(), nil
		}
	}
	if wantBranch && wantTag && isHex(name) && len(name) >= 4 && len(name) <= 40 {
		if h, err := repo.ResolveRevision(plumbing.Revision(strings.ToLower(name))); err == nil {
			return *h, nil
		}
	}

	branches, tags := refNames(repo)
	what := "branch or tag"
	switch {
	case !wantTag:
		what = "branch"
	case !wantBranch:
		what = "tag"
	case isHex(name) && len(name) >= 4:
		what = "commit, branch or tag"
	}
	msg := fmt.Sprintf("%s %q not found in %s", what, name, shown)
	if what == "commit, branch or tag" {
		msg += " (is the commit pushed?)"
	}
	msg += "; branches: " + listOrNone(branches)
	if len(tags) > 0 {
		msg += "; tags: " + listOrNone(tags)
	}
	return plumbing.ZeroHash, errors.New(msg)
}

func isHex(s string) bool {
	return s != "" && strings.Trim(strings.ToLower(s), "0123456789abcdef") == ""
}

// refNames lists the remote's branches and the tags, sorted.
func refNames(repo *git.Repository) (branches, tags []string) {
	iter, err := repo.References()
	if err != nil {
		return nil, nil
	}
	_ = iter.ForEach(func(r *plumbing.Reference) error {
		n := r.Name()
		switch {
		case n.IsRemote():
			if b, ok := strings.CutPrefix(n.String(), "refs/remotes/origin/"); ok && b != "HEAD" {
				branches = append(branches, b)
			}
		case n.IsTag():
			tags = append(tags, n.Short())
		}
		return nil
	})
	slices.Sort(branches)
	slices.Sort(tags)
	return branches, tags
}

func listOrNone(names []string) string {
	const most = 20
	if len(names) == 0 {
		return "(none)"
	}
	if len(names) > most {
		return strings.Join(names[:most], ", ") + fmt.Sprintf(" and %d more", len(names)-most)
	}
	return strings.Join(names, ", ")
}

// redactURL hides a password or token in an http(s) URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
		return u.String()
	}
	return s
}
