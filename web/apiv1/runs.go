package apiv1

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// BuildsQuery narrows GET /apps/{app}/builds. Empty fields match every
// build; Before pages: pass the id of the last build you have.
type BuildsQuery struct {
	Ref     string
	Status  string
	Trigger string
	Before  uint
	Limit   int // 0: the server's default, 50
}

// ListBuilds lists an app's builds matching q, newest first.
func (c *Client) ListBuilds(ctx context.Context, app string, q BuildsQuery) ([]Build, error) {
	v := url.Values{}
	for k, s := range map[string]string{"ref": q.Ref, "status": q.Status, "trigger": q.Trigger} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Before != 0 {
		v.Set("before", strconv.FormatUint(uint64(q.Before), 10))
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	path := "/api/v1/apps/" + url.PathEscape(app) + "/builds"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out []Build
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// ActivityEntry is one build or deploy in the activity feed, or (for
// admins) an invite that was revoked: Email is who was invited, TriggeredBy
// who revoked it, CreatedAt when.
type ActivityEntry struct {
	Kind        string     `json:"kind"` // "build", "deploy" or "invite"
	ID          uint       `json:"id"`
	App         string     `json:"app"`
	Stage       string     `json:"stage,omitempty"`  // deploys
	Ref         string     `json:"ref,omitempty"`    // builds
	Commit      string     `json:"commit,omitempty"` // builds, once resolved
	BuildID     uint       `json:"build_id,omitempty"`
	Status      string     `json:"status"`
	Trigger     string     `json:"trigger"`
	TriggeredBy string     `json:"triggered_by,omitempty"`
	DecidedBy   string     `json:"decided_by,omitempty"`
	DecidedAt   *time.Time `json:"decided_at,omitempty"`
	Email       string     `json:"email,omitempty"` // invites
	URL         string     `json:"url"`
	CreatedAt   time.Time  `json:"created_at"`
}

// Activity lists builds and deploys of the apps the caller sees, newest
// first; before (zero: now) pages back in time.
func (c *Client) Activity(ctx context.Context, before time.Time, limit int) ([]ActivityEntry, error) {
	v := url.Values{}
	if !before.IsZero() {
		v.Set("before", before.UTC().Format(time.RFC3339Nano))
	}
	if limit != 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	path := "/api/v1/activity"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out []ActivityEntry
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// CreateInviteRequest invites someone to become a user.
type CreateInviteRequest struct {
	Email    string `json:"email"`
	Admin    bool   `json:"admin"`
	Approver bool   `json:"approver"`
	Creator  bool   `json:"creator"` // the user it signs up may create apps
}

// Invite is a one-time sign-up link; URL is shown only when it is made.
type Invite struct {
	ID         uint      `json:"id"`
	Email      string    `json:"email"`
	IsAdmin    bool      `json:"is_admin"`
	IsApprover bool      `json:"is_approver"`
	IsCreator  bool      `json:"is_creator"`
	URL        string    `json:"url,omitempty"`
	CreatedBy  string    `json:"created_by,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// CreateInvite makes a one-time link for req.Email (admins only).
func (c *Client) CreateInvite(ctx context.Context, req CreateInviteRequest) (Invite, error) {
	var out Invite
	err := c.do(ctx, http.MethodPost, "/api/v1/invites", req, &out)
	return out, err
}

// Invites lists the invites whose links still work: unused, not revoked,
// not expired; newest first (admins only).
func (c *Client) Invites(ctx context.Context) ([]Invite, error) {
	var out []Invite
	err := c.do(ctx, http.MethodGet, "/api/v1/invites", nil, &out)
	return out, err
}

// RevokeInvite makes an unused invite's link stop working at once (admins
// only).
func (c *Client) RevokeInvite(ctx context.Context, id uint) error {
	return c.do(ctx, http.MethodDelete, fmt.Sprintf("/api/v1/invites/%d", id), nil, nil)
}
