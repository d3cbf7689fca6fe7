package apiv1

import (
	"context"
	"net/http"
)

// AppSettings are an app's forge settings: where commit statuses go and
// how often Seedbed polls the repository. The access token is never sent
// back, only whether one is set.
type AppSettings struct {
	// Forge is github, gitlab, gitea or bitbucket; empty means none.
	Forge string `json:"forge"`
	// APIURL is the forge's API base URL; empty means github.com's or
	// gitlab.com's.
	APIURL string `json:"api_url"`
	// Repo is the repository's path on the forge (owner/name); empty
	// means RepoDerived, read from the app's repository URL.
	Repo        string `json:"repo"`
	RepoDerived string `json:"repo_derived,omitempty"`
	// Token is "set" or "not set".
	Token string `json:"token"`
	// Poll is the polling interval ("1m0s"); "0s" means no polling.
	Poll        string `json:"poll"`
	PollSeconds int    `json:"poll_seconds"`
}

// AppSettingsRequest changes an app's forge settings; omitted fields are
// kept. An empty Token removes the token; Poll is a Go duration ("1m",
// "0" turns polling off).
type AppSettingsRequest struct {
	Forge  *string `json:"forge,omitempty"`
	APIURL *string `json:"api_url,omitempty"`
	Repo   *string `json:"repo,omitempty"`
	Token  *string `json:"token,omitempty"`
	Poll   *string `json:"poll,omitempty"`
}

// AppSettings returns an app's forge settings.
func (c *Client) AppSettings(ctx context.Context, app string) (AppSettings, error) {
	var out AppSettings
	err := c.do(ctx, http.MethodGet, appPath(app)+"/settings", nil, &out)
	return out, err
}

// UpdateAppSettings changes an app's forge settings and returns them.
func (c *Client) UpdateAppSettings(ctx context.Context, app string, req AppSettingsRequest) (AppSettings, error) {
	var out AppSettings
	err := c.do(ctx, http.MethodPut, appPath(app)+"/settings", req, &out)
	return out, err
}
