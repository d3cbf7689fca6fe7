package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Invocation statuses.
const (
	InvocationQueued    = "queued"
	InvocationRunning   = "running"
	InvocationRetrying  = "retrying"  // failed, another attempt is queued
	InvocationSucceeded = "succeeded" // the function answered without error
	InvocationDead      = "dead"      // every attempt failed: a dead letter
	InvocationSkipped   = "skipped"   // a schedule's tick while its previous run still ran
)

// Invocation sources: what started a function without an HTTP client
// waiting for it.
const (
	SourceAsync     = "async"      // a request with X-Seedbed-Invocation-Type: Event
	SourceSchedule  = "schedule"   // a tick of a schedule
	SourceOnFailure = "on-failure" // another invocation's retries ran out
	SourceManual    = "manual"     // "run now" in the console, CLI or API
	SourceQueue     = "queue"      // a batch of queue messages (recorded once it ran)
)

// Invocation is one run of a function that nobody waits on: its input,
// its attempts and how it ended.
type Invocation struct {
	ID       string `gorm:"primaryKey"` // a UUID; also the queue task's id
	StageID  uint
	App      string
	Stage    string
	Function string // "service/name"
	Source   string
	// ScheduleID names the schedule of the stage a tick belongs to.
	ScheduleID string
	// DedupeKey is unique when set: one row per schedule tick.
	DedupeKey *string
	DueAt     *time.Time // a tick's due time
	Status    string
	Attempts  int
	// MaxAttempts is the first attempt plus the retries.
	MaxAttempts int
	BackoffMS   int64  `gorm:"column:backoff_ms"`
	OnFailure   string // the function that gets the invocation once it is dead
	// The event: for HTTP functions the request's method, path and
	// header (JSON), for every function the payload.
	Method     string
	Path       string
	Header     string
	Payload    []byte
	Response   []byte
	Error      string
	LogExcerpt string
	DurationMS int64 `gorm:"column:duration_ms"`
	CreatedAt  time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
}

// Finished reports whether the invocation will not run again by itself.
func (i Invocation) Finished() bool {
	return i.Status == InvocationSucceeded || i.Status == InvocationDead || i.Status == InvocationSkipped
}

// CreateInvocation records an invocation before it is queued. A second
// row with the same DedupeKey gives ErrConflict: the tick was claimed.
func (s *Store) CreateInvocation(ctx context.Context, inv *Invocation) error {
	if err := s.db.WithContext(ctx).Create(inv).Error; err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("record invocation of %s: %w", inv.Function, ErrConflict)
		}
		return fmt.Errorf("record invocation of %s: %w", inv.Function, err)
	}
	return nil
}

// InvocationByID loads one invocation.
func (s *Store) InvocationByID(ctx context.Context, id string) (Invocation, error) {
	var inv Invocation
	err := s.db.WithContext(ctx).Where("id = ?", id).Take(&inv).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return inv, fmt.Errorf("invocation %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return inv, fmt.Errorf("load invocation %s: %w", id, err)
	}
	return inv, nil
}

// StartAttempt marks an unfinished invocation running and counts the
// attempt. A finished one is returned unchanged with started == false,
// so that a task queued twice runs once.
func (s *Store) StartAttempt(ctx context.Context, id string, at time.Time) (inv Invocation, started bool, err error) {
	res := s.db.WithContext(ctx).Model(&Invocation{}).
		Where("id = ? AND status IN ?", id, []string{InvocationQueued, InvocationRunning, InvocationRetrying}).
		Updates(map[string]any{"status": InvocationRunning, "attempts": gorm.Expr("attempts + 1"), "started_at": at.UTC()})
	if res.Error != nil {
		return inv, false, fmt.Errorf("start invocation %s: %w", id, res.Error)
	}
	inv, err = s.InvocationByID(ctx, id)
	return inv, res.RowsAffected == 1, err
}

// FinishAttempt records how an attempt ended: status, error, the log
// excerpt, the response and the duration.
func (s *Store) FinishAttempt(ctx context.Context, inv *Invocation) error {
	err := s.db.WithContext(ctx).Model(&Invocation{}).Where("id = ?", inv.ID).
		Updates(map[string]any{"status": inv.Status, "error": inv.Error, "log_excerpt": inv.LogExcerpt, "response": inv.Response,
			"duration_ms": inv.DurationMS, "finished_at": inv.FinishedAt}).Error
	if err != nil {
		return fmt.Errorf("finish invocation %s: %w", inv.ID, err)
	}
	return nil
}

// RequeueInvocation puts a dead invocation back in the queued state with
// its attempts counted from zero again (a redrive).
func (s *Store) RequeueInvocation(ctx context.Context, id string) (bool, error) {
	res := s.db.WithContext(ctx).Model(&Invocation{}).Where("id = ? AND status = ?", id, InvocationDead).
		Updates(map[string]any{"status": InvocationQueued, "attempts": 0, "error": "", "finished_at": nil})
	if res.Error != nil {
		return false, fmt.Errorf("redrive invocation %s: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// InvocationFilter selects invocations of a stage.
type InvocationFilter struct {
	StageID    uint
	ScheduleID string // "" for any
	Status     string // "" for any
	Limit      int    // 0 means 50
}

// Invocations lists a stage's invocations, newest first.
func (s *Store) Invocations(ctx context.Context, f InvocationFilter) ([]Invocation, error) {
	q := s.db.WithContext(ctx).Where("stage_id = ?", f.StageID)
	if f.ScheduleID != "" {
		q = q.Where("schedule_id = ?", f.ScheduleID)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	var out []Invocation
	// Payloads and responses can be large; lists do not need them.
	if err := q.Omit("payload", "response").Order("created_at DESC, id").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list invocations of stage %d: %w", f.StageID, err)
	}
	return out, nil
}

// CountUnfinishedInvocations counts a stage's invocations still queued,
// running or waiting for a retry: the depth the async limit applies to.
func (s *Store) CountUnfinishedInvocations(ctx context.Context, stageID uint) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&Invocation{}).
		Where("stage_id = ? AND status IN ?", stageID, []string{InvocationQueued, InvocationRunning, InvocationRetrying}).Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("count invocations of stage %d: %w", stageID, err)
	}
	return n, nil
}

// UnfinishedInvocations lists invocations recorded before before that are
// queued, running or waiting for a retry, oldest first: work whose task
// the queue may have lost (a crash, an emptied Redis, the embedded queue
// after a restart).
func (s *Store) UnfinishedInvocations(ctx context.Context, before time.Time, limit int) ([]Invocation, error) {
	var out []Invocation
	err := s.db.WithContext(ctx).Omit("payload", "response").
		Where("status IN ? AND created_at < ?", []string{InvocationQueued, InvocationRunning, InvocationRetrying}, before.UTC()).
		Order("created_at").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list unfinished invocations: %w", err)
	}
	return out, nil
}

// EventSchedule is the state of one schedule of a stage that Seedbed
// keeps beside the release: whether a person paused it, and which run
// holds it while it may not overlap.
type EventSchedule struct {
	StageID      uint   `gorm:"primaryKey"`
	ScheduleID   string `gorm:"primaryKey"`
	Paused       bool
	RunningID    string
	RunningUntil *time.Time
}

// ScheduleStates returns the state of every schedule that has one.
func (s *Store) ScheduleStates(ctx context.Context) ([]EventSchedule, error) {
	var out []EventSchedule
	if err := s.db.WithContext(ctx).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("load schedule states: %w", err)
	}
	return out, nil
}

func (s *Store) ensureSchedule(ctx context.Context, stageID uint, id string) error {
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&EventSchedule{StageID: stageID, ScheduleID: id}).Error
	if err != nil {
		return fmt.Errorf("schedule %s of stage %d: %w", id, stageID, err)
	}
	return nil
}

// SetSchedulePaused pauses or resumes one schedule of a stage.
func (s *Store) SetSchedulePaused(ctx context.Context, stageID uint, id string, paused bool) error {
	if err := s.ensureSchedule(ctx, stageID, id); err != nil {
		return err
	}
	err := s.db.WithContext(ctx).Model(&EventSchedule{}).Where("stage_id = ? AND schedule_id = ?", stageID, id).Update("paused", paused).Error
	if err != nil {
		return fmt.Errorf("pause schedule %s of stage %d: %w", id, stageID, err)
	}
	return nil
}

// ClaimScheduleRun lets invocation run hold a schedule until until, unless
// another run holds it and has not outlived its hold. It reports whether
// the claim succeeded; a schedule whose runs may overlap never claims.
func (s *Store) ClaimScheduleRun(ctx context.Context, stageID uint, id, run string, now, until time.Time) (bool, error) {
	if err := s.ensureSchedule(ctx, stageID, id); err != nil {
		return false, err
	}
	res := s.db.WithContext(ctx).Model(&EventSchedule{}).
		Where("stage_id = ? AND schedule_id = ? AND (running_id = '' OR running_id = ? OR running_until IS NULL OR running_until < ?)", stageID, id, run, now.UTC()).
		Updates(map[string]any{"running_id": run, "running_until": until.UTC()})
	if res.Error != nil {
		return false, fmt.Errorf("claim schedule %s of stage %d: %w", id, stageID, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// ReleaseScheduleRun lets go of a schedule that run holds.
func (s *Store) ReleaseScheduleRun(ctx context.Context, stageID uint, id, run string) error {
	err := s.db.WithContext(ctx).Model(&EventSchedule{}).Where("stage_id = ? AND schedule_id = ? AND running_id = ?", stageID, id, run).
		Updates(map[string]any{"running_id": "", "running_until": nil}).Error
	if err != nil {
		return fmt.Errorf("release schedule %s of stage %d: %w", id, stageID, err)
	}
	return nil
}

// LastTick returns the due time of the newest recorded tick of a
// schedule, or the zero time when it never ticked.
func (s *Store) LastTick(ctx context.Context, stageID uint, scheduleID string) (time.Time, error) {
	var invs []Invocation
	err := s.db.WithContext(ctx).Select("due_at").Where("stage_id = ? AND schedule_id = ? AND source = ? AND due_at IS NOT NULL", stageID, scheduleID, SourceSchedule).
		Order("due_at DESC").Limit(1).Find(&invs).Error
	if err != nil {
		return time.Time{}, fmt.Errorf("last tick of schedule %s of stage %d: %w", scheduleID, stageID, err)
	}
	if len(invs) == 0 || invs[0].DueAt == nil {
		return time.Time{}, nil
	}
	return *invs[0].DueAt, nil
}

// DeleteFinishedInvocations removes invocations that finished before
// before (dead letters before deadBefore), at most limit rows, and
// returns how many went. Unfinished ones are never removed.
func (s *Store) DeleteFinishedInvocations(ctx context.Context, before, deadBefore time.Time, limit int) (int64, error) {
	var ids []string
	err := s.db.WithContext(ctx).Model(&Invocation{}).
		Where("(status IN ? AND finished_at < ?) OR (status = ? AND finished_at < ?)",
			[]string{InvocationSucceeded, InvocationSkipped}, before.UTC(), InvocationDead, deadBefore.UTC()).
		Order("finished_at").Limit(limit).Pluck("id", &ids).Error
	if err != nil {
		return 0, fmt.Errorf("find old invocations: %w", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	res := s.db.WithContext(ctx).Where("id IN ?", ids).Delete(&Invocation{})
	if res.Error != nil {
		return 0, fmt.Errorf("delete old invocations: %w", res.Error)
	}
	return res.RowsAffected, nil
}
