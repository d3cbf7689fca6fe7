package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
	"github.com/seedbed/seedbed/targets/dispatch"
	"github.com/seedbed/seedbed/web"
	"github.com/seedbed/seedbed/web/apiv1"
)

// fakeDrift answers drift checks with what a test set, and counts them.
type fakeDrift struct {
	mu    sync.Mutex
	drift dispatch.Drift
	err   error
	asked []targets.StageRef
}

func (f *fakeDrift) CheckDrift(_ context.Context, ref targets.StageRef) (dispatch.Drift, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, ref)
	return f.drift, f.err
}

// Drifts says what the drift set says of the target, asking nothing.
func (f *fakeDrift) Drifts(context.Context, targets.StageRef) (string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.drift.Target, f.drift.Target != "local", nil
}

func (f *fakeDrift) set(d dispatch.Drift, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drift, f.err = d, err
}

func (f *fakeDrift) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.asked)
}

// makeLive gives stage dev of shop a live release, as a deploy would.
func makeLive(t *testing.T, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	app, err := st.AppByName(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	dev, err := st.StageByName(ctx, app.ID, "dev")
	if err != nil {
		t.Fatal(err)
	}
	b := store.Build{AppID: app.ID, Ref: "main", Status: store.BuildSucceeded, TriggerKind: "api"}
	if err := st.CreateBuild(ctx, &b); err != nil {
		t.Fatal(err)
	}
	manifest, _ := json.Marshal(pipelines.Manifest{App: "shop", BuildID: b.ID, Functions: []targets.Function{{Service: "api", Name: "hello", Digest: "sha256:aa"}}})
	rel := store.Release{AppID: app.ID, BuildID: b.ID, Manifest: string(manifest)}
	if err := st.CreateRelease(ctx, &rel); err != nil {
		t.Fatal(err)
	}
	d := store.Deploy{AppID: app.ID, StageID: dev.ID, ReleaseID: &rel.ID, Status: store.DeploySucceeded, TriggerKind: "api"}
	if err := st.CreateDeploy(ctx, &d); err != nil {
		t.Fatal(err)
	}
	if err := st.SetStageLive(ctx, dev.ID, rel.ID, d.ID); err != nil {
		t.Fatal(err)
	}
}

// A stage's drift, read through the API client and on the map page: a
// viewer reads it, a user with no role on the app learns nothing (not
// even that the check ran), an unreachable cluster is an error that is
// never shown as "none", and only owners see its cause (which names the
// cluster's namespace, owners' to read).
func TestStageDrift(t *testing.T) {
	found := []string{"deployment shop-dev-api-1a2b of function api/hello: replicas is 5, Seedbed set 1"}
	fake := &fakeDrift{drift: dispatch.Drift{Target: "kubernetes", Checked: true, Found: found}}
	rf := setupRoles(t, func(c *web.Config) { c.Drift = fake })
	makeLive(t, rf.store)
	ctx := context.Background()
	client := func(role string) *apiv1.Client { return apiv1.NewClient(rf.srv.URL, rf.users[role].token) }

	for _, path := range []string{"/api/v1/apps/shop/stages/dev/drift", "/apps/shop/stages/dev/map", "/apps/shop/stages/dev/map/drift"} {
		status, body := rf.do(t, rf.users["stranger"], http.MethodGet, path)
		if status != http.StatusNotFound || !strings.Contains(body, "No app named") || strings.Contains(body, "replicas is 5") {
			t.Errorf("GET %s as a non-member: %d, want 404 as if the app did not exist\n%.300s", path, status, body)
		}
	}
	if n := fake.calls(); n != 0 {
		t.Fatalf("a non-member's request checked drift %d times", n)
	}

	d, err := client(store.RoleViewer).StageDrift(ctx, "shop", "dev")
	if err != nil {
		t.Fatalf("a viewer reads drift: %v", err)
	}
	if d.Target != "kubernetes" || !d.Checked || len(d.Drift) != 1 || d.Drift[0] != found[0] || d.CheckedAt.IsZero() {
		t.Fatalf("drift = %+v, want kubernetes's one difference with the time of the check", d)
	}
	if got := fake.asked[0]; got != (targets.StageRef{App: "shop", Stage: "dev"}) {
		t.Errorf("the check asked about %v", got)
	}
	// The map page loads its drift section apart, without waiting on the
	// cluster itself.
	asked := fake.calls()
	status, body := rf.do(t, rf.users[store.RoleViewer], http.MethodGet, "/apps/shop/stages/dev/map")
	if status != http.StatusOK || !strings.Contains(body, `hx-get="/apps/shop/stages/dev/map/drift"`) || strings.Contains(body, "replicas is 5") {
		t.Errorf("the map page does not load its drift section apart: %d\n%.2000s", status, body)
	}
	if n := fake.calls(); n != asked {
		t.Errorf("the map page itself asked the target %d times", n-asked)
	}
	status, body = rf.do(t, rf.users[store.RoleViewer], http.MethodGet, "/apps/shop/stages/dev/map/drift")
	if status != http.StatusOK || !strings.Contains(body, `data-testid="drift-list"`) || !strings.Contains(body, "replicas is 5, Seedbed set 1") ||
		!strings.Contains(body, "next deploy") {
		t.Errorf("the drift section does not list the drift for a viewer: %d\n%.2000s", status, body)
	}

	fake.set(dispatch.Drift{Target: "kubernetes", Checked: true}, nil)
	status, body = rf.do(t, rf.users[store.RoleViewer], http.MethodGet, "/api/v1/apps/shop/stages/dev/drift")
	if status != http.StatusOK || !strings.Contains(body, `"drift":[]`) {
		t.Errorf("no drift: %d %s, want an empty list, not null", status, body)
	}
	if _, body := rf.do(t, rf.users[store.RoleViewer], http.MethodGet, "/apps/shop/stages/dev/map/drift"); !strings.Contains(body, "Drift: none.") {
		t.Errorf("the drift section does not say Drift: none\n%.2000s", body)
	}

	fake.set(dispatch.Drift{Target: "local"}, nil)
	if d, err := client(store.RoleViewer).StageDrift(ctx, "shop", "dev"); err != nil || d.Target != "local" || d.Checked || len(d.Drift) != 0 {
		t.Errorf("a stage on the local target: %+v, %v; want local, not checked", d, err)
	}
	if _, body := rf.do(t, rf.users[store.RoleViewer], http.MethodGet, "/apps/shop/stages/dev/map"); strings.Contains(body, `data-testid="drift`) {
		t.Errorf("the map page of a stage on the local target has a drift section\n%.2000s", body)
	}
	if status, body := rf.do(t, rf.users[store.RoleViewer], http.MethodGet, "/apps/shop/stages/dev/map/drift"); status != http.StatusOK || strings.TrimSpace(body) != "" {
		t.Errorf("the drift section of a stage on the local target: %d %q, want nothing", status, body)
	}

	fake.set(dispatch.Drift{Target: "kubernetes"}, errors.New(`check stage shop/dev for drift on kubernetes namespace secret-ns: dial tcp 10.9.9.9:6443: connection refused`))
	_, err = client(store.RoleViewer).StageDrift(ctx, "shop", "dev")
	var ae *apiv1.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusBadGateway || !strings.Contains(ae.Body.Message, "could not be reached") ||
		strings.Contains(ae.Body.Message, "secret-ns") || strings.Contains(ae.Body.Message, "none") {
		t.Errorf("unreachable cluster as a viewer: %v; want 502 saying it could not be reached, without the namespace", err)
	}
	_, err = client(store.RoleOwner).StageDrift(ctx, "shop", "dev")
	if !errors.As(err, &ae) || ae.Status != http.StatusBadGateway || !strings.Contains(ae.Body.Message, "connection refused") ||
		!strings.Contains(ae.Body.Message, "seedbed target shop dev") {
		t.Errorf("unreachable cluster as an owner: %v; want 502 with the cause and what to check", err)
	}
	status, body = rf.do(t, rf.users[store.RoleViewer], http.MethodGet, "/apps/shop/stages/dev/map/drift")
	if status != http.StatusOK || !strings.Contains(body, `data-testid="drift-error"`) || strings.Contains(body, "Drift: none") {
		t.Errorf("the drift section of an unreachable cluster: %d; want the drift error, never \"none\"\n%.2000s", status, body)
	}

	if _, err := client(store.RoleViewer).StageDrift(ctx, "shop", "nope"); !isStatus(err, http.StatusNotFound) {
		t.Errorf("drift of a stage that does not exist: %v, want 404", err)
	}
}

// A server that runs no stages says it cannot check, and the map page
// shows no drift section.
func TestStageDriftWithoutTargets(t *testing.T) {
	rf := setupRoles(t)
	makeLive(t, rf.store)
	_, err := apiv1.NewClient(rf.srv.URL, rf.users[store.RoleViewer].token).StageDrift(context.Background(), "shop", "dev")
	if !isStatus(err, http.StatusServiceUnavailable) || !strings.Contains(err.Error(), "runs no stages") {
		t.Errorf("drift on a server without targets: %v, want 503 saying so", err)
	}
	if status, body := rf.do(t, rf.users[store.RoleViewer], http.MethodGet, "/apps/shop/stages/dev/map"); status != http.StatusOK || strings.Contains(body, `data-testid="drift`) {
		t.Errorf("map page without targets: %d, shows a drift section", status)
	}
}
