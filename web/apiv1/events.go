package apiv1

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Schedule is one schedule of a deployed stage.
type Schedule struct {
	ID       string           `json:"id"`
	Function string           `json:"function"`
	Schedule string           `json:"schedule"`
	TimeZone string           `json:"time_zone,omitempty"`
	Path     string           `json:"path,omitempty"`
	Overlap  bool             `json:"overlap,omitempty"`
	Paused   bool             `json:"paused"`
	Off      bool             `json:"off"` // the stage's schedules are off (preview, or schedules: false)
	NextRun  *time.Time       `json:"next_run,omitempty"`
	Last     *InvocationBrief `json:"last,omitempty"`
}

// InvocationBrief is an invocation as lists show it.
type InvocationBrief struct {
	ID         string     `json:"id"`
	Function   string     `json:"function"`
	Source     string     `json:"source"` // async, schedule, manual, on-failure
	Status     string     `json:"status"` // queued, running, retrying, succeeded, dead, skipped
	Attempts   int        `json:"attempts"`
	DurationMS int64      `json:"duration_ms"`
	Error      string     `json:"error,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	DueAt      *time.Time `json:"due_at,omitempty"`
}

// Invocation is one invocation with its log excerpt. Its input is never
// shown: an async request's headers may hold a caller's credentials.
type Invocation struct {
	InvocationBrief
	MaxAttempts int        `json:"max_attempts"`
	OnFailure   string     `json:"on_failure,omitempty"`
	LogExcerpt  string     `json:"log_excerpt,omitempty"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
}

// StageEvents is what starts a stage's functions besides HTTP calls.
type StageEvents struct {
	Schedules   []Schedule        `json:"schedules"`
	Invocations []InvocationBrief `json:"invocations"`
}

// InvocationQueued answers an action that queued an invocation.
type InvocationQueued struct {
	InvocationID string `json:"invocation_id"`
}

// Redriven answers a redrive.
type Redriven struct {
	Queued int `json:"queued"`
}

// StageEvents lists a stage's schedules and newest invocations; status ""
// is any, "dead" lists its dead letters.
func (c *Client) StageEvents(ctx context.Context, app, stage, status string) (StageEvents, error) {
	var out StageEvents
	path := stagePath(app, stage) + "/events"
	if status != "" {
		path += "?status=" + url.QueryEscape(status)
	}
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// Invocation returns one invocation of a stage.
func (c *Client) Invocation(ctx context.Context, app, stage, id string) (Invocation, error) {
	var out Invocation
	err := c.do(ctx, http.MethodGet, stagePath(app, stage)+"/invocations/"+url.PathEscape(id), nil, &out)
	return out, err
}

// RunSchedule queues a run of a schedule now.
func (c *Client) RunSchedule(ctx context.Context, app, stage, id string) (InvocationQueued, error) {
	var out InvocationQueued
	err := c.do(ctx, http.MethodPost, stagePath(app, stage)+"/schedules/"+url.PathEscape(id)+"/run", nil, &out)
	return out, err
}

// PauseSchedule pauses (or, with paused false, resumes) a schedule.
func (c *Client) PauseSchedule(ctx context.Context, app, stage, id string, paused bool) error {
	action := "/pause"
	if !paused {
		action = "/resume"
	}
	return c.do(ctx, http.MethodPost, stagePath(app, stage)+"/schedules/"+url.PathEscape(id)+action, nil, nil)
}

// Redrive queues dead invocations again: the one named id, or all of the
// stage's when id is "".
func (c *Client) Redrive(ctx context.Context, app, stage, id string) (Redriven, error) {
	var out Redriven
	path := stagePath(app, stage) + "/invocations/redrive"
	if id != "" {
		path = stagePath(app, stage) + "/invocations/" + url.PathEscape(id) + "/redrive"
	}
	err := c.do(ctx, http.MethodPost, path, nil, &out)
	return out, err
}

// Queue is one queue of a deployed stage.
type Queue struct {
	Name               string  `json:"name"`
	Subscriber         string  `json:"subscriber,omitempty"`
	Depth              int     `json:"depth"`
	InFlight           int     `json:"in_flight"` // held by a batch under way
	DeadLetters        int     `json:"dead_letters"`
	OldestAgeSeconds   float64 `json:"oldest_age_seconds"`
	VisibilityTimeoutS float64 `json:"visibility_timeout_seconds"`
	MaxReceives        int     `json:"max_receives"`
}

// DeadMessage is a message in a queue's dead letters.
type DeadMessage struct {
	ID       string `json:"id"`
	Body     string `json:"body"`
	Receives int    `json:"receives"`
}

// QueueCount answers purge and redrive.
type QueueCount struct {
	Count int `json:"count"`
}

// MessageSent answers a send.
type MessageSent struct {
	MessageID string `json:"message_id"`
}

// QueueCredentials is what a sender outside the stage's functions needs
// to put messages on the stage's queues (deployers only).
type QueueCredentials struct {
	// Token goes in "Authorization: Bearer TOKEN" on every send; the
	// stage's functions have it as SEEDBED_QUEUE_TOKEN.
	Token string `json:"token"`
	// SendURL is the gateway's send path: POST SendURL + queue name.
	SendURL string `json:"send_url"`
	// SQSEndpoint is where an AWS SDK's SQS client sends (SendMessage,
	// SendMessageBatch, GetQueueUrl), signing with the SQS credentials.
	SQSEndpoint        string `json:"sqs_endpoint"`
	SQSAccessKeyID     string `json:"sqs_access_key_id"`
	SQSSecretAccessKey string `json:"sqs_secret_access_key"`
}

// QueueCredentials reads a stage's queue send token.
func (c *Client) QueueCredentials(ctx context.Context, app, stage string) (QueueCredentials, error) {
	var out QueueCredentials
	err := c.do(ctx, http.MethodGet, stagePath(app, stage)+"/queue-credentials", nil, &out)
	return out, err
}

func queuePath(app, stage, queue string) string {
	return stagePath(app, stage) + "/queues/" + url.PathEscape(queue)
}

// Queues lists a stage's queues.
func (c *Client) Queues(ctx context.Context, app, stage string) ([]Queue, error) {
	var out []Queue
	err := c.do(ctx, http.MethodGet, stagePath(app, stage)+"/queues", nil, &out)
	return out, err
}

// DeadMessages lists a queue's dead letters.
func (c *Client) DeadMessages(ctx context.Context, app, stage, queue string) ([]DeadMessage, error) {
	var out []DeadMessage
	err := c.do(ctx, http.MethodGet, queuePath(app, stage, queue)+"/dead", nil, &out)
	return out, err
}

// SendMessage puts a message on a queue.
func (c *Client) SendMessage(ctx context.Context, app, stage, queue, body string) (MessageSent, error) {
	var out MessageSent
	err := c.do(ctx, http.MethodPost, queuePath(app, stage, queue)+"/messages", map[string]string{"body": body}, &out)
	return out, err
}

// PurgeQueue deletes the messages waiting on a queue.
func (c *Client) PurgeQueue(ctx context.Context, app, stage, queue string) (QueueCount, error) {
	var out QueueCount
	err := c.do(ctx, http.MethodPost, queuePath(app, stage, queue)+"/purge", nil, &out)
	return out, err
}

// RedriveQueue puts a queue's dead letters back on it.
func (c *Client) RedriveQueue(ctx context.Context, app, stage, queue string) (QueueCount, error) {
	var out QueueCount
	err := c.do(ctx, http.MethodPost, queuePath(app, stage, queue)+"/redrive", nil, &out)
	return out, err
}
