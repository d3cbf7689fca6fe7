package forge

import (
	"context"
	"fmt"
	"net/http"
)

// GiteaStatuses reports commit statuses through the Gitea or Forgejo REST
// API (POST /api/v1/repos/{owner}/{repo}/statuses/{sha}). The token needs
// the write:repository scope.
type GiteaStatuses struct {
	c statusClient
}

// NewGiteaStatuses returns a Gitea/Forgejo status client. baseURL is the
// instance's address, such as https://codeberg.org; /api/v1 is added
// unless baseURL already ends with it. It
// has no default: Report fails until one is set. A nil client gets one
// with a 10 s timeout.
func NewGiteaStatuses(baseURL, token string, client *http.Client) *GiteaStatuses {
	c := newStatusClient("Gitea/Forgejo", baseURL, "", "/api/v1", token, client)
	c.headers = func(h http.Header) { h.Set("Authorization", "token "+token) }
	return &GiteaStatuses{c: c}
}

// Report implements StatusReporter. repo.FullName must be "owner/name".
func (g *GiteaStatuses) Report(ctx context.Context, repo RepoRef, sha string, st Status) error {
	owner, name, err := splitRepo("Gitea/Forgejo", repo)
	if err != nil {
		return err
	}
	if err := checkSHA("Gitea/Forgejo", sha); err != nil {
		return err
	}
	var state string
	switch st.State {
	case Pending, Success, Failure, Error:
		state = string(st.State)
	default:
		return fmt.Errorf("report status to Gitea/Forgejo: unknown state %q", st.State)
	}
	body := statusBody{
		State:       state,
		TargetURL:   st.TargetURL,
		Description: description(st.Description),
		Context:     statusContext(st.Context),
	}
	return g.c.post(ctx, what("Gitea/Forgejo", repo, sha, st), "/api/v1/repos"+escapeAll(owner, name)+"/statuses"+escapeAll(sha), body)
}
