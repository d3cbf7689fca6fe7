package events

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
)

// Queues run on asynq: a message is a task in QueueEvents whose group
// names its stage and queue; asynq's group aggregation (Aggregator) hands
// up to stack.MaxBatch of them at once to HandleBatch as one task, which
// invokes the subscriber with an SQS-shaped event per batch. A message
// the function reports failed (SQSEventResponse.batchItemFailures, or
// every message when it fails) goes back to its group with its receive
// count raised, and to the queue's dead letters (an asynq queue no server
// consumes, listed with the Inspector) once it was received max_receives
// times. A process killed in the middle of a batch leaves asynq's lease
// on the batch task to run out; asynq hands it out again, so no message is
// lost (at least once).
const (
	// TaskMessage is one message waiting in its group.
	TaskMessage = "queue:message"
	// TaskBatch is what the aggregator makes of a group's messages.
	TaskBatch = "queue:batch"
	// TaskDeadMessage is a message in a queue's dead letters.
	TaskDeadMessage = "queue:dead"
	// DefaultMaxDepth caps the messages waiting in one queue of a stage.
	DefaultMaxDepth = 10000
)

// message is a queue message as it travels in tasks.
type message struct {
	StageID  uint   `json:"stage_id"`
	App      string `json:"app"`
	Stage    string `json:"stage"`
	Queue    string `json:"queue"`
	ID       string `json:"id"`
	Body     string `json:"body"`
	Receives int    `json:"receives"`
	SentMS   int64  `json:"sent_ms"`
	FirstMS  int64  `json:"first_ms,omitempty"`
}

func groupOf(stageID uint, queue string) string {
	return "q:" + strconv.FormatUint(uint64(stageID), 10) + ":" + queue
}

// dlqOf names the asynq queue holding a queue's dead letters.
func dlqOf(stageID uint, queue string) string {
	return "dlq:" + strconv.FormatUint(uint64(stageID), 10) + ":" + queue
}

// QueueInspector is what queues need of asynq beyond enqueueing (an
// *asynq.Inspector).
type QueueInspector interface {
	Groups(queue string) ([]*asynq.GroupInfo, error)
	ListAggregatingTasks(queue, group string, opts ...asynq.ListOption) ([]*asynq.TaskInfo, error)
	DeleteAllAggregatingTasks(queue, group string) (int, error)
	ListPendingTasks(queue string, opts ...asynq.ListOption) ([]*asynq.TaskInfo, error)
	DeleteTask(queue, id string) error
}

// Aggregator turns a group's messages into one batch task for asynq's
// server (asynq.Config.GroupAggregator).
var Aggregator = asynq.GroupAggregatorFunc(func(group string, tasks []*asynq.Task) *asynq.Task {
	msgs := make([]json.RawMessage, 0, len(tasks))
	for _, t := range tasks {
		msgs = append(msgs, t.Payload())
	}
	b, _ := json.Marshal(msgs)
	return asynq.NewTask(TaskBatch, b, asynq.MaxRetry(10))
})

// queueOf finds a declared queue of a deployed stage.
func (s *Service) queueOf(ctx context.Context, ref targets.StageRef, name string) (Stage, stack.Queue, error) {
	st, err := s.stage(ctx, ref)
	if err != nil {
		return st, stack.Queue{}, err
	}
	for _, q := range st.Queues {
		if q.Name == name {
			return st, q, nil
		}
	}
	return st, stack.Queue{}, fmt.Errorf("stage %s has no queue %q; declare it under queues: in seedbed.yml: %w", ref, name, store.ErrNotFound)
}

// Send puts a message on a queue of a stage and returns its id.
func (s *Service) Send(ctx context.Context, ref targets.StageRef, queue string, body []byte) (string, error) {
	if len(body) > s.cfg.MaxPayload {
		return "", &Error{Status: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("a message may be at most %d bytes; this one is %d", s.cfg.MaxPayload, len(body))}
	}
	st, q, err := s.queueOf(ctx, ref, queue)
	if errors.Is(err, store.ErrNotFound) {
		return "", &Error{Status: http.StatusNotFound, Msg: err.Error()}
	}
	if err != nil {
		return "", err
	}
	if s.cfg.Queues != nil {
		if n := s.depth(st.ID, q.Name); n >= DefaultMaxDepth {
			return "", &Error{Status: http.StatusTooManyRequests, Msg: fmt.Sprintf("queue %s of %s holds %d messages, the most it may; try again once some were taken", q.Name, ref, n)}
		}
	}
	m := message{StageID: st.ID, App: ref.App, Stage: ref.Stage, Queue: q.Name, ID: uuid.NewString(), Body: string(body), SentMS: s.cfg.Now().UnixMilli()}
	if err := s.enqueueMessage(ctx, m); err != nil {
		return "", err
	}
	return m.ID, nil
}

func (s *Service) enqueueMessage(ctx context.Context, m message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = s.cfg.Queue.EnqueueContext(ctx, asynq.NewTask(TaskMessage, b), asynq.Queue(QueueEvents), asynq.Group(groupOf(m.StageID, m.Queue)),
		asynq.TaskID(m.ID+"-"+strconv.Itoa(m.Receives)))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("queue message %s on %s: %w", m.ID, m.Queue, err)
	}
	return nil
}

func (s *Service) depth(stageID uint, queue string) int {
	groups, err := s.cfg.Queues.Groups(QueueEvents)
	if err != nil {
		return 0
	}
	for _, g := range groups {
		if g.Group == groupOf(stageID, queue) {
			return g.Size
		}
	}
	return 0
}

// sqsRecord is one record of an SQS event (aws-lambda-go's
// events.SQSMessage).
type sqsRecord struct {
	MessageID         string            `json:"messageId"`
	ReceiptHandle     string            `json:"receiptHandle"`
	Body              string            `json:"body"`
	Md5OfBody         string            `json:"md5OfBody"`
	Attributes        map[string]string `json:"attributes"`
	MessageAttributes map[string]any    `json:"messageAttributes"`
	EventSource       string            `json:"eventSource"`
	EventSourceARN    string            `json:"eventSourceARN"`
	AWSRegion         string            `json:"awsRegion"`
}

// HandleBatch runs a batch of one queue's messages through its subscriber.
func (s *Service) HandleBatch(ctx context.Context, t *asynq.Task) error {
	var raws []json.RawMessage
	if err := json.Unmarshal(t.Payload(), &raws); err != nil {
		return fmt.Errorf("queue batch with a bad payload: %v: %w", err, asynq.SkipRetry)
	}
	var msgs []message
	for _, r := range raws {
		var m message
		if json.Unmarshal(r, &m) == nil && m.ID != "" {
			msgs = append(msgs, m)
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	ref := targets.StageRef{App: msgs[0].App, Stage: msgs[0].Stage}
	st, q, err := s.queueOf(ctx, ref, msgs[0].Queue)
	if err != nil {
		return err // asynq retries: the stage may be redeploying
	}
	fn, ev, ok := subscriberOf(st, q.Name)
	if !ok {
		// Nobody consumes the queue in this release: the messages wait.
		for _, m := range msgs {
			if err := s.enqueueMessage(ctx, m); err != nil {
				return err
			}
		}
		return nil
	}
	for start := 0; start < len(msgs); start += ev.Batch {
		chunk := msgs[start:min(start+ev.Batch, len(msgs))]
		if err := s.runBatch(ctx, st, q, fn, ev, chunk); err != nil {
			return err
		}
	}
	return nil
}

// subscriberOf finds the function subscribed to a queue (the first, when
// several are: a message goes to one consumer).
func subscriberOf(st Stage, queue string) (targets.Function, stack.Event, bool) {
	for _, fn := range st.Functions {
		for _, ev := range fn.Events {
			if ev.Queue == queue {
				if ev.Batch <= 0 {
					ev.Batch = stack.MaxBatch
				}
				return fn, ev, true
			}
		}
	}
	return targets.Function{}, stack.Event{}, false
}

func (s *Service) runBatch(ctx context.Context, st Stage, q stack.Queue, fn targets.Function, ev stack.Event, msgs []message) error {
	now := s.cfg.Now()
	arn := "arn:aws:sqs:local:000000000000:" + st.Ref.App + "-" + st.Ref.Stage + "-" + q.Name
	records := make([]sqsRecord, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		m.Receives++
		if m.FirstMS == 0 {
			m.FirstMS = now.UnixMilli()
		}
		sum := md5.Sum([]byte(m.Body))
		records[i] = sqsRecord{MessageID: m.ID, ReceiptHandle: m.ID + "-" + strconv.Itoa(m.Receives), Body: m.Body, Md5OfBody: hex.EncodeToString(sum[:]),
			Attributes: map[string]string{"ApproximateReceiveCount": strconv.Itoa(m.Receives), "SentTimestamp": strconv.FormatInt(m.SentMS, 10),
				"ApproximateFirstReceiveTimestamp": strconv.FormatInt(m.FirstMS, 10), "SenderId": "seedbed"},
			MessageAttributes: map[string]any{}, EventSource: "aws:sqs", EventSourceARN: arn, AWSRegion: "local"}
	}
	payload, _ := json.Marshal(map[string]any{"Records": records})
	tev := targets.Event{ID: uuid.NewString(), Payload: payload}
	if fn.Kind != stack.KindLambda {
		tev.Method, tev.Path = http.MethodPost, ev.Path
	}
	// The visibility timeout bounds a batch: past it, its messages are
	// treated as failed and may be received again.
	vctx, cancel := context.WithTimeout(ctx, q.VisibilityTimeout)
	began := s.cfg.Now()
	res, err := s.cfg.Invoker.Invoke(vctx, st.Ref, fn.Key(), tev)
	cancel()
	failed := map[string]bool{}
	if err != nil && errors.Is(err, targets.ErrNotRunning) {
		return err // not this process's to run: asynq retries the batch
	}
	defer func() {
		// The batch is kept as an invocation, for its status, duration and
		// the function's output.
		end := s.cfg.Now().UTC()
		rec := s.newInvocation(st, fn, store.SourceQueue)
		rec.ID, rec.Attempts, rec.MaxAttempts = tev.ID, 1, 1
		rec.Status, rec.StartedAt, rec.FinishedAt = store.InvocationSucceeded, &began, &end
		rec.DurationMS, rec.LogExcerpt = end.Sub(began).Milliseconds(), tail(res.Output, maxExcerpt)
		switch {
		case err != nil:
			rec.Status, rec.Error = store.InvocationDead, fmt.Sprintf("batch of %d from %s failed: %v", len(msgs), q.Name, err)
		case len(failed) > 0:
			rec.Error = fmt.Sprintf("%d of %d messages from %s failed", len(failed), len(msgs), q.Name)
		}
		if err := s.cfg.Store.CreateInvocation(context.WithoutCancel(ctx), &rec); err != nil {
			s.log.Warn("record a queue batch", "err", err)
		}
	}()
	if err != nil {
		s.log.Warn("queue batch failed", "queue", q.Name, "stage", st.Ref.String(), "function", fn.Key(), "messages", len(msgs), "err", err)
		for _, m := range msgs {
			failed[m.ID] = true
		}
	} else {
		var resp struct {
			BatchItemFailures []struct {
				ItemIdentifier string `json:"itemIdentifier"`
			} `json:"batchItemFailures"`
		}
		if json.Unmarshal(res.Payload, &resp) == nil {
			for _, f := range resp.BatchItemFailures {
				failed[f.ItemIdentifier] = true
			}
		}
	}
	for _, m := range msgs {
		if !failed[m.ID] {
			continue
		}
		if m.Receives >= q.MaxReceives {
			if err := s.bury(ctx, m); err != nil {
				return err
			}
			continue
		}
		if err := s.enqueueMessage(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// bury moves a message to its queue's dead letters.
func (s *Service) bury(ctx context.Context, m message) error {
	b, _ := json.Marshal(m)
	_, err := s.cfg.Queue.EnqueueContext(ctx, asynq.NewTask(TaskDeadMessage, b), asynq.Queue(dlqOf(m.StageID, m.Queue)), asynq.TaskID(m.ID))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("move message %s to the dead letters of %s: %w", m.ID, m.Queue, err)
	}
	return nil
}

// QueueInfo describes one queue of a stage.
type QueueInfo struct {
	Name              string        `json:"name"`
	Subscriber        string        `json:"subscriber,omitempty"`
	Depth             int           `json:"depth"`        // waiting for a batch
	DeadLetters       int           `json:"dead_letters"` // received max_receives times
	OldestAge         time.Duration `json:"oldest_age"`   // of the waiting messages
	VisibilityTimeout time.Duration `json:"visibility_timeout"`
	MaxReceives       int           `json:"max_receives"`
}

// DeadMessage is a message in a queue's dead letters.
type DeadMessage struct {
	ID       string `json:"id"`
	Body     string `json:"body"`
	Receives int    `json:"receives"`
}

func (s *Service) inspector() (QueueInspector, error) {
	if s.cfg.Queues == nil {
		return nil, errors.New("this process cannot inspect queues")
	}
	return s.cfg.Queues, nil
}

// Queues lists the queues of a deployed stage.
func (s *Service) ListQueues(ctx context.Context, ref targets.StageRef) ([]QueueInfo, error) {
	st, err := s.stage(ctx, ref)
	if err != nil {
		return nil, err
	}
	in, err := s.inspector()
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	var out []QueueInfo
	for _, q := range st.Queues {
		info := QueueInfo{Name: q.Name, VisibilityTimeout: q.VisibilityTimeout, MaxReceives: q.MaxReceives, Depth: s.depth(st.ID, q.Name)}
		if fn, _, ok := subscriberOf(st, q.Name); ok {
			info.Subscriber = fn.Key()
		}
		if waiting, err := in.ListAggregatingTasks(QueueEvents, groupOf(st.ID, q.Name), asynq.PageSize(1000)); err == nil {
			for _, t := range waiting {
				var m message
				if json.Unmarshal(t.Payload, &m) == nil && m.SentMS > 0 {
					if age := now.Sub(time.UnixMilli(m.SentMS)); age > info.OldestAge {
						info.OldestAge = age
					}
				}
			}
		}
		dead, _ := s.DeadMessages(ctx, ref, q.Name)
		info.DeadLetters = len(dead)
		out = append(out, info)
	}
	return out, nil
}

// DeadMessages lists a queue's dead letters.
func (s *Service) DeadMessages(ctx context.Context, ref targets.StageRef, queue string) ([]DeadMessage, error) {
	st, q, err := s.queueOf(ctx, ref, queue)
	if err != nil {
		return nil, err
	}
	in, err := s.inspector()
	if err != nil {
		return nil, err
	}
	tasks, err := in.ListPendingTasks(dlqOf(st.ID, q.Name), asynq.PageSize(1000))
	if isNoTask(err) || err != nil && strings.Contains(err.Error(), "does not exist") {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list the dead letters of %s: %w", q.Name, err)
	}
	var out []DeadMessage
	for _, t := range tasks {
		var m message
		if json.Unmarshal(t.Payload, &m) == nil {
			out = append(out, DeadMessage{ID: m.ID, Body: m.Body, Receives: m.Receives})
		}
	}
	return out, nil
}

// RedriveQueue puts a queue's dead letters back on it, their receive
// counts from zero, and returns how many.
func (s *Service) RedriveQueue(ctx context.Context, ref targets.StageRef, queue string) (int, error) {
	st, q, err := s.queueOf(ctx, ref, queue)
	if err != nil {
		return 0, err
	}
	in, err := s.inspector()
	if err != nil {
		return 0, err
	}
	tasks, err := in.ListPendingTasks(dlqOf(st.ID, q.Name), asynq.PageSize(1000))
	if err != nil {
		return 0, nil // no dead letters: the queue does not exist yet
	}
	n := 0
	for _, t := range tasks {
		var m message
		if json.Unmarshal(t.Payload, &m) != nil {
			continue
		}
		m.Receives, m.FirstMS = 0, 0
		// A fresh id for the task: the message keeps its own.
		if err := s.enqueueMessage(ctx, m); err != nil {
			return n, err
		}
		if err := in.DeleteTask(dlqOf(st.ID, q.Name), t.ID); err != nil && !isNoTask(err) {
			return n, fmt.Errorf("redrive %s: %w", m.ID, err)
		}
		n++
	}
	return n, nil
}

// PurgeQueue deletes every message waiting on a queue (not those in a
// batch under way, nor the dead letters) and returns how many.
func (s *Service) PurgeQueue(ctx context.Context, ref targets.StageRef, queue string) (int, error) {
	st, q, err := s.queueOf(ctx, ref, queue)
	if err != nil {
		return 0, err
	}
	in, err := s.inspector()
	if err != nil {
		return 0, err
	}
	n, err := in.DeleteAllAggregatingTasks(QueueEvents, groupOf(st.ID, q.Name))
	if err != nil && !isNoTask(err) {
		return 0, fmt.Errorf("purge %s: %w", q.Name, err)
	}
	return n, nil
}
