package events

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
)

// fixedStages is a Stages that serves the same list.
type fixedStages []Stage

func (f fixedStages) LiveStages(context.Context) ([]Stage, error) { return f, nil }

// taskLog is an Enqueuer that keeps the ids of the tasks it was given and,
// like asynq, refuses an id it holds already.
type taskLog struct {
	mu  sync.Mutex
	ids []string
}

func (l *taskLog) EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var id string
	for _, o := range opts {
		if o.Type() == asynq.TaskIDOpt {
			id = o.Value().(string)
		}
	}
	for _, have := range l.ids {
		if have == id {
			return nil, asynq.ErrTaskIDConflict
		}
	}
	l.ids = append(l.ids, id)
	return &asynq.TaskInfo{ID: id}, nil
}

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// bundle is what each test starts from: a migrated SQLite store with an
// app whose dev stage runs one function on expr, and a Service on it.
type bundle struct {
	store *store.Store
	stage Stage
	clock *clock
	tasks *taskLog
}

func setup(t *testing.T, expr string) *bundle {
	t.Helper()
	return setupOn(t, filepath.Join(t.TempDir(), "seedbed.db"), expr)
}

// setupOn is setup on the database at url.
func setupOn(t *testing.T, url, expr string) *bundle {
	t.Helper()
	s, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	app := store.App{Name: "shop", RepoURL: "/src/shop", Branch: "main"}
	stages := []store.Stage{{Name: "dev"}}
	if err := s.CreateApp(context.Background(), &app, stages); err != nil {
		t.Fatal(err)
	}
	fn := targets.Function{Service: "jobs", Name: "tick", Runtime: "go", Kind: stack.KindLambda, Handler: "bootstrap",
		Events: []stack.Event{{Schedule: expr}}}
	return &bundle{store: s, clock: &clock{}, tasks: &taskLog{},
		stage: Stage{ID: stages[0].ID, Ref: targets.StageRef{App: "shop", Stage: "dev"}, Functions: []targets.Function{fn}}}
}

// service makes one Service (one Seedbed process) on the bundle.
func (b *bundle) service(stages ...Stage) *Service {
	if stages == nil {
		stages = []Stage{b.stage}
	}
	return New(Config{Store: b.store, Stages: fixedStages(stages), Queue: b.tasks, Now: b.clock.Now})
}

func (b *bundle) ticks(t *testing.T) []time.Time {
	t.Helper()
	invs, err := b.store.Invocations(context.Background(), store.InvocationFilter{StageID: b.stage.ID, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []time.Time
	for _, inv := range invs {
		if inv.Source == store.SourceSchedule {
			out = append(out, inv.DueAt.UTC())
		}
	}
	return out
}

var t0 = time.Date(2026, 12, 6, 20, 0, 30, 0, time.UTC)

func TestSchedulersOfTwoProcessesClaimEachTickOnce(t *testing.T) {
	b := setup(t, "rate(1 minute)")
	ctx := context.Background()
	one, two := b.service().NewScheduler(0), b.service().NewScheduler(0)
	b.clock.Set(t0)
	for _, sc := range []*Scheduler{one, two} {
		if err := sc.Once(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.ticks(t); len(got) != 0 {
		t.Fatalf("a new schedule fired %v before its first tick", got)
	}
	for m := 1; m <= 3; m++ {
		b.clock.Set(t0.Add(time.Duration(m) * time.Minute))
		for _, sc := range []*Scheduler{two, one} {
			if err := sc.Once(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	got := b.ticks(t)
	if len(got) != 3 || len(b.tasks.ids) != 3 {
		t.Fatalf("ticks %v and %d tasks, want 3 of each", got, len(b.tasks.ids))
	}
	seen := map[time.Time]bool{}
	for _, due := range got {
		if seen[due] || due.Second() != 0 {
			t.Errorf("tick %s twice or off the minute", due)
		}
		seen[due] = true
	}
}

func TestSchedulerMissedTicks(t *testing.T) {
	tests := []struct {
		name    string
		restart time.Duration // after the last recorded tick
		want    int           // ticks fired at restart
	}{
		{"a tick missed by 3 minutes runs late", 63 * time.Minute, 1},
		{"a tick missed by 20 minutes is skipped", 80 * time.Minute, 0},
		{"of several missed ticks only the latest runs", 3*time.Hour + 2*time.Minute, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := setup(t, "rate(1 hour)")
			ctx := context.Background()
			// The schedule ran at 20:00; the process went down after.
			first := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
			b.clock.Set(first.Add(-time.Second))
			sc := b.service().NewScheduler(0)
			if err := sc.Once(ctx); err != nil {
				t.Fatal(err)
			}
			b.clock.Set(first.Add(100 * time.Millisecond))
			if err := sc.Once(ctx); err != nil || len(b.ticks(t)) != 1 {
				t.Fatalf("the first tick: %v, %v", b.ticks(t), err)
			}
			// A new process (a restart) tc.restart later.
			b.clock.Set(first.Add(tc.restart))
			if err := b.service().NewScheduler(0).Once(ctx); err != nil {
				t.Fatal(err)
			}
			got := b.ticks(t)
			if len(got)-1 != tc.want {
				t.Fatalf("fired %v at restart, want %d more after the first", got, tc.want)
			}
			if tc.want == 1 {
				latest := first.Add(tc.restart).Truncate(time.Hour)
				if got[0] != latest && got[len(got)-1] != latest {
					t.Errorf("fired %v, want the latest due tick %s", got, latest)
				}
			}
		})
	}
}

func TestPausedAndOffSchedulesDoNotFire(t *testing.T) {
	b := setup(t, "rate(1 minute)")
	ctx := context.Background()
	svc := b.service()
	sched, err := svc.Schedules(ctx, b.stage.Ref)
	if err != nil || len(sched) != 1 || sched[0].NextRun == nil {
		t.Fatalf("schedules = %+v, %v", sched, err)
	}
	if err := svc.Pause(ctx, b.stage.Ref, sched[0].ID, true); err != nil {
		t.Fatal(err)
	}
	off := b.stage
	off.ID, off.Ref.Stage, off.SchedulesOff = b.stage.ID+100, "pr-7", true
	sc := b.service(b.stage, off).NewScheduler(0)
	for m := range 4 {
		b.clock.Set(t0.Add(time.Duration(m) * time.Minute))
		if err := sc.Once(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.ticks(t); len(got) != 0 {
		t.Fatalf("a paused schedule and a stage with schedules off fired %v", got)
	}
	if err := svc.Pause(ctx, b.stage.Ref, "nope", true); err == nil {
		t.Errorf("pausing an unknown schedule succeeded")
	}
}

// okInvoker answers every event at once and counts them.
type okInvoker struct{ n int }

func (o *okInvoker) Invoke(ctx context.Context, ref targets.StageRef, fn string, ev targets.Event) (targets.Result, error) {
	o.n++
	return targets.Result{Payload: []byte(`"ok"`)}, nil
}

func TestOverlappingTickIsSkipped(t *testing.T) {
	b := setup(t, "rate(1 minute)")
	ctx := context.Background()
	inv := &okInvoker{}
	svc := New(Config{Store: b.store, Stages: fixedStages{b.stage}, Queue: b.tasks, Invoker: inv, Now: b.clock.Now})
	b.clock.Set(t0)
	id := ScheduleID("jobs/tick", stack.Event{Schedule: "rate(1 minute)"})
	// The previous tick's run still holds the schedule.
	if ok, err := b.store.ClaimScheduleRun(ctx, b.stage.ID, id, "earlier-run", t0, t0.Add(time.Minute)); err != nil || !ok {
		t.Fatal(ok, err)
	}
	q, err := svc.RunNow(ctx, b.stage.Ref, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.HandleInvoke(ctx, asynq.NewTask(TaskInvoke, []byte(`{"id":"`+q+`"}`))); err != nil {
		t.Fatal(err)
	}
	got, err := b.store.InvocationByID(ctx, q)
	if err != nil || got.Status != store.InvocationSkipped || inv.n != 0 {
		t.Fatalf("a run while the previous one holds the schedule: %+v (%v), function called %d times", got, err, inv.n)
	}
	// Once released, the next run goes ahead, and a second delivery of
	// its task does not run it again.
	if err := b.store.ReleaseScheduleRun(ctx, b.stage.ID, id, "earlier-run"); err != nil {
		t.Fatal(err)
	}
	q, _ = svc.RunNow(ctx, b.stage.Ref, id)
	for range 2 {
		if err := svc.HandleInvoke(ctx, asynq.NewTask(TaskInvoke, []byte(`{"id":"`+q+`"}`))); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := b.store.InvocationByID(ctx, q); got.Status != store.InvocationSucceeded || got.Attempts != 1 || inv.n != 1 {
		t.Fatalf("after the release: %+v, function called %d times; want one successful run", got, inv.n)
	}
}
