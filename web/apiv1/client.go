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
}

// NewClient makes a client for the server at baseURL.
func NewClient(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token, HTTP: &http.Client{Timeout: 60 * time.Second}}
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
