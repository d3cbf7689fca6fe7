package views

import (
	"strconv"
	"time"
)

// RangeLink is one of the spans a metrics page offers (1h, 24h, 7d).
type RangeLink struct {
	Name   string
	URL    string
	Active bool
}

// ObserveNav links a stage's metrics, request log and the app's issues.
type ObserveNav struct {
	App, Stage  string
	AppURL      string
	MetricsURL  string // the stage's metrics page
	RequestsURL string // the stage's request log
	MapURL      string // the stage's map
	IssuesURL   string // the app's error groups
	Active      string // "metrics", "requests", "issues", "function", "map"
}

// StageMetricsModel is a stage's metrics page: a small chart of requests,
// errors and p95 per function.
type StageMetricsModel struct {
	Page Page
	Nav  ObserveNav
	// Off says the server collects no metrics (no gateway in this
	// process); the page says so instead of showing empty charts.
	Off       bool
	Range     string
	Ranges    []RangeLink
	Functions []FunctionMetrics
}

// FunctionMetrics is one function's charts and totals over the range.
type FunctionMetrics struct {
	Key      string
	URL      string // its function page
	Requests int64
	Errors   int64
	P95      time.Duration
	Charts   []Chart // requests, errors, p95
}

// ErrorRate is Errors/Requests as a percentage.
func (f FunctionMetrics) ErrorRate() string {
	if f.Requests == 0 {
		return "–"
	}
	return FormatPercent(float64(f.Errors) / float64(f.Requests))
}

// FunctionPageModel is one function of one stage: its charts with the
// stage's deploys marked on the time axis, its recent deploys, its recent
// requests and its open error groups.
type FunctionPageModel struct {
	Page     Page
	Nav      ObserveNav
	Function string
	Off      bool
	Range    string
	Ranges   []RangeLink
	Totals   FunctionTotals
	Charts   []Chart
	Deploys  []DeployRow
	Requests []RequestRow
	// RequestsURL searches the request log for this function.
	RequestsURL string
	Issues      []IssueRow
}

// FunctionTotals sums a function's range.
type FunctionTotals struct {
	Requests, Errors, ColdStarts, Restarts int64
	P50, P95, P99                          time.Duration
	MemoryBytes                            int64 // the most seen in the range
}

// RequestRow is one request log entry.
type RequestRow struct {
	At          time.Time
	Method      string
	Path        string
	Status      int
	Duration    time.Duration
	Bytes       int64
	Function    string
	FunctionURL string
	Instance    string
	Client      string
}

// StatusText is the status as a string.
func (r RequestRow) StatusText() string { return strconv.Itoa(r.Status) }

// StatusClass colours a status: ok, redirect, client, server.
func (r RequestRow) StatusClass() string {
	switch {
	case r.Status >= 500:
		return "status-5xx"
	case r.Status >= 400:
		return "status-4xx"
	case r.Status >= 300:
		return "status-3xx"
	}
	return "status-2xx"
}

// RequestLogModel is a stage's request log with its search form.
type RequestLogModel struct {
	Page      Page
	Nav       ObserveNav
	Off       bool
	FormURL   string
	Status    string // as typed: "", "500", "5xx"
	Path      string
	Function  string
	Functions []string // to pick from
	Rows      []RequestRow
	OlderURL  string // the next page; empty at the end
	Error     string // a search that cannot run, with what to type instead
}

// IssuesModel is an app's error groups.
type IssuesModel struct {
	Page         Page
	Nav          ObserveNav
	ShowResolved bool
	ToggleURL    string // shows or hides resolved groups
	Stage        string // filter, "" for all
	Rows         []IssueRow
}

// IssueRow is one error group.
type IssueRow struct {
	ID          uint
	Stage       string
	Function    string
	FunctionURL string
	Kind        string
	ErrorType   string
	Message     string
	Sample      string
	Count       int64
	FirstSeen   time.Time
	LastSeen    time.Time
	Resolved    bool
	ResolvedBy  string
	Reopened    int64
	// ResolveURL / ReopenURL: POST (with _csrf); empty for roles that may
	// not change issues, and for the one that does not apply.
	ResolveURL string
	ReopenURL  string
}

// StageTraffic is a stage's recent traffic on its pipeline card.
type StageTraffic struct {
	PerMinute float64
	ErrorRate float64
	Requests  int64
	Window    string // "15m"
	URL       string // the stage's metrics page
}

// PerMinuteText writes the request rate.
func (t StageTraffic) PerMinuteText() string {
	if t.PerMinute >= 10 || t.PerMinute == 0 {
		return strconv.FormatFloat(t.PerMinute, 'f', 0, 64)
	}
	return strconv.FormatFloat(t.PerMinute, 'f', 1, 64)
}
