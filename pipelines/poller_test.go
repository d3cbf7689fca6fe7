package pipelines_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/testutil"
)

// recordingQueue is an Enqueuer that keeps the tasks instead of queueing.
type recordingQueue struct {
	mu    sync.Mutex
	tasks []*asynq.Task
}

func (q *recordingQueue) EnqueueContext(_ context.Context, task *asynq.Task, _ ...asynq.Option) (*asynq.TaskInfo, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.tasks = append(q.tasks, task)
	return &asynq.TaskInfo{}, nil
}

// newSealer is a Sealer with a fixed test key: a Service needs one to
// create apps (their webhook secrets are sealed).
func newSealer(t *testing.T) *pipelines.Sealer {
	t.Helper()
	s, err := pipelines.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Polling builds when a followed branch or tag moves, and not otherwise:
// not on the first poll, not when nothing moved, not for a branch no stage
// follows.
func TestPollerStartsBuildsWhenFollowedRefsMove(t *testing.T) {
	for _, db := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "seedbed.db") }},
		{"postgres", func(t *testing.T) string { return testutil.PostgresURL(t) }},
	} {
		t.Run(db.name, func(t *testing.T) { testPoller(t, db.url(t)) })
	}
}

func testPoller(t *testing.T, dbURL string) {
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	q := &recordingQueue{}
	svc := pipelines.New(pipelines.Config{Store: st, Queue: q, Sealer: newSealer(t)})
	repo := testutil.NewRepo(t)
	repo.Commit("first", map[string]string{"a.txt": "1"})
	app, err := svc.CreateApp(ctx, pipelines.NewApp{Name: "polled", RepoURL: repo.Dir, Branch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	prod, err := st.StageByName(ctx, app.ID, "prod")
	if err != nil {
		t.Fatal(err)
	}
	prod.Branch = "tag:v*"
	if err := st.SaveStageSettings(ctx, prod); err != nil {
		t.Fatal(err)
	}
	p := svc.NewPoller(0)

	builds := func() []store.Build {
		t.Helper()
		bs, err := st.Builds(ctx, app.ID, 50)
		if err != nil {
			t.Fatal(err)
		}
		return bs
	}
	poll := func() pipelines.PollResult {
		t.Helper()
		res, err := p.PollApp(ctx, app)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	if res := poll(); len(res.Builds) != 0 || len(builds()) != 0 {
		t.Fatalf("the first poll built what was already there: %+v", res)
	}
	if res := poll(); len(res.Builds) != 0 || len(res.Moved) != 0 {
		t.Fatalf("a poll with nothing moved: %+v", res)
	}
	repo.Git("checkout", "-q", "-b", "feature")
	repo.Commit("on a branch nobody follows", map[string]string{"a.txt": "f"})
	repo.Git("checkout", "-q", "main")
	if res := poll(); len(res.Builds) != 0 || len(res.Moved) != 1 {
		t.Fatalf("a new branch no stage follows: %+v", res)
	}

	second := repo.Commit("second", map[string]string{"a.txt": "2"})
	res := poll()
	if len(res.Builds) != 1 || len(res.Moved) != 1 || res.Moved[0] != "refs/heads/main" {
		t.Fatalf("main moved: %+v", res)
	}
	bs := builds()
	if len(bs) != 1 || bs[0].Ref != "main" || bs[0].CommitSHA != second || bs[0].TriggerKind != pipelines.TriggerPoll {
		t.Fatalf("builds after main moved: %+v", bs)
	}
	ds, err := st.DeploysOfBuild(ctx, bs[0].ID)
	if err != nil || len(ds) != 1 {
		t.Fatalf("deploys of the polled build: %v %v", ds, err)
	}
	if len(q.tasks) != 1 {
		t.Fatalf("%d tasks queued, want 1", len(q.tasks))
	}
	if res := poll(); len(res.Builds) != 0 {
		t.Fatalf("polled again with nothing new: %+v", res)
	}

	// An annotated tag a stage follows builds the commit it names.
	repo.Git("tag", "-a", "v1.0.0", "-m", "release")
	res = poll()
	if len(res.Builds) != 1 {
		t.Fatalf("tag v1.0.0: %+v", res)
	}
	if bs := builds(); bs[0].Ref != "v1.0.0" || bs[0].CommitSHA != second {
		t.Fatalf("the tag's build is of %s at %s, want v1.0.0 at the commit %s", bs[0].Ref, bs[0].CommitSHA, second)
	}

	// A poller made anew (a restart) remembers what it saw.
	if res, err := svc.NewPoller(0).PollApp(ctx, app); err != nil || len(res.Builds) != 0 {
		t.Fatalf("after a restart: %+v, %v", res, err)
	}
}
