package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
)

// scheduledEvent is an EventBridge "Scheduled Event", which aws-lambda-go's
// events.EventBridgeEvent (and every Lambda runtime) decodes.
type scheduledEvent struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       time.Time       `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// ScheduledEvent renders the event a schedule's tick delivers: id is the
// invocation's, due the tick's due time (what EventBridge puts in "time").
func ScheduledEvent(id string, due time.Time, ref targets.StageRef, fnKey, scheduleID string) []byte {
	b, _ := json.Marshal(scheduledEvent{
		Version: "0", ID: id, DetailType: "Scheduled Event", Source: "aws.events", Account: "000000000000",
		Time: due.UTC(), Region: "local",
		Resources: []string{"arn:seedbed:events:local:000000000000:rule/" + ref.App + "/" + ref.Stage + "/" + fnKey + "/" + scheduleID},
		Detail:    json.RawMessage(`{}`),
	})
	return b
}

// scheduleRef is one schedule of one function of one deployed stage.
type scheduleRef struct {
	stage Stage
	fn    targets.Function
	ev    stack.Event
	id    string
}

func (r scheduleRef) key() string { return strconv.FormatUint(uint64(r.stage.ID), 10) + "/" + r.id }

// schedule parses (and caches) a schedule expression.
func (s *Service) schedule(ev stack.Event) (stack.Schedule, error) {
	k := ev.Schedule + "\x00" + ev.TimeZone
	s.mu.Lock()
	defer s.mu.Unlock()
	if sc, ok := s.schedules[k]; ok {
		return sc, nil
	}
	sc, err := stack.ParseSchedule(ev.Schedule, ev.TimeZone)
	if err != nil {
		return nil, err
	}
	s.schedules[k] = sc
	return sc, nil
}

// Scheduler fires the ticks of every deployed stage's schedules. Every
// serve process runs one; they share the work through the database.
type Scheduler struct {
	svc    *Service
	period time.Duration
	// cursor is the last tick seen per schedule (stage id/schedule id).
	cursor map[string]time.Time
}

// NewScheduler makes a Scheduler that looks for due ticks every period
// (default 200ms: the most a tick fires late when all is well).
func (s *Service) NewScheduler(period time.Duration) *Scheduler {
	if period <= 0 {
		period = 200 * time.Millisecond
	}
	return &Scheduler{svc: s, period: period, cursor: map[string]time.Time{}}
}

// Run fires ticks until ctx is done.
func (sc *Scheduler) Run(ctx context.Context) {
	t := time.NewTicker(sc.period)
	defer t.Stop()
	failing := false
	for {
		err := sc.Once(ctx)
		switch {
		case err != nil && !failing:
			sc.svc.log.Error("schedules: cannot fire ticks; trying again", "err", err)
			failing = true
		case err == nil && failing:
			sc.svc.log.Info("schedules: firing ticks again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Once fires the ticks due now.
func (sc *Scheduler) Once(ctx context.Context) error {
	s := sc.svc
	refs, err := s.scheduleRefs(ctx)
	if err != nil {
		return err
	}
	states, err := s.cfg.Store.ScheduleStates(ctx)
	if err != nil {
		return err
	}
	paused := map[string]bool{}
	for _, st := range states {
		if st.Paused {
			paused[strconv.FormatUint(uint64(st.StageID), 10)+"/"+st.ScheduleID] = true
		}
	}
	now := s.cfg.Now()
	var first error
	for _, r := range refs {
		k := r.key()
		if paused[k] || r.stage.SchedulesOff {
			sc.cursor[k] = now
			continue
		}
		sched, err := s.schedule(r.ev)
		if err != nil {
			continue // refused when the release was built; nothing to fire
		}
		cur, seen := sc.cursor[k]
		if !seen {
			// First sight: catch up on the latest missed tick if the
			// schedule ran before and that tick is recent enough.
			last, err := s.cfg.Store.LastTick(ctx, r.stage.ID, r.id)
			if err != nil {
				first = cmpErr(first, err)
				continue
			}
			cur = now
			if !last.IsZero() {
				cur = now.Add(-s.cfg.CatchUp)
				if last.After(cur) {
					cur = last
				}
			}
		}
		var due time.Time
		for n, t := 0, sched.Next(cur); !t.After(now) && n < 100000; n, t = n+1, sched.Next(t) {
			due = t
		}
		if due.IsZero() {
			sc.cursor[k] = cur
			continue
		}
		if err := s.fire(ctx, r, due); err != nil {
			first = cmpErr(first, err)
			continue // the next look tries the tick again
		}
		sc.cursor[k] = due
	}
	return first
}

func cmpErr(first, err error) error {
	if first == nil {
		return err
	}
	return first
}

// scheduleRefs lists every schedule of every deployed stage.
func (s *Service) scheduleRefs(ctx context.Context) ([]scheduleRef, error) {
	stages, err := s.liveStages(ctx)
	if err != nil {
		return nil, err
	}
	var out []scheduleRef
	for _, st := range stages {
		for _, fn := range st.Functions {
			for _, ev := range fn.Events {
				if ev.IsSchedule() {
					out = append(out, scheduleRef{stage: st, fn: fn, ev: ev, id: ScheduleID(fn.Key(), ev)})
				}
			}
		}
	}
	return out, nil
}

// fire claims the tick due of a schedule and queues its run. Another
// process that claimed it first wins; that is not an error.
func (s *Service) fire(ctx context.Context, r scheduleRef, due time.Time) error {
	inv := s.scheduleInvocation(r, store.SourceSchedule, due)
	key := fmt.Sprintf("tick:%d:%s:%d", r.stage.ID, r.id, due.UnixMilli())
	inv.DedupeKey = &key
	d := due.UTC()
	inv.DueAt = &d
	err := s.record(ctx, &inv)
	if errors.Is(err, store.ErrConflict) {
		return nil
	}
	return err
}

func (s *Service) scheduleInvocation(r scheduleRef, source string, at time.Time) store.Invocation {
	inv := s.newInvocation(r.stage, r.fn, source)
	inv.ScheduleID = r.id
	inv.Payload = ScheduledEvent(inv.ID, at, r.stage.Ref, r.fn.Key(), r.id)
	if r.fn.Kind != stack.KindLambda {
		inv.Method, inv.Path = "POST", r.ev.Path
	}
	return inv
}

// ScheduleInfo describes one schedule of a stage for pages and the API.
type ScheduleInfo struct {
	ID       string           `json:"id"`
	Function string           `json:"function"`
	Schedule string           `json:"schedule"`
	TimeZone string           `json:"time_zone,omitempty"`
	Path     string           `json:"path,omitempty"`
	Overlap  bool             `json:"overlap,omitempty"`
	Paused   bool             `json:"paused"`
	Off      bool             `json:"off"` // the stage's schedules are off
	NextRun  *time.Time       `json:"next_run,omitempty"`
	Last     *InvocationBrief `json:"last,omitempty"`
}

// InvocationBrief is an invocation as lists show it.
type InvocationBrief struct {
	ID         string     `json:"id"`
	Function   string     `json:"function"`
	Source     string     `json:"source"`
	Status     string     `json:"status"`
	Attempts   int        `json:"attempts"`
	DurationMS int64      `json:"duration_ms"`
	Error      string     `json:"error,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	DueAt      *time.Time `json:"due_at,omitempty"`
}

// Brief shortens an invocation record.
func Brief(inv store.Invocation) InvocationBrief {
	return InvocationBrief{ID: inv.ID, Function: inv.Function, Source: inv.Source, Status: inv.Status, Attempts: inv.Attempts,
		DurationMS: inv.DurationMS, Error: inv.Error, CreatedAt: inv.CreatedAt, DueAt: inv.DueAt}
}

// Schedules lists the schedules of a deployed stage with their next run
// and last result.
func (s *Service) Schedules(ctx context.Context, ref targets.StageRef) ([]ScheduleInfo, error) {
	st, err := s.stage(ctx, ref)
	if err != nil {
		return nil, err
	}
	states, err := s.cfg.Store.ScheduleStates(ctx)
	if err != nil {
		return nil, err
	}
	paused := map[string]bool{}
	for _, x := range states {
		if x.StageID == st.ID && x.Paused {
			paused[x.ScheduleID] = true
		}
	}
	now := s.cfg.Now()
	var out []ScheduleInfo
	for _, fn := range st.Functions {
		for _, ev := range fn.Events {
			if !ev.IsSchedule() {
				continue
			}
			id := ScheduleID(fn.Key(), ev)
			info := ScheduleInfo{ID: id, Function: fn.Key(), Schedule: ev.Schedule, TimeZone: ev.TimeZone, Path: ev.Path, Overlap: ev.Overlap,
				Paused: paused[id], Off: st.SchedulesOff}
			if sched, err := s.schedule(ev); err == nil && !info.Paused && !info.Off {
				next := sched.Next(now).UTC()
				info.NextRun = &next
			}
			last, err := s.cfg.Store.Invocations(ctx, store.InvocationFilter{StageID: st.ID, ScheduleID: id, Limit: 1})
			if err != nil {
				return nil, err
			}
			if len(last) > 0 {
				b := Brief(last[0])
				info.Last = &b
			}
			out = append(out, info)
		}
	}
	return out, nil
}

// findSchedule finds a schedule of a deployed stage by id.
func (s *Service) findSchedule(ctx context.Context, ref targets.StageRef, id string) (scheduleRef, error) {
	st, err := s.stage(ctx, ref)
	if err != nil {
		return scheduleRef{}, err
	}
	for _, fn := range st.Functions {
		for _, ev := range fn.Events {
			if ev.IsSchedule() && ScheduleID(fn.Key(), ev) == id {
				return scheduleRef{stage: st, fn: fn, ev: ev, id: id}, nil
			}
		}
	}
	return scheduleRef{}, fmt.Errorf("stage %s has no schedule %q; `seedbed schedules list` shows their ids: %w", ref, id, store.ErrNotFound)
}

// RunNow queues a run of a schedule at once, outside its ticks.
func (s *Service) RunNow(ctx context.Context, ref targets.StageRef, id string) (string, error) {
	r, err := s.findSchedule(ctx, ref, id)
	if err != nil {
		return "", err
	}
	inv := s.scheduleInvocation(r, store.SourceManual, s.cfg.Now())
	if err := s.record(ctx, &inv); err != nil {
		return "", err
	}
	return inv.ID, nil
}

// Pause stops (or with paused false, resumes) a schedule's ticks. Ticks
// that fall due while it is paused are skipped, not run on resume.
func (s *Service) Pause(ctx context.Context, ref targets.StageRef, id string, paused bool) error {
	r, err := s.findSchedule(ctx, ref, id)
	if err != nil {
		return err
	}
	return s.cfg.Store.SetSchedulePaused(ctx, r.stage.ID, id, paused)
}
