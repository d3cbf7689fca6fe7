package apiv1

import (
	"context"
	"net/url"
	"time"
)

// AlertChannel is where an app's notifications go. A URL is never sent
// back: Hint shows its host and last characters.
type AlertChannel struct {
	Name      string    `json:"name"`
	Kind      string    `json:"kind"` // slack, email or webhook
	Hint      string    `json:"hint"`
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// CreateAlertChannelRequest makes a channel: URL for slack and webhook,
// Addresses (comma-separated) for email; Secret signs a webhook channel's
// deliveries (empty: Seedbed makes one).
type CreateAlertChannelRequest struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	URL       string `json:"url,omitempty"`
	Addresses string `json:"addresses,omitempty"`
	Secret    string `json:"secret,omitempty"`
}

// CreateAlertChannelResponse is the new channel and, for a webhook
// channel, its signing secret: shown this once.
type CreateAlertChannelResponse struct {
	Channel AlertChannel `json:"channel"`
	Secret  string       `json:"secret,omitempty"`
}

// AlertRule says what notifies which channel.
type AlertRule struct {
	Name      string     `json:"name"`
	Kind      string     `json:"kind"`
	Stage     string     `json:"stage,omitempty"`
	Function  string     `json:"function,omitempty"`
	Channel   string     `json:"channel"`
	Threshold float64    `json:"threshold,omitempty"`
	Window    string     `json:"window,omitempty"`
	Firing    bool       `json:"firing"`
	FiringFor string     `json:"firing_stage,omitempty"`
	Since     *time.Time `json:"firing_since,omitempty"`
	LastValue float64    `json:"last_value"`
	LastFired *time.Time `json:"last_fired_at,omitempty"`
}

// CreateAlertRuleRequest makes a rule. Threshold is a percentage for
// error_rate, milliseconds for latency_p95 and crashes for crash_loop;
// Window (e.g. "5m") is how far back those look.
type CreateAlertRuleRequest struct {
	Name      string  `json:"name"`
	Kind      string  `json:"kind"`
	Stage     string  `json:"stage,omitempty"`
	Function  string  `json:"function,omitempty"`
	Channel   string  `json:"channel"`
	Threshold float64 `json:"threshold,omitempty"`
	Window    string  `json:"window,omitempty"`
}

// AlertDelivery is one notification with its attempts.
type AlertDelivery struct {
	ID            uint       `json:"id"`
	DeliveryID    string     `json:"delivery_id"`
	Channel       string     `json:"channel"`
	Rule          string     `json:"rule,omitempty"`
	Event         string     `json:"event"`
	Stage         string     `json:"stage,omitempty"`
	Title         string     `json:"title"`
	URL           string     `json:"url"`
	Status        string     `json:"status"` // pending, retrying, delivered, failed
	Attempts      int        `json:"attempts"`
	ResponseCode  int        `json:"response_code,omitempty"`
	Error         string     `json:"error,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	LastAttemptAt *time.Time `json:"last_attempt_at,omitempty"`
}

// Alerts is an app's channels, rules and latest deliveries.
type Alerts struct {
	Channels   []AlertChannel  `json:"channels"`
	Rules      []AlertRule     `json:"rules"`
	Deliveries []AlertDelivery `json:"deliveries"`
}

func alertsPath(app string) string { return appPath(app) + "/alerts" }

// Alerts reads an app's channels, rules and latest deliveries.
func (c *Client) Alerts(ctx context.Context, app string) (Alerts, error) {
	var out Alerts
	err := c.do(ctx, "GET", alertsPath(app), nil, &out)
	return out, err
}

// CreateAlertChannel makes a channel of an app.
func (c *Client) CreateAlertChannel(ctx context.Context, app string, req CreateAlertChannelRequest) (CreateAlertChannelResponse, error) {
	var out CreateAlertChannelResponse
	err := c.do(ctx, "POST", alertsPath(app)+"/channels", req, &out)
	return out, err
}

// DeleteAlertChannel removes a channel no rule sends to.
func (c *Client) DeleteAlertChannel(ctx context.Context, app, name string) error {
	return c.do(ctx, "DELETE", alertsPath(app)+"/channels/"+url.PathEscape(name), nil, nil)
}

// TestAlertChannel queues a test notification to a channel.
func (c *Client) TestAlertChannel(ctx context.Context, app, name string) (AlertDelivery, error) {
	var out AlertDelivery
	err := c.do(ctx, "POST", alertsPath(app)+"/channels/"+url.PathEscape(name)+"/test", nil, &out)
	return out, err
}

// CreateAlertRule makes a rule of an app.
func (c *Client) CreateAlertRule(ctx context.Context, app string, req CreateAlertRuleRequest) (AlertRule, error) {
	var out AlertRule
	err := c.do(ctx, "POST", alertsPath(app)+"/rules", req, &out)
	return out, err
}

// DeleteAlertRule removes a rule.
func (c *Client) DeleteAlertRule(ctx context.Context, app, name string) error {
	return c.do(ctx, "DELETE", alertsPath(app)+"/rules/"+url.PathEscape(name), nil, nil)
}
