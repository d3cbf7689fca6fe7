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
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
)

// Queues keep their messages in the database (store.QueueMessage), which
// is the source of truth on both defaults: Send records a message before it
// answers, and a message is deleted only once its consumer succeeded on it.
// A consumer takes what is visible, up to its subscription's batch, hides
// it for the queue's visibility timeout (raising its receive count) and
// runs it; a message it fails stays hidden until that timeout ends, then is
// received again, and once received max_receives times it becomes a dead
// letter. A process killed mid-batch leaves its messages hidden until the
// timeout ends: they are received again (at least once).
//
// Each batch runs under one of the subscription's concurrency slots, leased
// in the database (store.QueueSlot) for the visibility timeout, so no more
// than `concurrency` batches of a subscription run at once, whatever the
// number of processes.
//
// asynq wakes consumers: Send queues a TaskWake for the queue (one waits at
// a time) and a failed message queues one for when it becomes visible
// again, scheduled by asynq. The process that sent the message also wakes
// its own consumer directly, so an idle consumer starts on a message in
// milliseconds rather than after asynq's next poll. Every second, each
// serve process looks for queues with visible messages and wakes their
// consumers: that is what picks up the work after a restart, when the
// embedded queue kept no task.
const (
	// TaskWake makes a process start consuming a queue.
	TaskWake = "queue:wake"
	// TaskMessage, TaskBatch and TaskDeadMessage are how queues kept
	// messages before they moved to the database (migration 0025); a
	// process still takes the ones a Redis holds and records them.
	TaskMessage     = "queue:message"
	TaskBatch       = "queue:batch"
	TaskDeadMessage = "queue:dead"
	// DefaultMaxDepth caps the messages waiting in one queue of a stage.
	DefaultMaxDepth = 10000
	// slotGrace is how long a slot outlives the visibility timeout of
	// the batch under it: the batch's own bookkeeping.
	slotGrace = 5 * time.Second
)

// message is a queue message as it travelled in tasks before 0025.
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

// dlqOf names the asynq queue that held a queue's dead letters before 0025.
func dlqOf(stageID uint, queue string) string {
	return "dlq:" + strconv.FormatUint(uint64(stageID), 10) + ":" + queue
}

// QueueInspector is what queues need of asynq beyond enqueueing (an
// *asynq.Inspector): only to take over the dead letters kept in asynq
// before 0025.
type QueueInspector interface {
	Groups(queue string) ([]*asynq.GroupInfo, error)
	ListAggregatingTasks(queue, group string, opts ...asynq.ListOption) ([]*asynq.TaskInfo, error)
	DeleteAllAggregatingTasks(queue, group string) (int, error)
	ListPendingTasks(queue string, opts ...asynq.ListOption) ([]*asynq.TaskInfo, error)
	DeleteTask(queue, id string) error
}

// Aggregator turns the messages a group held before 0025 into one batch
// task (asynq.Config.GroupAggregator), which HandleBatch records.
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

// Send puts a message on a queue of a stage and returns its id. The
// message is recorded before Send returns.
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
	now := s.cfg.Now().UnixMilli()
	c, err := s.cfg.Store.CountQueueMessages(ctx, st.ID, q.Name, now)
	if err != nil {
		return "", err
	}
	if n := c.Waiting + c.InFlight; n >= DefaultMaxDepth {
		return "", &Error{Status: http.StatusTooManyRequests, Msg: fmt.Sprintf("queue %s of %s holds %d messages, the most it may; try again once some were taken", q.Name, ref, n)}
	}
	m := store.QueueMessage{ID: uuid.NewString(), StageID: st.ID, Queue: q.Name, Body: body, SentMS: now, VisibleMS: now}
	if err := s.cfg.Store.CreateQueueMessage(ctx, &m); err != nil {
		return "", err
	}
	s.wake(ctx, st, q.Name, time.Time{})
	return m.ID, nil
}

// queueKey names a queue of a stage in this process.
type queueKey struct {
	ref     targets.StageRef
	stageID uint
	queue   string
}

// drain is this process's consumer of one queue: how many goroutines run
// it, and whether a message came since they last looked.
type drain struct {
	running int
	dirty   bool
}

// wakeArgs is the payload of a TaskWake.
type wakeArgs struct {
	StageID uint   `json:"stage_id"`
	App     string `json:"app"`
	Stage   string `json:"stage"`
	Queue   string `json:"queue"`
}

// wake makes the consumers of a queue look at it: this process's at once
// (when at is zero), and any process's through an asynq task, at at.
func (s *Service) wake(ctx context.Context, st Stage, queue string, at time.Time) {
	if at.IsZero() && s.kick(queueKey{ref: st.Ref, stageID: st.ID, queue: queue}) {
		return // this process's consumer looks; if it cannot, the sweep does
	}
	b, _ := json.Marshal(wakeArgs{StageID: st.ID, App: st.Ref.App, Stage: st.Ref.Stage, Queue: queue})
	id := "qwake:" + strconv.FormatUint(uint64(st.ID), 10) + ":" + queue
	opts := []asynq.Option{asynq.Queue(QueueEvents), asynq.MaxRetry(3), asynq.Timeout(time.Minute)}
	if !at.IsZero() {
		// One task per second of visibility: failures of one batch share it.
		id += ":" + strconv.FormatInt(at.Unix()+1, 10)
		opts = append(opts, asynq.ProcessAt(time.Unix(at.Unix()+1, 0)))
	}
	_, err := s.cfg.Queue.EnqueueContext(ctx, asynq.NewTask(TaskWake, b), append(opts, asynq.TaskID(id))...)
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		// The message is recorded; the sweep of RunQueues finds it.
		s.log.Warn("wake the consumers of a queue", "queue", queue, "stage", st.Ref.String(), "err", err)
	}
}

// HandleWake starts this process's consumer of a queue.
func (s *Service) HandleWake(ctx context.Context, t *asynq.Task) error {
	var a wakeArgs
	if err := json.Unmarshal(t.Payload(), &a); err != nil || a.Queue == "" {
		return fmt.Errorf("queue wake-up with a bad payload %q: %v: %w", t.Payload(), err, asynq.SkipRetry)
	}
	s.kick(queueKey{ref: targets.StageRef{App: a.App, Stage: a.Stage}, stageID: a.StageID, queue: a.Queue})
	return nil
}

// kick starts a consumer goroutine for a queue unless as many run in this
// process as the subscription's concurrency; those running look again
// before they stop. It reports whether a consumer of this process will
// look at the queue. Processes that run no functions consume nothing.
func (s *Service) kick(k queueKey) bool {
	if s.cfg.Invoker == nil {
		return false
	}
	ctx := s.runContext()
	st, err := s.stage(ctx, k.ref)
	if err != nil || st.ID != k.stageID || ctx.Err() != nil {
		return false
	}
	_, ev, ok := subscriberOf(st, k.queue)
	if !ok {
		return true // nobody consumes the queue in this release: the messages wait
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.drains[k]
	if d == nil {
		d = &drain{}
		s.drains[k] = d
	}
	d.dirty = true
	if d.running < max(ev.Concurrency, 1) {
		d.running++
		go s.consume(ctx, k, d)
	}
	return true
}

// runContext is what consumers run under: RunQueues's context once it
// runs.
func (s *Service) runContext() context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runCtx
}

// consume runs batches of a queue until none is visible.
func (s *Service) consume(ctx context.Context, k queueKey, d *drain) {
	for {
		s.mu.Lock()
		d.dirty = false
		s.mu.Unlock()
		held, err := s.drainQueue(ctx, k)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("consume a queue", "queue", k.queue, "stage", k.ref.String(), "err", err)
		}
		s.mu.Lock()
		if !held || !d.dirty || err != nil || ctx.Err() != nil {
			// Without a slot, its holder takes what came; after an error,
			// the next sweep tries again.
			d.running--
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
	}
}

// drainQueue leases a concurrency slot of the queue's subscription and
// runs batches under it until no message is visible. It reports whether it
// got a slot.
func (s *Service) drainQueue(ctx context.Context, k queueKey) (bool, error) {
	st, q, err := s.queueOf(ctx, k.ref, k.queue)
	if err != nil || st.ID != k.stageID {
		return false, nil // undeployed, or redeployed as another stage
	}
	fn, ev, ok := subscriberOf(st, q.Name)
	if !ok {
		return false, nil
	}
	holder := uuid.NewString()
	released := false
	defer func() {
		if released {
			return
		}
		if err := s.cfg.Store.ReleaseQueueSlot(context.WithoutCancel(ctx), holder); err != nil {
			s.log.Warn("release a queue slot", "queue", q.Name, "err", err)
		}
	}()
	for first := true; ; first = false {
		now := s.cfg.Now()
		msgs, held, err := s.cfg.Store.TakeQueueBatch(ctx, store.QueueTake{StageID: st.ID, Queue: q.Name, Slots: max(ev.Concurrency, 1),
			Holder: holder, Claim: first, NowMS: now.UnixMilli(), SlotMS: now.Add(q.VisibilityTimeout + slotGrace).UnixMilli(),
			Receipt: uuid.NewString(), VisibleMS: now.Add(q.VisibilityTimeout).UnixMilli(), Limit: ev.Batch, MaxReceives: q.MaxReceives})
		if err != nil {
			return !first, err
		}
		if !held {
			// No slot free; or, after the first turn, the lease ran out
			// and another took the slot: its new holder goes on.
			released = true
			return !first, nil
		}
		if len(msgs) == 0 {
			released = true // let go with the empty receive
			return true, nil
		}
		if err := s.runBatch(ctx, st, q, fn, ev, msgs[0].Receipt, msgs); err != nil {
			return true, err
		}
	}
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

// runBatch runs received messages through the subscriber: the ones it
// succeeded on are deleted, the ones it failed stay hidden until their
// visibility timeout ends (or become dead letters, once received
// max_receives times).
func (s *Service) runBatch(ctx context.Context, st Stage, q stack.Queue, fn targets.Function, ev stack.Event, receipt string, msgs []store.QueueMessage) error {
	arn := "arn:aws:sqs:local:000000000000:" + st.Ref.App + "-" + st.Ref.Stage + "-" + q.Name
	records := make([]sqsRecord, len(msgs))
	for i, m := range msgs {
		sum := md5.Sum(m.Body)
		records[i] = sqsRecord{MessageID: m.ID, ReceiptHandle: m.ID + "-" + strconv.Itoa(m.Receives), Body: string(m.Body), Md5OfBody: hex.EncodeToString(sum[:]),
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
	// visible again and may be received by another batch.
	vctx, cancel := context.WithTimeout(ctx, q.VisibilityTimeout)
	began := s.cfg.Now()
	res, err := s.cfg.Invoker.Invoke(vctx, st.Ref, fn.Key(), tev)
	cancel()
	if err != nil && (errors.Is(err, targets.ErrNotRunning) || ctx.Err() != nil) {
		// Not this process's to run, or the process is stopping: the
		// messages go back untouched, their receive not counted.
		if rerr := s.cfg.Store.ReturnQueueMessages(context.WithoutCancel(ctx), receipt, s.cfg.Now().UnixMilli()); rerr != nil {
			return rerr
		}
		return err
	}
	failed := map[string]bool{}
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
	// The batch is kept as an invocation, for its status, duration and the
	// function's output.
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
	// The messages' fate is written even when the process is stopping.
	ctx = context.WithoutCancel(ctx)
	if err := s.cfg.Store.CreateInvocation(ctx, &rec); err != nil {
		s.log.Warn("record a queue batch", "err", err)
	}
	var done, retry, dead []string
	var visible int64
	for _, m := range msgs {
		switch {
		case !failed[m.ID]:
			done = append(done, m.ID)
		case m.Receives >= q.MaxReceives:
			dead = append(dead, m.ID)
		default:
			retry, visible = append(retry, m.ID), max(visible, m.VisibleMS)
		}
	}
	if err := s.cfg.Store.DeleteQueueMessages(ctx, receipt, done); err != nil {
		return err
	}
	if err := s.cfg.Store.FailQueueMessages(ctx, receipt, dead, true); err != nil {
		return err
	}
	if err := s.cfg.Store.FailQueueMessages(ctx, receipt, retry, false); err != nil {
		return err
	}
	if len(retry) > 0 {
		// asynq wakes a consumer once they are visible again.
		s.wake(ctx, st, q.Name, time.UnixMilli(visible))
	}
	return nil
}

// RunQueues wakes, every interval until ctx is done, this process's
// consumers of the queues holding visible messages: after a restart, after
// a visibility timeout, after a wake-up lost in a race. The consumers it
// starts run under ctx.
func (s *Service) RunQueues(ctx context.Context, interval time.Duration) {
	s.mu.Lock()
	s.runCtx = ctx
	s.mu.Unlock()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := s.sweepQueues(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("look for queue messages", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Service) sweepQueues(ctx context.Context) error {
	if s.cfg.Invoker == nil {
		return nil
	}
	ready, err := s.cfg.Store.ReadyQueues(ctx, s.cfg.Now().UnixMilli())
	if err != nil || len(ready) == 0 {
		return err
	}
	stages, err := s.liveStages(ctx)
	if err != nil {
		return err
	}
	for _, r := range ready {
		for _, st := range stages {
			if st.ID == r.StageID {
				s.kick(queueKey{ref: st.Ref, stageID: st.ID, queue: r.Queue})
			}
		}
	}
	return nil
}

// HandleBatch records the messages of a batch task made from what a Redis
// kept before 0025, and wakes their consumer.
func (s *Service) HandleBatch(ctx context.Context, t *asynq.Task) error {
	var raws []json.RawMessage
	if err := json.Unmarshal(t.Payload(), &raws); err != nil {
		return fmt.Errorf("queue batch with a bad payload: %v: %w", err, asynq.SkipRetry)
	}
	for _, r := range raws {
		var m message
		if json.Unmarshal(r, &m) != nil || m.ID == "" {
			continue
		}
		if err := s.adopt(ctx, m, false); err != nil {
			return err
		}
	}
	return nil
}

// adopt records a message kept in asynq before 0025.
func (s *Service) adopt(ctx context.Context, m message, dead bool) error {
	now := s.cfg.Now().UnixMilli()
	rec := store.QueueMessage{ID: m.ID, StageID: m.StageID, Queue: m.Queue, Body: []byte(m.Body), Receives: m.Receives, SentMS: m.SentMS, FirstMS: m.FirstMS, VisibleMS: now}
	if dead {
		rec.Receives, rec.FirstMS = 0, 0
	}
	if err := s.cfg.Store.CreateQueueMessage(ctx, &rec); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil // recorded already
		}
		return err
	}
	s.kick(queueKey{ref: targets.StageRef{App: m.App, Stage: m.Stage}, stageID: m.StageID, queue: m.Queue})
	return nil
}

// QueueInfo describes one queue of a stage.
type QueueInfo struct {
	Name              string        `json:"name"`
	Subscriber        string        `json:"subscriber,omitempty"`
	Depth             int           `json:"depth"`        // waiting, or hidden after a failure
	InFlight          int           `json:"in_flight"`    // in a batch under way
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

// ListQueues lists the queues of a deployed stage.
func (s *Service) ListQueues(ctx context.Context, ref targets.StageRef) ([]QueueInfo, error) {
	st, err := s.stage(ctx, ref)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	var out []QueueInfo
	for _, q := range st.Queues {
		c, err := s.cfg.Store.CountQueueMessages(ctx, st.ID, q.Name, now.UnixMilli())
		if err != nil {
			return nil, err
		}
		info := QueueInfo{Name: q.Name, VisibilityTimeout: q.VisibilityTimeout, MaxReceives: q.MaxReceives,
			Depth: c.Waiting, InFlight: c.InFlight, DeadLetters: c.Dead}
		if c.OldestMS > 0 {
			info.OldestAge = max(now.Sub(time.UnixMilli(c.OldestMS)), 0)
		}
		if fn, _, ok := subscriberOf(st, q.Name); ok {
			info.Subscriber = fn.Key()
		}
		out = append(out, info)
	}
	return out, nil
}

// DeadMessages lists a queue's dead letters (the oldest 1,000).
func (s *Service) DeadMessages(ctx context.Context, ref targets.StageRef, queue string) ([]DeadMessage, error) {
	st, q, err := s.queueOf(ctx, ref, queue)
	if err != nil {
		return nil, err
	}
	dead, err := s.cfg.Store.DeadQueueMessages(ctx, st.ID, q.Name, 1000)
	if err != nil {
		return nil, err
	}
	var out []DeadMessage
	for _, m := range dead {
		out = append(out, DeadMessage{ID: m.ID, Body: string(m.Body), Receives: m.Receives})
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
	n, err := s.redriveLegacy(ctx, st, q)
	if err != nil {
		return n, err
	}
	m, err := s.cfg.Store.RedriveQueueMessages(ctx, st.ID, q.Name, s.cfg.Now().UnixMilli())
	if err != nil {
		return n, err
	}
	if n+m > 0 {
		s.wake(ctx, st, q.Name, time.Time{})
	}
	return n + m, nil
}

// redriveLegacy moves the dead letters a Redis kept before 0025 to the
// database, as waiting messages.
func (s *Service) redriveLegacy(ctx context.Context, st Stage, q stack.Queue) (int, error) {
	if s.cfg.Queues == nil {
		return 0, nil
	}
	tasks, err := s.cfg.Queues.ListPendingTasks(dlqOf(st.ID, q.Name), asynq.PageSize(1000))
	if err != nil {
		return 0, nil // none: the asynq queue does not exist
	}
	n := 0
	for _, t := range tasks {
		var m message
		if json.Unmarshal(t.Payload, &m) != nil || m.ID == "" {
			continue
		}
		m.App, m.Stage = st.Ref.App, st.Ref.Stage
		if err := s.adopt(ctx, m, true); err != nil {
			return n, err
		}
		if err := s.cfg.Queues.DeleteTask(dlqOf(st.ID, q.Name), t.ID); err != nil && !isNoTask(err) {
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
	return s.cfg.Store.PurgeQueueMessages(ctx, st.ID, q.Name, s.cfg.Now().UnixMilli())
}
