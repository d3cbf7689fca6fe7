package forge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// StatusState is the state of a commit status, in Seedbed's words; each
// client maps it to its forge's.
type StatusState string

// Commit status states.
const (
	// Pending: queued, building or deploying.
	Pending StatusState = "pending"
	// Success: built and deployed.
	Success StatusState = "success"
	// Failure: the user's code failed (build command, hook, health check).
	Failure StatusState = "failure"
	// Error: Seedbed could not do its part (an internal failure).
	Error StatusState = "error"
)

// MaxDescription is the longest status description forges accept (GitHub's
// limit, in characters); longer ones are cut to it.
const MaxDescription = 140

// DefaultContext names Seedbed's statuses when Status.Context is empty.
const DefaultContext = "seedbed"

// Status is what a commit status shows.
type Status struct {
	State StatusState
	// TargetURL links to the build or deploy in the console.
	TargetURL string
	// Description is one line; cut to MaxDescription characters.
	Description string
	// Context tells Seedbed's statuses apart on a commit, e.g.
	// "seedbed/dev" for the dev stage. Empty means DefaultContext. A new
	// status with the same context replaces the old one.
	Context string
}

// StatusReporter sets a status on a commit of a repository on a forge.
//
// Reporting is best effort. A caller logs a failed Report (the error names
// the forge's HTTP status and a short excerpt of its answer, never the
// token) and goes on: a build or deploy must never fail, wait or retry
// because its status could not be reported. Use a context with a deadline;
// the clients' default HTTP timeout is 10 s.
type StatusReporter interface {
	Report(ctx context.Context, repo RepoRef, sha string, st Status) error
}

// NewStatusReporter returns the StatusReporter for a forge. baseURL may be
// empty for GitHub (https://api.github.com) and GitLab (https://gitlab.com);
// Gitea and Forgejo are self-hosted, so theirs is required when reporting.
// Bitbucket statuses are not implemented yet: an error wrapping
// ErrUnsupported.
func NewStatusReporter(kind Kind, baseURL, token string, client *http.Client) (StatusReporter, error) {
	switch kind {
	case GitHub:
		return NewGitHubStatuses(baseURL, token, client), nil
	case GitLab:
		return NewGitLabStatuses(baseURL, token, client), nil
	case Gitea:
		return NewGiteaStatuses(baseURL, token, client), nil
	case Bitbucket:
		return nil, fmt.Errorf("commit statuses on Bitbucket: %w", ErrUnsupported)
	}
	_, err := ParseKind(string(kind))
	return nil, err
}

// statusClient is what the three clients share: where to send, with what
// credentials, and how to read the answer.
type statusClient struct {
	forge   string // for messages
	base    string // API base URL without a trailing slash
	token   string
	client  *http.Client
	headers func(h http.Header)
}

// newStatusClient normalizes baseURL: no trailing slash, and no API prefix
// (apiPath) if the user pasted the API's address rather than the site's.
func newStatusClient(forge, baseURL, defaultBase, apiPath, token string, client *http.Client) statusClient {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	base := strings.TrimRight(strings.TrimSpace(baseURL), "/")
	if apiPath != "" {
		base = strings.TrimSuffix(base, apiPath)
	}
	if base == "" {
		base = defaultBase
	}
	return statusClient{forge: forge, base: base, token: token, client: client}
}

// reportOwnerRepo posts a status to {apiPrefix}/repos/{owner}/{repo}/statuses/{sha},
// the shape GitHub's and Gitea's APIs share (same states, same body).
func (c statusClient) reportOwnerRepo(ctx context.Context, apiPrefix string, repo RepoRef, sha string, st Status) error {
	owner, name, err := splitRepo(c.forge, repo)
	if err != nil {
		return err
	}
	if err := checkSHA(c.forge, sha); err != nil {
		return err
	}
	switch st.State {
	case Pending, Success, Failure, Error:
	default:
		return fmt.Errorf("report status to %s: unknown state %q", c.forge, st.State)
	}
	body := statusBody{
		State:       string(st.State),
		TargetURL:   st.TargetURL,
		Description: description(st.Description),
		Context:     statusContext(st.Context),
	}
	return c.post(ctx, what(c.forge, repo, sha, st), apiPrefix+"/repos"+escapeAll(owner, name)+"/statuses"+escapeAll(sha), body)
}

// post sends body as JSON to c.base+path. path must be escaped already.
func (c statusClient) post(ctx context.Context, what, path string, body any) error {
	if c.base == "" {
		return fmt.Errorf("%s: no %s API URL configured: set it in the app's forge settings", what, c.forge)
	}
	if c.token == "" {
		return fmt.Errorf("%s: no %s token configured: add an access token that may set commit statuses", what, c.forge)
	}
	data, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("%s: encode: %w", what, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(data))
	if err != nil {
		return c.wrap(what, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Seedbed")
	c.headers(req.Header)
	resp, err := c.client.Do(req)
	if err != nil {
		return c.wrap(what, err)
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode/100 == 2 {
		return nil
	}
	// Scrub before cutting, or a token split by the cut would survive.
	return &StatusError{
		Forge:      c.forge,
		StatusCode: resp.StatusCode,
		msg:        fmt.Sprintf("%s: %s answered %s: %s", what, c.forge, resp.Status, clip(oneLine(c.scrub(string(excerpt))), 200)),
	}
}

// statusBody is the JSON the three APIs take; GitLab calls the context
// "name".
type statusBody struct {
	State       string `json:"state"`
	TargetURL   string `json:"target_url,omitempty"`
	Description string `json:"description,omitempty"`
	Context     string `json:"context,omitempty"`
	Name        string `json:"name,omitempty"`
}

// wrap adds context to err and keeps the token out of its message. The
// token travels in a header, never in the URL, but a base URL with
// credentials in it or a chatty proxy could still echo it.
func (c statusClient) wrap(what string, err error) error {
	return &scrubbedError{msg: c.scrub(what + ": " + err.Error()), err: err}
}

// scrubbedError is an error whose message had the token removed; errors.Is
// and errors.As still see the original.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrub removes the token from s.
func (c statusClient) scrub(s string) string {
	if c.token == "" {
		return s
	}
	return strings.ReplaceAll(s, c.token, "[token]")
}

// StatusError is a forge's refusal of a commit status. Its message names
// the forge's HTTP status and a short excerpt of the answer, never the
// token. 401 and 403 mean the token is wrong or may not set statuses; 404
// often means the same, or a wrong repository name or API URL.
type StatusError struct {
	Forge      string
	StatusCode int
	msg        string
}

// Error implements error.
func (e *StatusError) Error() string { return e.msg }

// splitRepo splits "owner/name" for the APIs that take them apart.
func splitRepo(forge string, repo RepoRef) (owner, name string, err error) {
	owner, name, ok := strings.Cut(repo.FullName, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("report status to %s: repository %q is not owner/name", forge, repo.FullName)
	}
	return owner, name, nil
}

// checkSHA refuses what cannot be a commit id, so it is never spliced into
// a URL path.
func checkSHA(forge, sha string) error {
	if len(sha) < 7 || len(sha) > 64 || strings.Trim(strings.ToLower(sha), "0123456789abcdef") != "" {
		return fmt.Errorf("report status to %s: %q is not a commit SHA", forge, sha)
	}
	return nil
}

// description cuts d to one line of at most MaxDescription characters.
func description(d string) string {
	d = oneLine(d)
	if utf8.RuneCountInString(d) > MaxDescription {
		d = clip(d, MaxDescription)
	}
	return d
}

func statusContext(c string) string {
	if c = strings.TrimSpace(c); c == "" {
		return DefaultContext
	}
	return c
}

func what(forge string, repo RepoRef, sha string, st Status) string {
	return fmt.Sprintf("report %s status %q for %s@%s to %s", st.State, statusContext(st.Context), repo.FullName, short(sha), forge)
}

func escapeAll(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString("/")
		b.WriteString(url.PathEscape(p))
	}
	return b.String()
}
