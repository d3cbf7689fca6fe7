package pipelines_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets/targettest"
)

// recordingNotifier keeps the events the pipelines report.
type recordingNotifier struct {
	mu     sync.Mutex
	events []string
}

func (n *recordingNotifier) add(kind string, id uint) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.events = append(n.events, kind+":"+itoa(id))
	return nil
}

func (n *recordingNotifier) BuildFailed(_ context.Context, b store.Build) error {
	return n.add("build_failed", b.ID)
}

func (n *recordingNotifier) DeployFailed(_ context.Context, d store.Deploy) error {
	return n.add("deploy_failed", d.ID)
}

func (n *recordingNotifier) ApprovalAwaiting(_ context.Context, d store.Deploy) error {
	return n.add("approval_awaiting", d.ID)
}

// The pipelines tell the Notifier of a promotion that waits for approval
// and of a deploy that failed, once each, and of nothing that went well.
func TestPipelinesNotify(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "seedbed.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rec := &recordingNotifier{}
	target := targettest.New()
	svc := pipelines.New(pipelines.Config{Store: st, Queue: &recordingQueue{}, Sealer: newSealer(t), Target: target, Notifier: rec})
	app, err := svc.CreateApp(ctx, pipelines.NewApp{Name: "shop", RepoURL: "/src/shop", Branch: "main", NoCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	b := &promoteBundle{st: st, svc: svc, app: app}
	rel := b.goLive(t, "dev")
	staging, err := st.StageByName(ctx, app.ID, "staging")
	if err != nil {
		t.Fatal(err)
	}
	staging.Approval = true
	if err := st.SaveStageSettings(ctx, staging); err != nil {
		t.Fatal(err)
	}
	awaiting, _, err := svc.Promote(ctx, pipelines.PromoteRequest{App: "shop", From: "dev", To: "staging", AnyLive: true, By: "ann@example.com"})
	if err != nil || awaiting.Status != store.DeployAwaiting {
		t.Fatalf("promote into an approval stage: %+v, %v", awaiting, err)
	}

	ok := store.Deploy{AppID: app.ID, StageID: staging.ID, ReleaseID: &rel.ID, Status: store.DeployQueued}
	if err := st.CreateDeploy(ctx, &ok); err != nil {
		t.Fatal(err)
	}
	if err := svc.ApplyDeploy(ctx, ok.ID); err != nil {
		t.Fatal(err)
	}
	target.FailApply(errors.New("no room for api/hello"))
	bad := store.Deploy{AppID: app.ID, StageID: staging.ID, ReleaseID: &rel.ID, Status: store.DeployQueued}
	if err := st.CreateDeploy(ctx, &bad); err != nil {
		t.Fatal(err)
	}
	if err := svc.ApplyDeploy(ctx, bad.ID); err != nil {
		t.Fatal(err)
	}
	if err := svc.ApplyDeploy(ctx, bad.ID); err != nil { // a retried job finds it finished
		t.Fatal(err)
	}
	got, _ := st.DeployByID(ctx, bad.ID)
	if got.Status != store.DeployFailed {
		t.Fatalf("deploy with a failing target: %s, want failed", got.Status)
	}
	want := []string{"approval_awaiting:" + itoa(awaiting.ID), "deploy_failed:" + itoa(bad.ID)}
	if len(rec.events) != len(want) || rec.events[0] != want[0] || rec.events[1] != want[1] {
		t.Errorf("notified %v, want %v", rec.events, want)
	}
}
