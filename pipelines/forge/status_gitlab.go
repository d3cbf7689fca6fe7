package forge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// GitLabStatuses reports commit statuses through GitLab's REST API
// (POST /api/v4/projects/{id}/statuses/{sha}). The token needs the api
// scope and at least the Developer role.
type GitLabStatuses struct {
	c statusClient
}

// NewGitLabStatuses returns a GitLab status client. baseURL is the
// instance's address (empty for https://gitlab.com); /api/v4 is added
// unless baseURL already ends with it.
// A nil client gets one with a 10 s timeout.
func NewGitLabStatuses(baseURL, token string, client *http.Client) *GitLabStatuses {
	c := newStatusClient("GitLab", baseURL, "https://gitlab.com", "/api/v4", token, client)
	c.headers = func(h http.Header) { h.Set("PRIVATE-TOKEN", token) }
	return &GitLabStatuses{c: c}
}

// Report implements StatusReporter. repo.FullName is the project's full
// path, subgroups included. Seedbed's states map to GitLab's as pending →
// pending, success → success, failure and error → failed.
//
// GitLab refuses to set a status that is already pending or running to the
// same state again ("Cannot transition status via :enqueue from :pending");
// Report treats that answer as success, since the commit already shows
// what was asked.
func (g *GitLabStatuses) Report(ctx context.Context, repo RepoRef, sha string, st Status) error {
	if repo.FullName == "" || !strings.Contains(repo.FullName, "/") {
		return fmt.Errorf("report status to GitLab: project %q is not a full path like group/project", repo.FullName)
	}
	if err := checkSHA("GitLab", sha); err != nil {
		return err
	}
	var state string
	switch st.State {
	case Pending:
		state = "pending"
	case Success:
		state = "success"
	case Failure, Error:
		state = "failed"
	default:
		return fmt.Errorf("report status to GitLab: unknown state %q", st.State)
	}
	body := statusBody{
		State:       state,
		TargetURL:   st.TargetURL,
		Description: description(st.Description),
		Name:        statusContext(st.Context),
	}
	// The project path is one path segment: its slashes are escaped.
	path := "/api/v4/projects/" + url.PathEscape(repo.FullName) + "/statuses" + escapeAll(sha)
	err := g.c.post(ctx, what("GitLab", repo, sha, st), path, body)
	var se *StatusError
	if errors.As(err, &se) && se.StatusCode == http.StatusBadRequest && strings.Contains(se.msg, "Cannot transition status") {
		return nil
	}
	return err
}
