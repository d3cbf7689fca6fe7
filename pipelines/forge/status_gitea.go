package forge

import (
	"context"
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
	return g.c.reportOwnerRepo(ctx, "/api/v1", repo, sha, st)
}
