//go:build k8s

package kubernetes

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
	"github.com/seedbed/seedbed/targets/dispatch"
	"github.com/seedbed/seedbed/web"
	"github.com/seedbed/seedbed/web/apiv1"
	"github.com/seedbed/seedbed/web/auth"
)

// driftAPI serves the API of a Seedbed whose stages run on d (app shop
// with its stage dev) and returns a client signed in as an admin.
func driftAPI(t *testing.T, d *dispatch.Target) *apiv1.Client {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "seedbed.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	accounts := auth.New(st, 4) // low bcrypt cost: tests, not security
	u, err := accounts.CreateUser(ctx, "ada@example.com", "correct-horse", true, false)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := accounts.NewToken(ctx, u, "test")
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := pipelines.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	svc := pipelines.New(pipelines.Config{Store: st, Sealer: sealer})
	if _, err := svc.CreateApp(ctx, pipelines.NewApp{Name: "shop", RepoURL: "/src/shop", Branch: "main", NoCheck: true}); err != nil {
		t.Fatal(err)
	}
	h, err := web.New(web.Config{Store: st, Pipelines: svc, Accounts: accounts, Assets: fstest.MapFS{}, GatewayURL: "http://gw.example", Drift: d})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return apiv1.NewClient(srv.URL, tok)
}

// A Deployment changed by hand is drift the API reports, through the
// dispatching target serve wires in: right after the apply, from a
// Seedbed that did not apply the stage itself (it reads the live release
// from the cluster, as after a restart), and none once the next apply
// repaired it. A cluster that cannot be reached is an error, not "none".
func TestDriftThroughDispatchAndAPI(t *testing.T) {
	cs := newClient(t)
	ns := newNamespace(t, cs)
	ctx := context.Background()
	ref := targets.StageRef{App: "shop", Stage: "dev"}
	onCluster := func(tg *Target) *dispatch.Target {
		return dispatch.New(func(context.Context, targets.StageRef) (dispatch.Placement, string, error) {
			return tg, "kubernetes namespace " + ns, nil
		})
	}
	tg := newTarget(t, cs, ns)
	d := onCluster(tg)
	api := driftAPI(t, d)
	fns := []targets.Function{fn("api", "a", "1"), fn("web", "b", "1")}
	if err := d.Apply(ctx, ref, fns, nil); err != nil {
		t.Fatal(err)
	}
	got, err := api.StageDrift(ctx, "shop", "dev")
	if err != nil || got.Target != "kubernetes" || !got.Checked || len(got.Drift) != 0 {
		t.Fatalf("drift right after the apply: %+v, %v; want none, checked on kubernetes", got, err)
	}

	plan, _ := tg.plan(ref, fns)
	a := plan.fns[0]
	if _, err := cs.AppsV1().Deployments(ns).Patch(ctx, a.deployName, types.StrategicMergePatchType, []byte(`{"spec":{"replicas":5}}`),
		metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	want := "deployment " + a.deployName + " of function api/a: replicas is 5, Seedbed set 2"
	got, err = api.StageDrift(ctx, "shop", "dev")
	if err != nil || len(got.Drift) != 1 || got.Drift[0] != want {
		t.Fatalf("drift after kubectl scale: %+v, %v; want %q", got, err, want)
	}

	// Another Seedbed process (or this one restarted) has applied nothing:
	// it reads the live release from the stage's Secrets.
	fresh := driftAPI(t, onCluster(newTarget(t, cs, ns)))
	if got, err := fresh.StageDrift(ctx, "shop", "dev"); err != nil || len(got.Drift) != 1 || got.Drift[0] != want {
		t.Errorf("drift seen by a Seedbed that did not apply the stage: %+v, %v; want %q", got, err, want)
	}

	if err := d.Apply(ctx, ref, fns, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := api.StageDrift(ctx, "shop", "dev"); err != nil || len(got.Drift) != 0 {
		t.Errorf("drift after the repairing apply: %+v, %v; want none", got, err)
	}

	// Nothing listens on port 1: the check fails, and says so.
	gone, err := kubernetes.NewForConfig(&rest.Config{Host: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	unreachable := driftAPI(t, onCluster(newTarget(t, gone, ns)))
	_, err = unreachable.StageDrift(ctx, "shop", "dev")
	var ae *apiv1.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusBadGateway || !strings.Contains(ae.Body.Message, "could not be reached") {
		t.Errorf("drift on an unreachable cluster: %v; want 502 saying it could not be reached", err)
	}
}
