package apiv1

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Roles a user can hold on an app. A viewer reads; a deployer also deploys,
// promotes, rolls back, cancels and sets variables; an owner also manages
// stages, settings and members. Admins own every app.
const (
	RoleViewer   = "viewer"
	RoleDeployer = "deployer"
	RoleOwner    = "owner"
)

// Member is a user's role on an app.
type Member struct {
	Email string    `json:"email"`
	Role  string    `json:"role"`
	Since time.Time `json:"since"`
}

// SetMemberRequest gives a user a role on an app.
type SetMemberRequest struct {
	Role string `json:"role"`
}

// CreateUserRequest adds a user; only admins may.
type CreateUserRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Admin    bool   `json:"admin"`
	Approver bool   `json:"approver"`
	// Creator lets the user create apps (admins always may).
	Creator bool `json:"creator"`
}

// UpdateUserRequest changes what a user may do; only admins may. Fields
// left out (null) are kept.
type UpdateUserRequest struct {
	Admin    *bool `json:"admin,omitempty"`
	Approver *bool `json:"approver,omitempty"`
	Creator  *bool `json:"creator,omitempty"`
}

// Account is a user as admins see it.
type Account struct {
	ID         uint      `json:"id"`
	Email      string    `json:"email"`
	IsAdmin    bool      `json:"is_admin"`
	IsApprover bool      `json:"is_approver"`
	IsCreator  bool      `json:"is_creator"`
	CreatedAt  time.Time `json:"created_at"`
}

// Token is a personal API token; its secret is only shown when made.
type Token struct {
	ID         uint       `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// CreateTokenRequest makes a personal API token.
type CreateTokenRequest struct {
	Name string `json:"name"`
}

// CreateTokenResponse carries the new token's secret, shown this once.
type CreateTokenResponse struct {
	Token  string `json:"token"`
	Detail Token  `json:"detail"`
}

// Session is a signed-in browser.
type Session struct {
	ID        uint      `json:"id"`
	UserAgent string    `json:"user_agent"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

func memberPath(app, email string) string { return appPath(app) + "/members/" + url.PathEscape(email) }

// Members lists who holds which role on an app.
func (c *Client) Members(ctx context.Context, app string) ([]Member, error) {
	var out []Member
	err := c.do(ctx, http.MethodGet, appPath(app)+"/members", nil, &out)
	return out, err
}

// SetMember gives the user with email a role on an app.
func (c *Client) SetMember(ctx context.Context, app, email, role string) (Member, error) {
	var out Member
	err := c.do(ctx, http.MethodPut, memberPath(app, email), SetMemberRequest{Role: role}, &out)
	return out, err
}

// RemoveMember takes a user's role on an app away.
func (c *Client) RemoveMember(ctx context.Context, app, email string) error {
	return c.do(ctx, http.MethodDelete, memberPath(app, email), nil, nil)
}

// CreateUser adds a user; only admins may.
func (c *Client) CreateUser(ctx context.Context, req CreateUserRequest) (Account, error) {
	var out Account
	err := c.do(ctx, http.MethodPost, "/api/v1/users", req, &out)
	return out, err
}

// Users lists every user by email; only admins may.
func (c *Client) Users(ctx context.Context) ([]Account, error) {
	var out []Account
	err := c.do(ctx, http.MethodGet, "/api/v1/users", nil, &out)
	return out, err
}

// UpdateUser changes what the user with email may do; only admins may.
func (c *Client) UpdateUser(ctx context.Context, email string, req UpdateUserRequest) (Account, error) {
	var out Account
	err := c.do(ctx, http.MethodPatch, "/api/v1/users/"+url.PathEscape(email), req, &out)
	return out, err
}

// Tokens lists the signed-in user's API tokens, revoked ones included.
func (c *Client) Tokens(ctx context.Context) ([]Token, error) {
	var out []Token
	err := c.do(ctx, http.MethodGet, "/api/v1/tokens", nil, &out)
	return out, err
}

// CreateToken makes a personal API token and returns its secret.
func (c *Client) CreateToken(ctx context.Context, name string) (CreateTokenResponse, error) {
	var out CreateTokenResponse
	err := c.do(ctx, http.MethodPost, "/api/v1/tokens", CreateTokenRequest{Name: name}, &out)
	return out, err
}

// RevokeToken stops one of the signed-in user's tokens working at once.
func (c *Client) RevokeToken(ctx context.Context, id uint) error {
	return c.do(ctx, http.MethodDelete, fmt.Sprintf("/api/v1/tokens/%d", id), nil, nil)
}

// Sessions lists the signed-in user's browser sessions.
func (c *Client) Sessions(ctx context.Context) ([]Session, error) {
	var out []Session
	err := c.do(ctx, http.MethodGet, "/api/v1/sessions", nil, &out)
	return out, err
}

// RevokeSession signs one of the user's browsers out.
func (c *Client) RevokeSession(ctx context.Context, id uint) error {
	return c.do(ctx, http.MethodDelete, fmt.Sprintf("/api/v1/sessions/%d", id), nil, nil)
}
