package apiv1

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// StageMetrics is GET /apps/{app}/stages/{stage}/metrics: each function's
// requests step by step over the range.
type StageMetrics struct {
	App       string            `json:"app"`
	Stage     string            `json:"stage"`
	Range     string            `json:"range"` // 1h, 24h, 7d
	Step      string            `json:"step"`  // 1m0s, 15m0s, 2h0m0s
	Functions []FunctionMetrics `json:"functions"`
}

// FunctionMetrics is one function's totals and steps.
type FunctionMetrics struct {
	Function string        `json:"function"`
	Requests int64         `json:"requests"`
	Errors   int64         `json:"errors"`
	Points   []MetricPoint `json:"points"`
}

// MetricPoint is one step: requests, those answered 5xx, latency
// percentiles in milliseconds (estimated from a histogram), the most
// requests in flight and the most memory seen.
type MetricPoint struct {
	At          time.Time `json:"at"`
	Requests    int64     `json:"requests"`
	Errors      int64     `json:"errors"`
	ColdStarts  int64     `json:"cold_starts"`
	Restarts    int64     `json:"restarts"`
	P50MS       float64   `json:"p50_ms"`
	P95MS       float64   `json:"p95_ms"`
	P99MS       float64   `json:"p99_ms"`
	InFlightMax int64     `json:"in_flight_max"`
	// InstancesMax is the most instances that ran at once in the step.
	InstancesMax int64 `json:"instances_max"`
	MemoryBytes  int64 `json:"memory_bytes"`
}

// RequestLogEntry is one request of a stage's request log.
type RequestLogEntry struct {
	ID         uint      `json:"id"`
	At         time.Time `json:"at"`
	Function   string    `json:"function"`
	Instance   string    `json:"instance,omitempty"`
	Method     string    `json:"method"`
	Path       string    `json:"path"`
	Status     int       `json:"status"`
	DurationMS float64   `json:"duration_ms"`
	Bytes      int64     `json:"bytes"`
	Client     string    `json:"client"`
}

// Issue is one error group: a function's failures that share a signature.
type Issue struct {
	ID         uint       `json:"id"`
	Stage      string     `json:"stage"`
	Function   string     `json:"function"`
	Kind       string     `json:"kind"` // 5xx, crash, oom, timeout, handler_error
	ErrorType  string     `json:"error_type"`
	Message    string     `json:"message"`
	Sample     string     `json:"sample,omitempty"`
	Count      int64      `json:"count"`
	FirstSeen  time.Time  `json:"first_seen"`
	LastSeen   time.Time  `json:"last_seen"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
	ResolvedBy string     `json:"resolved_by,omitempty"`
	Reopened   int64      `json:"reopened"`
}

// StageMetrics reads a stage's metrics over rng ("1h", "24h", "7d"; ""
// is 1h).
func (c *Client) StageMetrics(ctx context.Context, app, stage, rng string) (StageMetrics, error) {
	path := stagePath(app, stage) + "/metrics"
	if rng != "" {
		path += "?range=" + url.QueryEscape(rng)
	}
	var out StageMetrics
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// RequestLogQuery searches a stage's request log. Status is "503" or
// "5xx"; Path matches as a prefix; Before pages back by id.
type RequestLogQuery struct {
	Status, Path, Function string
	Before                 uint
	Limit                  int
}

// RequestLog searches a stage's request log, newest first.
func (c *Client) RequestLog(ctx context.Context, app, stage string, q RequestLogQuery) ([]RequestLogEntry, error) {
	v := url.Values{}
	for k, s := range map[string]string{"status": q.Status, "path": q.Path, "function": q.Function} {
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
	path := stagePath(app, stage) + "/requests"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out []RequestLogEntry
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// Issues lists an app's open error groups (resolved ones too when
// resolved is set).
func (c *Client) Issues(ctx context.Context, app string, resolved bool) ([]Issue, error) {
	path := "/api/v1/apps/" + url.PathEscape(app) + "/issues"
	if resolved {
		path += "?resolved=1"
	}
	var out []Issue
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// ResolveIssue marks an error group resolved; it reopens when it occurs
// again. reopen opens it again instead.
func (c *Client) ResolveIssue(ctx context.Context, app string, id uint, reopen bool) (Issue, error) {
	verb := "/resolve"
	if reopen {
		verb = "/reopen"
	}
	var out Issue
	err := c.do(ctx, http.MethodPost, "/api/v1/apps/"+url.PathEscape(app)+"/issues/"+strconv.FormatUint(uint64(id), 10)+verb, nil, &out)
	return out, err
}

// MetricsSummary is GET /apps/{app}/stages/{stage}/metrics/summary: each
// function's requests over a window as one row, what `seedbed metrics`
// prints.
type MetricsSummary struct {
	App       string            `json:"app"`
	Stage     string            `json:"stage"`
	Since     string            `json:"since"` // as asked: 15m, 1h, 7d or a time
	From      time.Time         `json:"from"`  // the window's start, rounded down to its minute
	Functions []FunctionSummary `json:"functions"`
}

// FunctionSummary is one function over the window: requests, those that
// failed (5xx, by the function or by the gateway for it), the share that
// failed (0 to 1) and latency percentiles in milliseconds, estimated from
// the window's merged histogram.
type FunctionSummary struct {
	Function   string  `json:"function"`
	Requests   int64   `json:"requests"`
	Errors     int64   `json:"errors"`
	ErrorRate  float64 `json:"error_rate"`
	ColdStarts int64   `json:"cold_starts"`
	Restarts   int64   `json:"restarts"`
	P50MS      float64 `json:"p50_ms"`
	P95MS      float64 `json:"p95_ms"`
	P99MS      float64 `json:"p99_ms"`
}

// MetricsSummary reads each function of a stage over since (15m, 1h, 7d,
// or an RFC 3339 time; "" is 1h); function "" reads them all.
func (c *Client) MetricsSummary(ctx context.Context, app, stage, function, since string) (MetricsSummary, error) {
	v := url.Values{}
	if function != "" {
		v.Set("function", function)
	}
	if since != "" {
		v.Set("since", since)
	}
	path := stagePath(app, stage) + "/metrics/summary"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out MetricsSummary
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// IssueQuery narrows an app's error groups: to a stage, a function, and
// with Resolved, the resolved ones too.
type IssueQuery struct {
	Stage, Function string
	Resolved        bool
}

// FindIssues lists an app's error groups that q selects, most recently
// seen first.
func (c *Client) FindIssues(ctx context.Context, app string, q IssueQuery) ([]Issue, error) {
	v := url.Values{}
	if q.Stage != "" {
		v.Set("stage", q.Stage)
	}
	if q.Function != "" {
		v.Set("function", q.Function)
	}
	if q.Resolved {
		v.Set("resolved", "1")
	}
	path := "/api/v1/apps/" + url.PathEscape(app) + "/issues"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out []Issue
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}
