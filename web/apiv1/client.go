package apiv1

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
)

// Client talks to a Seedbed server's API with a bearer token.
type Client struct {
	BaseURL string // e.g. http://127.0.0.1:8080
	Token   string
	HTTP    *http.Client
	// UserAgent names the caller; the server records "seedbed-cli/…" calls
	// as triggered by the CLI.
	UserAgent string
}

// NewClient makes a client for the server at baseURL.
func NewClient(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token, HTTP: &http.Client{Timeout: 60 * time.Second}, UserAgent: "seedbed-api-client"}
}

// APIError is a non-2xx answer.
type APIError struct {
	Status int
	Body   Error
}

// Error implements error with the server's message.
func (e *APIError) Error() string {
	if e.Body.Message != "" {
		return e.Body.Message
	}
	return fmt.Sprintf("server answered %d", e.Status)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.UserAgent)
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("reach Seedbed at %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		apiErr := &APIError{Status: resp.StatusCode}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(b, &apiErr.Body) != nil || apiErr.Body.Message == "" {
			apiErr.Body.Message = fmt.Sprintf("%s %s: server answered %s", method, path, resp.Status)
		}
		return apiErr
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// Login exchanges an email and password for a new API token.
func (c *Client) Login(ctx context.Context, req LoginRequest) (LoginResponse, error) {
	var out LoginResponse
	err := c.do(ctx, http.MethodPost, "/api/v1/login", req, &out)
	return out, err
}

// Me returns the user the token belongs to.
func (c *Client) Me(ctx context.Context) (User, error) {
	var out User
	err := c.do(ctx, http.MethodGet, "/api/v1/me", nil, &out)
	return out, err
}

// CreateApp connects a repository.
func (c *Client) CreateApp(ctx context.Context, req CreateAppRequest) (App, error) {
	var out App
	err := c.do(ctx, http.MethodPost, "/api/v1/apps", req, &out)
	return out, err
}

// Apps lists the apps.
func (c *Client) Apps(ctx context.Context) ([]App, error) {
	var out []App
	err := c.do(ctx, http.MethodGet, "/api/v1/apps", nil, &out)
	return out, err
}

// App returns one app with its stages.
func (c *Client) App(ctx context.Context, name string) (App, error) {
	var out App
	err := c.do(ctx, http.MethodGet, "/api/v1/apps/"+url.PathEscape(name), nil, &out)
	return out, err
}

// Deploy builds a ref of an app and deploys it to a stage.
func (c *Client) Deploy(ctx context.Context, app string, req DeployRequest) (DeployResponse, error) {
	var out DeployResponse
	err := c.do(ctx, http.MethodPost, "/api/v1/apps/"+url.PathEscape(app)+"/deploys", req, &out)
	return out, err
}

// Builds lists an app's newest builds.
func (c *Client) Builds(ctx context.Context, app string) ([]Build, error) {
	var out []Build
	err := c.do(ctx, http.MethodGet, "/api/v1/apps/"+url.PathEscape(app)+"/builds", nil, &out)
	return out, err
}

// Build returns one build.
func (c *Client) Build(ctx context.Context, id uint) (Build, error) {
	var out Build
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/builds/%d", id), nil, &out)
	return out, err
}

// BuildLogs returns log lines of a build after line id after.
func (c *Client) BuildLogs(ctx context.Context, id, after uint) (LogPage, error) {
	var out LogPage
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/builds/%d/logs?after=%d", id, after), nil, &out)
	return out, err
}

// GetDeploy returns one deploy.
func (c *Client) GetDeploy(ctx context.Context, id uint) (Deploy, error) {
	var out Deploy
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/deploys/%d", id), nil, &out)
	return out, err
}

// DeployLogs returns log lines of a deploy after line id after.
func (c *Client) DeployLogs(ctx context.Context, id, after uint) (LogPage, error) {
	var out LogPage
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/deploys/%d/logs?after=%d", id, after), nil, &out)
	return out, err
}

func appPath(app string) string { return "/api/v1/apps/" + url.PathEscape(app) }

func stagePath(app, stage string) string { return appPath(app) + "/stages/" + url.PathEscape(stage) }

// Stages lists an app's stages in pipeline order.
func (c *Client) Stages(ctx context.Context, app string) ([]Stage, error) {
	var out []Stage
	err := c.do(ctx, http.MethodGet, appPath(app)+"/stages", nil, &out)
	return out, err
}

// CreateStage adds a stage to an app's pipeline.
func (c *Client) CreateStage(ctx context.Context, app string, req StageRequest) (Stage, error) {
	var out Stage
	err := c.do(ctx, http.MethodPost, appPath(app)+"/stages", req, &out)
	return out, err
}

// UpdateStage changes a stage's settings.
func (c *Client) UpdateStage(ctx context.Context, app, stage string, req StageRequest) (Stage, error) {
	var out Stage
	err := c.do(ctx, http.MethodPatch, stagePath(app, stage), req, &out)
	return out, err
}

// RemoveOptions says how a stage is taken down.
type RemoveOptions struct {
	// Force skips the remove hooks of the stage's live release.
	Force bool
}

func (o RemoveOptions) query() string {
	if o.Force {
		return "?force=true"
	}
	return ""
}

// DeleteStage removes a stage and stops its functions, running the
// remove hooks of its live release unless opt.Force.
func (c *Client) DeleteStage(ctx context.Context, app, stage string, opt RemoveOptions) error {
	return c.do(ctx, http.MethodDelete, stagePath(app, stage)+opt.query(), nil, nil)
}

// ReorderStages sets the pipeline order.
func (c *Client) ReorderStages(ctx context.Context, app string, stages []string) ([]Stage, error) {
	var out []Stage
	err := c.do(ctx, http.MethodPut, appPath(app)+"/stages", OrderRequest{Stages: stages}, &out)
	return out, err
}

// Vars lists a stage's variables.
func (c *Client) Vars(ctx context.Context, app, stage string) ([]Var, error) {
	var out []Var
	err := c.do(ctx, http.MethodGet, stagePath(app, stage)+"/vars", nil, &out)
	return out, err
}

// SetVar sets a stage variable.
func (c *Client) SetVar(ctx context.Context, app, stage, key string, req SetVarRequest) error {
	return c.do(ctx, http.MethodPut, stagePath(app, stage)+"/vars/"+url.PathEscape(key), req, nil)
}

// UnsetVar removes a stage variable.
func (c *Client) UnsetVar(ctx context.Context, app, stage, key string) error {
	return c.do(ctx, http.MethodDelete, stagePath(app, stage)+"/vars/"+url.PathEscape(key), nil, nil)
}

// PlanPromotion shows what a promotion would do, changing nothing.
func (c *Client) PlanPromotion(ctx context.Context, app string, req PromoteRequest) (PromotionPlan, error) {
	var out PromotionPlan
	q := url.Values{"from": {req.From}, "to": {req.To}}
	err := c.do(ctx, http.MethodGet, appPath(app)+"/promotions?"+q.Encode(), nil, &out)
	return out, err
}

// Promote deploys the release live in From to To without building.
func (c *Client) Promote(ctx context.Context, app string, req PromoteRequest) (Deploy, error) {
	var out Deploy
	err := c.do(ctx, http.MethodPost, appPath(app)+"/promotions", req, &out)
	return out, err
}

// Rollback deploys an earlier release of a stage again.
func (c *Client) Rollback(ctx context.Context, app, stage string, req RollbackRequest) (Deploy, error) {
	var out Deploy
	err := c.do(ctx, http.MethodPost, stagePath(app, stage)+"/rollback", req, &out)
	return out, err
}

// Deploys lists an app's newest deploys.
func (c *Client) Deploys(ctx context.Context, app string) ([]Deploy, error) {
	var out []Deploy
	err := c.do(ctx, http.MethodGet, appPath(app)+"/deploys", nil, &out)
	return out, err
}

// Approve lets a promotion that awaits approval go ahead.
func (c *Client) Approve(ctx context.Context, id uint) (Deploy, error) {
	var out Deploy
	err := c.do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/deploys/%d/approve", id), struct{}{}, &out)
	return out, err
}

// Reject turns a promotion down.
func (c *Client) Reject(ctx context.Context, id uint, reason string) (Deploy, error) {
	var out Deploy
	err := c.do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/deploys/%d/reject", id), RejectRequest{Reason: reason}, &out)
	return out, err
}

// CancelDeploy stops a deploy.
func (c *Client) CancelDeploy(ctx context.Context, id uint) (Deploy, error) {
	var out Deploy
	err := c.do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/deploys/%d/cancel", id), struct{}{}, &out)
	return out, err
}

// CancelBuild stops a build.
func (c *Client) CancelBuild(ctx context.Context, id uint) (Build, error) {
	var out Build
	err := c.do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/builds/%d/cancel", id), struct{}{}, &out)
	return out, err
}

// Webhooks returns an app's webhook secret, URLs and recent deliveries.
func (c *Client) Webhooks(ctx context.Context, app string) (Webhooks, error) {
	var out Webhooks
	err := c.do(ctx, http.MethodGet, appPath(app)+"/webhooks", nil, &out)
	return out, err
}
