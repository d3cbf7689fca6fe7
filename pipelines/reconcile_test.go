package pipelines_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/pipelines/queue"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/testutil"
)

// reconcileBundle is what a reconciler test works with: a real store and a
// real queue, and a Service that enqueues to it.
type reconcileBundle struct {
	store *store.Store
	svc   *pipelines.Service
	opt   asynq.RedisConnOpt
	insp  *asynq.Inspector
	// redis talks to the queue's server directly, to empty it.
	redis redis.UniversalClient
	// embedded is the in-process server, when the queue is one.
	embedded *queue.Embedded
	app      store.App
}

// reconcileBackends are the database and queue pairs the reconciler is
// tested on: what `seedbed serve` uses alone, and what a cluster uses.
var reconcileBackends = []struct {
	name     string
	database func(t *testing.T) string
	embedded bool
}{
	{"sqlite+embedded", func(t *testing.T) string { return filepath.Join(t.TempDir(), "seedbed.db") }, true},
	{"postgres+redis", func(t *testing.T) string { return testutil.PostgresURL(t) }, false},
}

func setupReconcile(t *testing.T, dbURL string, embedded bool) *reconcileBundle {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := &reconcileBundle{store: st}
	if embedded {
		e, err := queue.StartEmbedded(ctx, queue.EmbeddedOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		b.embedded, b.opt = e, e.ConnOpt()
	} else {
		b.opt, err = queue.RedisOpt(testutil.RedisURL(t))
		if err != nil {
			t.Fatal(err)
		}
	}
	client := asynq.NewClient(b.opt)
	t.Cleanup(func() { client.Close() })
	b.insp = asynq.NewInspector(b.opt)
	t.Cleanup(func() { b.insp.Close() })
	b.redis = b.opt.MakeRedisClient().(redis.UniversalClient)
	t.Cleanup(func() { b.redis.Close() })
	b.svc = pipelines.New(pipelines.Config{Store: st, Queue: client, Sealer: newSealer(t), BuildTimeout: time.Minute, DeployTimeout: time.Minute})
	b.app, err = b.svc.CreateApp(ctx, pipelines.NewApp{Name: "shop", RepoURL: "/src/shop", Branch: "main", NoCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// flush empties the queue's database, as FLUSHDB or a Redis restart
// without persistence does.
func (b *reconcileBundle) flush(t *testing.T) {
	t.Helper()
	if err := b.redis.FlushDB(context.Background()).Err(); err != nil {
		t.Fatalf("FLUSHDB: %v", err)
	}
}

// stage returns the id of one of the app's stages.
func (b *reconcileBundle) stage(t *testing.T, name string) uint {
	t.Helper()
	st, err := b.store.StageByName(context.Background(), b.app.ID, name)
	if err != nil {
		t.Fatal(err)
	}
	return st.ID
}

// finishedBuild records a succeeded build with a release.
func (b *reconcileBundle) finishedBuild(t *testing.T) store.Build {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	build := store.Build{AppID: b.app.ID, Ref: "main", Status: store.BuildSucceeded, FinishedAt: &now}
	if err := b.store.CreateBuild(ctx, &build); err != nil {
		t.Fatal(err)
	}
	if err := b.store.CreateRelease(ctx, &store.Release{AppID: b.app.ID, BuildID: build.ID, Manifest: "{}"}); err != nil {
		t.Fatal(err)
	}
	return build
}

// taskState returns the state of a job in the queue, or "missing".
//
// After a FLUSHDB, asynq's client adds tasks without listing their queue
// again, and the inspector answers "queue not found" for a task that is
// there; the task's own key (asynq v0.26.0's layout) then decides.
func (b *reconcileBundle) taskState(t *testing.T, queueName, id string) string {
	t.Helper()
	info, err := b.insp.GetTaskInfo(queueName, id)
	switch {
	case errors.Is(err, asynq.ErrQueueNotFound):
		key := "asynq:{" + queueName + "}:t:" + id
		state, err := b.redis.HGet(context.Background(), key, "state").Result()
		if errors.Is(err, redis.Nil) {
			return "missing"
		}
		if err != nil {
			t.Fatalf("read %s: %v", key, err)
		}
		return state
	case errors.Is(err, asynq.ErrTaskNotFound):
		return "missing"
	case err != nil:
		t.Fatalf("look up %s: %v", id, err)
	}
	return info.State.String()
}

// After the queue is emptied, every build and deploy the database holds as
// unfinished is queued again, once it has been missing for LostAfter and
// not before; what is still queued is left alone.
func TestReconcilerRequeuesLostJobs(t *testing.T) {
	for _, be := range reconcileBackends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			b := setupReconcile(t, be.database(t), be.embedded)
			ctx := context.Background()

			// A deploy request: a queued build, and a deploy waiting for it.
			b1, d1, err := b.svc.RequestDeploy(ctx, pipelines.DeployRequest{App: "shop", Stage: "dev", Trigger: "manual"})
			if err != nil {
				t.Fatal(err)
			}
			// A build the worker was running, recorded so.
			b2 := store.Build{AppID: b.app.ID, Ref: "main", Status: store.BuildRunning}
			if err := b.store.CreateBuild(ctx, &b2); err != nil {
				t.Fatal(err)
			}
			// A deploy of a built release that was recorded while the
			// queue was down: it never had a job.
			rel := b.finishedBuild(t)
			relRow, err := b.store.ReleaseByBuild(ctx, rel.ID)
			if err != nil {
				t.Fatal(err)
			}
			d3 := store.Deploy{AppID: b.app.ID, StageID: b.stage(t, "staging"), BuildID: &rel.ID, ReleaseID: &relRow.ID, Status: store.DeployQueued}
			if err := b.store.CreateDeploy(ctx, &d3); err != nil {
				t.Fatal(err)
			}
			// A deploy still waiting for a build that has finished: the
			// build's job ended before handing the release over.
			b4 := b.finishedBuild(t)
			d4 := store.Deploy{AppID: b.app.ID, StageID: b.stage(t, "prod"), BuildID: &b4.ID, Status: store.DeployQueued}
			if err := b.store.CreateDeploy(ctx, &d4); err != nil {
				t.Fatal(err)
			}
			// A finished build and deploy: nothing to do.
			done := b.finishedBuild(t)
			now := time.Now().UTC()
			d5 := store.Deploy{AppID: b.app.ID, StageID: b.stage(t, "dev"), BuildID: &done.ID, Status: store.DeploySucceeded, FinishedAt: &now}
			if err := b.store.CreateDeploy(ctx, &d5); err != nil {
				t.Fatal(err)
			}

			clock := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
			const lostAfter = 8 * time.Second
			rec := b.svc.NewReconciler(b.insp, pipelines.ReconcilerOptions{LostAfter: lostAfter, Now: func() time.Time { return clock }})
			id := func(kind string, n uint) string { return kind + ":" + itoa(n) }
			pass := func(at time.Duration, want ...string) {
				t.Helper()
				clock = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC).Add(at)
				got, err := rec.Reconcile(ctx)
				if err != nil {
					t.Fatalf("reconcile at +%s: %v", at, err)
				}
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Fatalf("reconcile at +%s queued %v, want %v", at, got, want)
				}
			}

			pass(0) // b2, d3 and d4 missing from now on; b1 is queued
			if s := b.taskState(t, pipelines.QueueBuilds, id("build", b1.ID)); s != "pending" {
				t.Fatalf("build %d is %s before the flush, want pending", b1.ID, s)
			}
			b.flush(t)
			pass(time.Second)                  // b1 missing from now on
			pass(lostAfter - time.Millisecond) // nothing is lost yet
			pass(lostAfter, id("build", b2.ID), id("deploy", d3.ID), id("deploy", d4.ID))
			pass(lostAfter+time.Second, id("build", b1.ID))
			pass(10 * lostAfter) // all queued again: nothing to do

			for _, job := range []struct{ queue, id string }{
				{pipelines.QueueBuilds, id("build", b1.ID)},
				{pipelines.QueueBuilds, id("build", b2.ID)},
				{pipelines.QueueDeploys, id("deploy", d3.ID)},
				{pipelines.QueueDeploys, id("deploy", d4.ID)},
			} {
				if s := b.taskState(t, job.queue, job.id); s != "pending" {
					t.Errorf("%s is %s after reconciling, want pending", job.id, s)
				}
			}
			for _, gone := range []string{id("deploy", d1.ID), id("deploy", d5.ID)} {
				if s := b.taskState(t, pipelines.QueueDeploys, gone); s != "missing" {
					t.Errorf("%s is %s, want no job (waiting for its build, or finished)", gone, s)
				}
			}
			if d4, err = b.store.DeployByID(ctx, d4.ID); err != nil || d4.ReleaseID == nil {
				t.Errorf("deploy %d has no release after the hand-over (err %v)", d4.ID, err)
			}
		})
	}
}

// A job that a worker is running when the queue is emptied has no key left
// in Redis, but its worker's heartbeat reports it: it must not be queued
// again and run a second time beside the first.
func TestReconcilerLeavesRunningJobsAlone(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out asynq's heartbeat (about 12s)")
	}
	for _, be := range reconcileBackends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			b := setupReconcile(t, be.database(t), be.embedded)
			ctx := context.Background()

			var runs atomic.Int32
			started, release := make(chan struct{}, 10), make(chan struct{})
			srv := asynq.NewServer(b.opt, queue.ServerConfig(asynq.Config{
				Queues: map[string]int{pipelines.QueueBuilds: 1}, Concurrency: 2, LogLevel: asynq.FatalLevel, ShutdownTimeout: time.Second,
			}))
			mux := asynq.NewServeMux()
			mux.HandleFunc(pipelines.KindBuildRun, func(ctx context.Context, _ *asynq.Task) error {
				runs.Add(1)
				started <- struct{}{}
				select {
				case <-release:
				case <-ctx.Done():
				}
				return nil
			})
			if err := srv.Start(mux); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(srv.Shutdown)
			t.Cleanup(func() { close(release) })

			build, _, err := b.svc.RequestDeploy(ctx, pipelines.DeployRequest{App: "shop", Stage: "dev", Trigger: "manual"})
			if err != nil {
				t.Fatal(err)
			}
			select {
			case <-started:
			case <-time.After(10 * time.Second):
				t.Fatal("the build's job did not start")
			}
			b.flush(t)
			taskID := "build:" + itoa(build.ID)
			if s := b.taskState(t, pipelines.QueueBuilds, taskID); s != "missing" {
				t.Fatalf("%s is %s right after FLUSHDB, want missing", taskID, s)
			}

			// Real time: the heartbeat that reports the running job comes
			// within 5s of the flush.
			rec := b.svc.NewReconciler(b.insp, pipelines.ReconcilerOptions{})
			deadline := time.Now().Add(pipelines.DefaultLostAfter + 4*time.Second)
			for time.Now().Before(deadline) {
				got, err := rec.Reconcile(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) > 0 {
					t.Fatalf("queued %v again while its worker runs it", got)
				}
				time.Sleep(250 * time.Millisecond)
			}
			if n := runs.Load(); n != 1 {
				t.Errorf("the build's job ran %d times, want once", n)
			}
		})
	}
}

// While the queue is unreachable, Reconcile says so and queues nothing.
func TestReconcilerQueueDown(t *testing.T) {
	b := setupReconcile(t, filepath.Join(t.TempDir(), "seedbed.db"), true)
	ctx := context.Background()
	if _, _, err := b.svc.RequestDeploy(ctx, pipelines.DeployRequest{App: "shop", Stage: "dev", Trigger: "manual"}); err != nil {
		t.Fatal(err)
	}
	b.embedded.Close()
	rec := b.svc.NewReconciler(b.insp, pipelines.ReconcilerOptions{LostAfter: -1})
	got, err := rec.Reconcile(ctx)
	if err == nil || len(got) > 0 {
		t.Fatalf("Reconcile with the queue closed = %v, %v; want an error and nothing queued", got, err)
	}
	// A deploy requested now is recorded, and the error says so in words
	// a user can act on.
	build, _, err := b.svc.RequestDeploy(ctx, pipelines.DeployRequest{App: "shop", Stage: "dev", Trigger: "manual"})
	if err == nil {
		t.Fatal("RequestDeploy with the queue closed succeeded")
	}
	if code := pipelines.ErrorCode(err); code != pipelines.EUnavailable {
		t.Errorf("error code %q, want %q (%v)", code, pipelines.EUnavailable, err)
	}
	if msg := pipelines.ErrorMessage(err); !contains(msg, "is recorded", "queue", "Redis") {
		t.Errorf("message %q does not say the build is recorded and the queue is down", msg)
	}
	if got, err := b.store.BuildByID(ctx, build.ID); err != nil || got.Status != store.BuildQueued {
		t.Errorf("build %d after the refused enqueue: %+v, %v; want it recorded as queued", build.ID, got, err)
	}
}

func itoa(n uint) string { return strconv.FormatUint(uint64(n), 10) }

// contains reports whether s contains every one of subs.
func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
