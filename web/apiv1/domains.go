package apiv1

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Domain is a host name a stage answers on over HTTPS, with the state of
// its DNS and certificate.
type Domain struct {
	// Name is the host name as stored: lower case, an internationalized
	// name as punycode; Display is the same in Unicode.
	Name    string `json:"name"`
	Display string `json:"display"`
	Stage   string `json:"stage"`
	// Status is pending (no certificate yet), issued or failed (the last
	// try failed; LastError says why).
	Status string `json:"status"`
	// DNS is ok (the name resolves to this server), elsewhere (to other
	// addresses, DNSAddrs), missing (it does not resolve) or unknown.
	DNS          string     `json:"dns"`
	DNSAddrs     []string   `json:"dns_addrs,omitempty"`
	DNSCheckedAt *time.Time `json:"dns_checked_at,omitempty"`
	IssuedAt     *time.Time `json:"issued_at,omitempty"`
	ExpiresAt    *time.Time `json:"expires_at,omitempty"`
	LastError    string     `json:"last_error,omitempty"`
	LastErrorAt  *time.Time `json:"last_error_at,omitempty"`
	CreatedBy    string     `json:"created_by,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	// URL is where the stage answers on it.
	URL string `json:"url"`
}

// Domains is an app's domains, with the addresses this server compares
// their DNS with.
type Domains struct {
	Domains   []Domain `json:"domains"`
	PublicIPs []string `json:"public_ips"`
}

// AddDomainRequest registers a host name on a stage.
type AddDomainRequest struct {
	Stage string `json:"stage"`
	Name  string `json:"name"`
}

func domainPath(app, name string) string { return appPath(app) + "/domains/" + url.PathEscape(name) }

// Domains lists an app's domains.
func (c *Client) Domains(ctx context.Context, app string) (Domains, error) {
	var out Domains
	err := c.do(ctx, http.MethodGet, appPath(app)+"/domains", nil, &out)
	return out, err
}

// AddDomain registers a host name on one of an app's stages.
func (c *Client) AddDomain(ctx context.Context, app string, req AddDomainRequest) (Domain, error) {
	var out Domain
	err := c.do(ctx, http.MethodPost, appPath(app)+"/domains", req, &out)
	return out, err
}

// RemoveDomain unregisters one of an app's domains.
func (c *Client) RemoveDomain(ctx context.Context, app, name string) error {
	return c.do(ctx, http.MethodDelete, domainPath(app, name), nil, nil)
}

// CheckDomain looks a domain's DNS up again now and returns its state.
func (c *Client) CheckDomain(ctx context.Context, app, name string) (Domain, error) {
	var out Domain
	err := c.do(ctx, http.MethodPost, domainPath(app, name)+"/check", nil, &out)
	return out, err
}
