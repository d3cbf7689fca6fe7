package forge

import (
	"context"
	"net/http"
)

// GitHubStatuses reports commit statuses through GitHub's REST API
// (POST /repos/{owner}/{repo}/statuses/{sha}). The token needs the
// "Commit statuses: write" permission (fine-grained) or repo:status scope.
type GitHubStatuses struct {
	c statusClient
}

// NewGitHubStatuses returns a GitHub status client. baseURL is the API
// root: empty for https://api.github.com, https://HOST/api/v3 for GitHub
// Enterprise Server. A nil client gets one with a 10 s timeout.
func NewGitHubStatuses(baseURL, token string, client *http.Client) *GitHubStatuses {
	c := newStatusClient("GitHub", baseURL, "https://api.github.com", "", token, client)
	c.headers = func(h http.Header) {
		h.Set("Authorization", "Bearer "+token)
		h.Set("Accept", "application/vnd.github+json")
		h.Set("X-GitHub-Api-Version", "2022-11-28")
	}
	return &GitHubStatuses{c: c}
}

// Report implements StatusReporter. repo.FullName must be "owner/name".
func (g *GitHubStatuses) Report(ctx context.Context, repo RepoRef, sha string, st Status) error {
	return g.c.reportOwnerRepo(ctx, "", repo, sha, st)
}
