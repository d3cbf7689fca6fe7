package apiv1

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Preview is the preview stage of one pull (merge) request.
type Preview struct {
	Number      int        `json:"number"`
	Stage       string     `json:"stage"` // pr-N
	HeadBranch  string     `json:"head_branch,omitempty"`
	Title       string     `json:"title,omitempty"`
	Status      string     `json:"status"` // "open" or "closed"
	URL         string     `json:"url"`
	ClosedAt    *time.Time `json:"closed_at,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	LiveRelease *Release   `json:"live_release,omitempty"`
	LastDeploy  *Deploy    `json:"last_deploy,omitempty"`
}

// Previews is an app's preview setting and its preview stages, open and
// closed, newest pull request first.
type Previews struct {
	// TemplateStage is the stage previews are cloned from; empty when the
	// app has no preview stages.
	TemplateStage string    `json:"template_stage"`
	Previews      []Preview `json:"previews"`
}

// PreviewSettings turns preview stages on (a template stage) or off ("").
type PreviewSettings struct {
	TemplateStage string `json:"template_stage"`
}

// PreviewRequest opens or updates the preview stage of a pull request:
// the commit (or, without one, the head branch) is built and deployed to it.
type PreviewRequest struct {
	Number     int    `json:"number"`
	HeadBranch string `json:"head_branch,omitempty"`
	Commit     string `json:"commit,omitempty"`
	Title      string `json:"title,omitempty"`
}

// PreviewResponse is the preview stage a request deployed to, with the
// build and deploy it started.
type PreviewResponse struct {
	Preview Preview `json:"preview"`
	Created bool    `json:"created"`
	Build   Build   `json:"build"`
	Deploy  Deploy  `json:"deploy"`
}

func previewsPath(app string) string { return appPath(app) + "/previews" }

// Previews lists an app's preview stages and its template stage.
func (c *Client) Previews(ctx context.Context, app string) (Previews, error) {
	var out Previews
	err := c.do(ctx, http.MethodGet, previewsPath(app), nil, &out)
	return out, err
}

// SetPreviews turns an app's preview stages on with a template stage, or
// off with an empty one.
func (c *Client) SetPreviews(ctx context.Context, app string, req PreviewSettings) (Previews, error) {
	var out Previews
	err := c.do(ctx, http.MethodPut, previewsPath(app), req, &out)
	return out, err
}

// OpenPreview creates, re-opens or updates a pull request's preview stage
// and deploys the commit to it.
func (c *Client) OpenPreview(ctx context.Context, app string, req PreviewRequest) (PreviewResponse, error) {
	var out PreviewResponse
	err := c.do(ctx, http.MethodPost, previewsPath(app), req, &out)
	return out, err
}

// ClosePreview stops a pull request's preview stage, running the remove
// hooks of its live release unless opt.Force; its history stays.
func (c *Client) ClosePreview(ctx context.Context, app string, number int, opt RemoveOptions) (Preview, error) {
	var out Preview
	err := c.do(ctx, http.MethodDelete, fmt.Sprintf("%s/%d", previewsPath(app), number)+opt.query(), nil, &out)
	return out, err
}
