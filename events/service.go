package events

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
)

// Queue and task names.
const (
	// QueueEvents is the asynq queue event invocations run from; only
	// processes that serve functions consume it.
	QueueEvents = "events"
	// TaskInvoke runs one attempt of one invocation.
	TaskInvoke = "event:invoke"
)

// Limits that keep the public, who may call any function through the
// gateway, from filling the database and the queue through async calls.
const (
	// DefaultMaxPayload caps an async invocation's body, as Lambda's
	// 256 KB limit on async events does.
	DefaultMaxPayload = 256 * 1024
	// DefaultMaxUnfinished caps the invocations of one stage that are
	// queued, running or waiting for a retry; past it, async calls are
	// refused with 429 until some finish.
	DefaultMaxUnfinished = 1000
	// DefaultCatchUp is how late a tick may still run; see the package
	// comment.
	DefaultCatchUp = 5 * time.Minute
	// KeepFinished and KeepDead are how long finished invocations and
	// dead letters are kept: a schedule of rate(1 second) alone records
	// 86,400 a day.
	KeepFinished = 7 * 24 * time.Hour
	KeepDead     = 14 * 24 * time.Hour
)

// Store is what the events package keeps in the database.
type Store interface {
	CreateInvocation(ctx context.Context, inv *store.Invocation) error
	InvocationByID(ctx context.Context, id string) (store.Invocation, error)
	StartAttempt(ctx context.Context, id string, at time.Time) (store.Invocation, bool, error)
	FinishAttempt(ctx context.Context, inv *store.Invocation) error
	RequeueInvocation(ctx context.Context, id string) (bool, error)
	Invocations(ctx context.Context, f store.InvocationFilter) ([]store.Invocation, error)
	CountUnfinishedInvocations(ctx context.Context, stageID uint) (int64, error)
	UnfinishedInvocations(ctx context.Context, before time.Time, limit int) ([]store.Invocation, error)
	DeleteFinishedInvocations(ctx context.Context, before, deadBefore time.Time, limit int) (int64, error)
	LastTick(ctx context.Context, stageID uint, scheduleID string) (time.Time, error)
	ScheduleStates(ctx context.Context) ([]store.EventSchedule, error)
	SetSchedulePaused(ctx context.Context, stageID uint, id string, paused bool) error
	ClaimScheduleRun(ctx context.Context, stageID uint, id, run string, now, until time.Time) (bool, error)
	ReleaseScheduleRun(ctx context.Context, stageID uint, id, run string) error
	QueueStore
}

// QueueStore is where queue messages live (see queues.go).
type QueueStore interface {
	CreateQueueMessage(ctx context.Context, m *store.QueueMessage) error
	CountQueueMessages(ctx context.Context, stageID uint, queue string, nowMS int64) (store.QueueCounts, error)
	ReceiveQueueMessages(ctx context.Context, stageID uint, queue, receipt string, nowMS, untilMS int64, limit, maxReceives int) ([]store.QueueMessage, error)
	DeleteQueueMessages(ctx context.Context, receipt string, ids []string) error
	FailQueueMessages(ctx context.Context, receipt string, ids []string, dead bool) error
	ReturnQueueMessages(ctx context.Context, receipt string, nowMS int64) error
	DeadQueueMessages(ctx context.Context, stageID uint, queue string, limit int) ([]store.QueueMessage, error)
	RedriveQueueMessages(ctx context.Context, stageID uint, queue string, nowMS int64) (int, error)
	PurgeQueueMessages(ctx context.Context, stageID uint, queue string, nowMS int64) (int, error)
	ReadyQueues(ctx context.Context, nowMS int64) ([]store.QueueRef, error)
	ClaimQueueSlot(ctx context.Context, stageID uint, queue string, n int, holder string, nowMS, untilMS int64) (bool, error)
	ExtendQueueSlot(ctx context.Context, holder string, untilMS int64) (bool, error)
	ReleaseQueueSlot(ctx context.Context, holder string) error
	TakeQueueBatch(ctx context.Context, t store.QueueTake) ([]store.QueueMessage, bool, error)
}

// Stage is a deployed stage as the events package needs it: the
// functions of its live release and whether its schedules run.
type Stage struct {
	ID  uint
	Ref targets.StageRef
	// SchedulesOff is set for preview stages and for stages the stack
	// turns schedules off for.
	SchedulesOff bool
	Functions    []targets.Function
	Queues       []stack.Queue
}

// Function returns the function of the stage with key, if any.
func (s Stage) Function(key string) (targets.Function, bool) {
	for _, f := range s.Functions {
		if f.Key() == key {
			return f, true
		}
	}
	return targets.Function{}, false
}

// Stages lists the deployed stages (the pipelines package implements it).
type Stages interface {
	LiveStages(ctx context.Context) ([]Stage, error)
}

// Enqueuer queues tasks (an *asynq.Client).
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// Tasks looks up and deletes tasks of a queue (an *asynq.Inspector):
// recovery asks whether an unfinished invocation's task still exists, a
// redrive deletes the archived task of a dead invocation before queueing it
// anew.
type Tasks interface {
	GetTaskInfo(queue, id string) (*asynq.TaskInfo, error)
	DeleteTask(queue, id string) error
}

// Config wires a Service.
type Config struct {
	Store  Store
	Stages Stages
	Queue  Enqueuer
	Tasks  Tasks
	// Queues inspects queue state (an *asynq.Inspector); nil turns the
	// queue listings, purge and redrive off.
	Queues  QueueInspector
	Invoker targets.Invoker // nil in processes that run no functions
	Logger  *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxPayload and MaxUnfinished bound async invocations; zero means
	// DefaultMaxPayload and DefaultMaxUnfinished.
	MaxPayload    int
	MaxUnfinished int
	// CatchUp is how late a tick may still run; zero means DefaultCatchUp.
	CatchUp time.Duration
	// StagesTTL is how long the list of live stages is cached; zero
	// means a second.
	StagesTTL time.Duration
}

// Service records, queues and runs invocations.
type Service struct {
	cfg Config
	log *slog.Logger

	mu        sync.Mutex
	stages    []Stage
	stagesAt  time.Time
	schedules map[string]stack.Schedule // parsed, by expression and zone
	drains    map[queueKey]*drain       // this process's consumers, by queue
	runCtx    context.Context           // what consumers run under; see RunQueues
}

// New makes a Service.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = DefaultMaxPayload
	}
	if cfg.MaxUnfinished <= 0 {
		cfg.MaxUnfinished = DefaultMaxUnfinished
	}
	if cfg.CatchUp <= 0 {
		cfg.CatchUp = DefaultCatchUp
	}
	if cfg.StagesTTL <= 0 {
		cfg.StagesTTL = time.Second
	}
	return &Service{cfg: cfg, log: cfg.Logger, schedules: map[string]stack.Schedule{}, drains: map[queueKey]*drain{}, runCtx: context.Background()}
}

// liveStages returns the deployed stages, cached for StagesTTL.
func (s *Service) liveStages(ctx context.Context) ([]Stage, error) {
	s.mu.Lock()
	if s.stages != nil && s.cfg.Now().Sub(s.stagesAt) < s.cfg.StagesTTL {
		st := s.stages
		s.mu.Unlock()
		return st, nil
	}
	s.mu.Unlock()
	st, err := s.cfg.Stages.LiveStages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list deployed stages: %w", err)
	}
	if st == nil {
		st = []Stage{}
	}
	s.mu.Lock()
	s.stages, s.stagesAt = st, s.cfg.Now()
	s.mu.Unlock()
	return st, nil
}

// Forget drops the cached list of stages: a deploy just changed one.
func (s *Service) Forget() {
	s.mu.Lock()
	s.stages = nil
	s.mu.Unlock()
}

// stage finds a deployed stage by reference. A stage missing from the
// cached list is looked for again in the database: it may just have been
// deployed.
func (s *Service) stage(ctx context.Context, ref targets.StageRef) (Stage, error) {
	for try := range 2 {
		if try == 1 {
			s.Forget()
		}
		stages, err := s.liveStages(ctx)
		if err != nil {
			return Stage{}, err
		}
		for _, st := range stages {
			if st.Ref == ref {
				return st, nil
			}
		}
	}
	return Stage{}, fmt.Errorf("stage %s is not deployed: %w", ref, store.ErrNotFound)
}

// ScheduleID names a schedule of a function within its stage: the same
// schedule keeps its id (and its pause and history) across releases.
func ScheduleID(fnKey string, ev stack.Event) string {
	sum := sha256.Sum256([]byte(fnKey + "\x00" + ev.Schedule + "\x00" + ev.TimeZone))
	return hex.EncodeToString(sum[:6])
}

// invokeArgs is the payload of a TaskInvoke task.
type invokeArgs struct {
	ID string `json:"id"`
	// BackoffMS is the wait before the first retry; it doubles after.
	BackoffMS int64 `json:"backoff_ms"`
}

// RetryDelayFunc returns asynq's retry delay for event tasks, the
// invocation's own back-off doubled per retry, and other's for the rest.
func RetryDelayFunc(other asynq.RetryDelayFunc) asynq.RetryDelayFunc {
	return func(n int, err error, t *asynq.Task) time.Duration {
		if t.Type() != TaskInvoke {
			return other(n, err, t)
		}
		var a invokeArgs
		if json.Unmarshal(t.Payload(), &a) != nil || a.BackoffMS <= 0 {
			return stack.DefaultBackoff
		}
		d := time.Duration(a.BackoffMS) * time.Millisecond
		for i := 1; i < n && d < time.Hour; i++ {
			d *= 2
		}
		return min(d, time.Hour)
	}
}

// enqueue queues an attempt of a recorded invocation, with the retries it
// has left. A task already queued under its id is fine: the invocation
// runs once.
func (s *Service) enqueue(ctx context.Context, inv *store.Invocation) error {
	payload, err := json.Marshal(invokeArgs{ID: inv.ID, BackoffMS: inv.BackoffMS})
	if err != nil {
		return fmt.Errorf("encode task: %w", err)
	}
	_, err = s.cfg.Queue.EnqueueContext(ctx, asynq.NewTask(TaskInvoke, payload),
		asynq.Queue(QueueEvents), asynq.TaskID(inv.ID), asynq.MaxRetry(max(inv.MaxAttempts-inv.Attempts-1, 0)),
		asynq.Timeout(stack.MaxTimeout+time.Minute))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("queue invocation %s of %s: %w", inv.ID, inv.Function, err)
	}
	return nil
}

// record creates an invocation and queues it.
func (s *Service) record(ctx context.Context, inv *store.Invocation) error {
	if err := s.cfg.Store.CreateInvocation(ctx, inv); err != nil {
		return err
	}
	if err := s.enqueue(ctx, inv); err != nil {
		// Recorded: Recover queues it again.
		s.log.Warn("invocation recorded but not queued; it is queued again later", "invocation", inv.ID, "err", err)
	}
	return nil
}

// newInvocation fills what every invocation of fn on st has.
func (s *Service) newInvocation(st Stage, fn targets.Function, source string) store.Invocation {
	a := stack.AsyncOf(fn.Async)
	return store.Invocation{
		ID: uuid.NewString(), StageID: st.ID, App: st.Ref.App, Stage: st.Ref.Stage, Function: fn.Key(), Source: source,
		Status: store.InvocationQueued, MaxAttempts: a.Retries + 1, BackoffMS: a.Backoff.Milliseconds(), OnFailure: a.OnFailure,
		CreatedAt: s.cfg.Now().UTC(),
	}
}

// encodeHeader stores a request's header.
func encodeHeader(h http.Header) string {
	if len(h) == 0 {
		return ""
	}
	b, _ := json.Marshal(h)
	return string(b)
}

func decodeHeader(s string) http.Header {
	if s == "" {
		return nil
	}
	var h http.Header
	if json.Unmarshal([]byte(s), &h) != nil {
		return nil
	}
	return h
}
