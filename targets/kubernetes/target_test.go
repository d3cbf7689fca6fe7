//go:build k8s

package kubernetes

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/targets"
)

// logLines collects an apply's log.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) Printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func digestOf(s string) string {
	return "sha256:" + shortHash(s, 64)
}

func fn(service, name, version string) targets.Function {
	return targets.Function{
		Service: service, Name: name, Runtime: "go", Handler: "bootstrap",
		Digest:  digestOf(service + name + version),
		Routes:  []stack.Route{{Method: "GET", Path: "/" + name}},
		Env:     map[string]string{"VERSION": version, "API_KEY": "s3cret-" + version},
		Secrets: []string{"API_KEY"},
	}
}

// liveRevisions returns, per function key, the revision its Service selects.
func liveRevisions(t *testing.T, cs kubernetes.Interface, ns string, ref targets.StageRef) map[string]string {
	t.Helper()
	svcs, err := cs.CoreV1().Services(ns).List(context.Background(), metav1.ListOptions{LabelSelector: stageSelector(ref)})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range svcs.Items {
		out[s.Annotations[AnnotationFunction]] = s.Spec.Selector[LabelRevision]
	}
	return out
}

func TestApplyRunsEachFunctionAndSwitchesServices(t *testing.T) {
	cs := newClient(t)
	ns := newNamespace(t, cs)
	tg := newTarget(t, cs, ns)
	ref := targets.StageRef{App: "shop", Stage: "prod"}
	ctx := context.Background()

	small := fn("api", "hello", "1")
	small.Memory = 64
	fns := []targets.Function{fn("api", "orders", "1"), small}
	var log logLines
	if err := tg.Apply(ctx, ref, fns, &log); err != nil {
		t.Fatalf("apply: %v\nlog:\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "switched prod to 2 functions") {
		t.Errorf("log does not say the stage switched:\n%s", log.String())
	}

	plan, err := tg.plan(ref, fns)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range plan.fns {
		// The switch waited for the new revision's pods to be Ready (what
		// the Service's endpoints follow); the Deployment's status catches
		// up once the controllers have written theirs.
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: LabelRevision + "=" + p.rev})
		if err != nil {
			t.Fatal(err)
		}
		var ready []*corev1.Pod
		for i := range pods.Items {
			ready = append(ready, &pods.Items[i])
		}
		if n := readyPods(ready)[p.base+"/"+p.rev]; n != 2 {
			t.Errorf("%s: %d pods ready when Apply returned, want 2", p.deployName, n)
		}
		var d *appsv1.Deployment
		if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
			d, err = cs.AppsV1().Deployments(ns).Get(ctx, p.deployName, metav1.GetOptions{})
			return err == nil && d.Status.AvailableReplicas == 2, err
		}); err != nil {
			t.Fatalf("deployment of %s never available: %v", p.fn.Key(), err)
		}
		if *d.Spec.Replicas != 2 || d.Status.AvailableReplicas != 2 {
			t.Errorf("%s: replicas %d, available %d; want 2 and 2", d.Name, *d.Spec.Replicas, d.Status.AvailableReplicas)
		}
		c := d.Spec.Template.Spec.Containers[0]
		if c.Image != "registry.example/seedbed:test" || !slices.Equal(c.Args, []string{"run-function"}) {
			t.Errorf("%s: container runs %s %v, want the runner image with run-function", d.Name, c.Image, c.Args)
		}
		wantMem := "128Mi"
		if p.fn.Name == "hello" {
			wantMem = "64Mi"
		}
		if got := c.Resources.Limits.Memory().String(); got != wantMem {
			t.Errorf("%s: memory limit %s, want %s", d.Name, got, wantMem)
		}
		if d.Spec.Template.Spec.AutomountServiceAccountToken == nil || *d.Spec.Template.Spec.AutomountServiceAccountToken {
			t.Errorf("%s: pods get a service account token; a function must not reach the API", d.Name)
		}
		for _, e := range c.Env {
			if strings.Contains(e.Value, "s3cret") {
				t.Errorf("%s: env %s holds a secret value in the pod spec; it belongs in the Secret", d.Name, e.Name)
			}
		}
		sec, err := cs.CoreV1().Secrets(ns).Get(ctx, p.deployName, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("secret of %s: %v", p.fn.Key(), err)
		}
		got, err := decodeFunction(sec.Data[secretFunctionKey])
		if err != nil || got.Env["API_KEY"] != "s3cret-1" || got.Digest != p.fn.Digest {
			t.Errorf("secret %s holds %+v (%v); want the function with its env", sec.Name, got, err)
		}
		for _, obj := range []metav1.Object{d, sec} {
			for k, v := range ownerLabels(ref) {
				if obj.GetLabels()[k] != v {
					t.Errorf("%s lacks owner label %s=%s", obj.GetName(), k, v)
				}
			}
		}
	}
	if got := liveRevisions(t, cs, ns, ref); got["api/hello"] != plan.fns[0].rev || got["api/orders"] != plan.fns[1].rev {
		t.Errorf("services select %v, want the applied revisions", got)
	}
	table, err := tg.RouteTable(ctx, ref)
	if err != nil || table == nil || len(table.Functions) != 2 || table.Functions[0].Service != plan.fns[0].base {
		t.Fatalf("route table: %+v, %v", table, err)
	}
	// A target that did not apply the stage reads what it runs from the cluster.
	again := newTarget(t, cs, ns)
	if got := again.Running(ref); len(got) != 2 || got[0].Key() != "api/hello" || got[1].Env["API_KEY"] != "s3cret-1" {
		t.Errorf("Running from the cluster: %+v", got)
	}

	// A function left out of the next release loses its Service and pods.
	if err := tg.Apply(ctx, ref, fns[1:], &log); err != nil {
		t.Fatal(err)
	}
	if got := liveRevisions(t, cs, ns, ref); len(got) != 1 || got["api/hello"] == "" {
		t.Errorf("after removing api/orders, services select %v", got)
	}
}

// TestFailedRolloutKeepsPreviousRelease makes the new revision of one
// function fail as a kubelet would report it (kwok faults) and checks the
// deploy fails in words naming the function and the cause, while every
// Service still selects the previous release.
func TestFailedRolloutKeepsPreviousRelease(t *testing.T) {
	cases := []struct {
		name  string
		fault string
		want  string
	}{
		{"image pull", "image-pull", "cannot pull the runner image registry.example/seedbed:test (ImagePullBackOff)"},
		{"crash loop", "crash-loop", "crashes (exit code 1, Error)"},
		{"out of memory", "oom", "killed for using more memory than its limit of 128Mi (OOMKilled)"},
		{"not ready", "not-ready", "running but not ready"},
	}
	cs := newClient(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t, cs)
			tg := newTarget(t, cs, ns)
			ref := targets.StageRef{App: "shop", Stage: "prod"}
			ctx := context.Background()
			v1 := []targets.Function{fn("api", "a", "1"), fn("api", "b", "1")}
			if err := tg.Apply(ctx, ref, v1, nil); err != nil {
				t.Fatal(err)
			}
			before := liveRevisions(t, cs, ns, ref)

			bad := fn("api", "b", "2")
			bad.Env[faultEnv] = tc.fault
			var log logLines
			err := tg.Apply(ctx, ref, []targets.Function{fn("api", "a", "2"), bad}, &log)
			if err == nil {
				t.Fatal("apply of a failing revision succeeded")
			}
			msg := err.Error()
			t.Logf("error:\n%s\nlog:\n%s", msg, log.String())
			for _, want := range []string{"rollout of function api/b failed", tc.want, "keeps serving its previous release"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error does not say %q:\n%s", want, msg)
				}
			}
			if strings.Contains(msg, "function api/a") {
				t.Errorf("error blames api/a, whose rollout worked:\n%s", msg)
			}
			if !strings.Contains(log.String(), "function api/b (revision") || !strings.Contains(log.String(), tc.want) {
				t.Errorf("deploy log does not describe the pods:\n%s", log.String())
			}
			if after := liveRevisions(t, cs, ns, ref); !mapsEqual(before, after) {
				t.Errorf("services switched on a failed deploy: before %v, after %v", before, after)
			}
			if got := tg.Running(ref); got[1].Env["VERSION"] != "1" {
				t.Errorf("Running after a failed deploy: %+v", got)
			}
			// The failed revisions are deleted; the live ones stay.
			deps, err := cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: stageSelector(ref)})
			if err != nil {
				t.Fatal(err)
			}
			if len(deps.Items) != 2 {
				var names []string
				for _, d := range deps.Items {
					names = append(names, d.Name)
				}
				t.Errorf("deployments after a failed deploy: %v, want the 2 live ones", names)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestRollbackSwitchesToKeptRevision deploys v1 then v2, and rolls back to
// v1: its Deployments were kept running, so the rollback creates no pod
// and only switches the Services.
func TestRollbackSwitchesToKeptRevision(t *testing.T) {
	cs := newClient(t)
	ns := newNamespace(t, cs)
	tg := newTarget(t, cs, ns)
	ref := targets.StageRef{App: "shop", Stage: "prod"}
	ctx := context.Background()
	v1 := []targets.Function{fn("api", "a", "1"), fn("api", "b", "1")}
	v2 := []targets.Function{fn("api", "a", "2"), fn("api", "b", "2")}
	v3 := []targets.Function{fn("api", "a", "3"), fn("api", "b", "3")}
	if err := tg.Apply(ctx, ref, v1, nil); err != nil {
		t.Fatal(err)
	}
	rev1 := liveRevisions(t, cs, ns, ref)
	plan1, _ := tg.plan(ref, v1)
	uids := map[string]types.UID{}
	for _, p := range plan1.fns {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, p.deployName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		uids[p.deployName] = d.UID
	}
	if err := tg.Apply(ctx, ref, v2, nil); err != nil {
		t.Fatal(err)
	}
	rev2 := liveRevisions(t, cs, ns, ref)

	start := time.Now()
	var log logLines
	if err := tg.Apply(ctx, ref, v1, &log); err != nil {
		t.Fatal(err)
	}
	t.Logf("rollback took %v", time.Since(start).Round(time.Millisecond))
	if got := liveRevisions(t, cs, ns, ref); !mapsEqual(got, rev1) {
		t.Errorf("after rollback services select %v, want v1's %v", got, rev1)
	}
	if strings.Contains(log.String(), "new revision") {
		t.Errorf("rollback started new revisions:\n%s", log.String())
	}
	for name, uid := range uids {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil || d.UID != uid {
			t.Errorf("v1 deployment %s was recreated or deleted: %v", name, err)
		}
	}
	// v2 is now the kept previous release; a roll forward to it is instant too.
	table, _ := tg.RouteTable(ctx, ref)
	for _, e := range table.Functions {
		if e.Previous != rev2[e.Key] {
			t.Errorf("%s: previous revision %q, want v2's %q", e.Key, e.Previous, rev2[e.Key])
		}
	}
	// A third release keeps v3 and v1 (previous), deleting v2.
	if err := tg.Apply(ctx, ref, v3, nil); err != nil {
		t.Fatal(err)
	}
	deps, err := cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: stageSelector(ref)})
	if err != nil {
		t.Fatal(err)
	}
	revs := map[string]bool{}
	for _, d := range deps.Items {
		revs[d.Labels[LabelRevision]] = true
	}
	if len(deps.Items) != 4 || !revs[rev1["api/a"]] || revs[rev2["api/a"]] {
		t.Errorf("after v3, deployments at revisions %v; want v3 and v1 only", revs)
	}
}

// TestDriftIsShownAndRepaired changes objects by hand (as kubectl would,
// with another field manager) and checks Drift names each change and the
// next Apply undoes them.
func TestDriftIsShownAndRepaired(t *testing.T) {
	cs := newClient(t)
	ns := newNamespace(t, cs)
	tg := newTarget(t, cs, ns)
	ref := targets.StageRef{App: "shop", Stage: "dev"}
	ctx := context.Background()
	fns := []targets.Function{fn("api", "a", "1"), fn("web", "b", "1")}
	if err := tg.Apply(ctx, ref, fns, nil); err != nil {
		t.Fatal(err)
	}
	if d, err := tg.Drift(ctx, ref); err != nil || len(d) != 0 {
		t.Fatalf("drift right after apply: %v, %v", d, err)
	}
	plan, _ := tg.plan(ref, fns)
	a, b := plan.fns[0], plan.fns[1]
	kubectl := metav1.PatchOptions{FieldManager: "kubectl-edit"}
	patch := func(kind, name, body string) {
		t.Helper()
		var err error
		switch kind {
		case "deployment":
			_, err = cs.AppsV1().Deployments(ns).Patch(ctx, name, types.StrategicMergePatchType, []byte(body), kubectl)
		case "service":
			_, err = cs.CoreV1().Services(ns).Patch(ctx, name, types.StrategicMergePatchType, []byte(body), kubectl)
		case "secret":
			_, err = cs.CoreV1().Secrets(ns).Patch(ctx, name, types.StrategicMergePatchType, []byte(body), kubectl)
		}
		if err != nil {
			t.Fatalf("patch %s %s: %v", kind, name, err)
		}
	}
	patch("deployment", a.deployName, `{"spec":{"replicas":5}}`)
	patch("deployment", b.deployName, `{"spec":{"template":{"spec":{"containers":[{"name":"function","image":"evil.example/miner:1"}]}}}}`)
	patch("service", a.base, `{"spec":{"selector":{"seedbed.dev/revision":"elsewhere"}}}`)
	patch("secret", b.deployName, `{"stringData":{"function.json":"{}"}}`)

	drift, err := tg.Drift(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	wants := []string{
		"deployment " + a.deployName + " of function api/a: replicas is 5, Seedbed set 2",
		"deployment " + b.deployName + " of function web/b: image is evil.example/miner:1",
		"service " + a.base + " of function api/a: its selector points at revision \"elsewhere\"",
		"secret " + b.deployName + " of function web/b",
	}
	all := strings.Join(drift, "\n")
	for _, w := range wants {
		if !strings.Contains(all, w) {
			t.Errorf("drift does not show %q:\n%s", w, all)
		}
	}

	var log logLines
	if err := tg.Apply(ctx, ref, fns, &log); err != nil {
		t.Fatalf("repairing apply: %v\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "drift: deployment "+a.deployName) {
		t.Errorf("deploy log does not show the drift:\n%s", log.String())
	}
	if d, err := tg.Drift(ctx, ref); err != nil || len(d) != 0 {
		t.Errorf("drift after the repairing apply: %v, %v", d, err)
	}
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, b.deployName, metav1.GetOptions{})
	if err != nil || d.Spec.Template.Spec.Containers[0].Image != "registry.example/seedbed:test" {
		t.Errorf("image not repaired: %v", err)
	}

	// A Service deleted by hand is drift too, and comes back.
	if err := cs.CoreV1().Services(ns).Delete(ctx, b.base, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if d, _ := tg.Drift(ctx, ref); !strings.Contains(strings.Join(d, "\n"), "service "+b.base+" of function web/b was deleted") {
		t.Errorf("a deleted service is not shown as drift: %v", d)
	}
	if err := tg.Apply(ctx, ref, fns, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Services(ns).Get(ctx, b.base, metav1.GetOptions{}); err != nil {
		t.Errorf("deleted service not recreated: %v", err)
	}
}

// TestRemoveDeletesEverythingOfTheStage removes one of two stages sharing a
// namespace: nothing labelled with it is left (ReplicaSets and pods go with
// their owners), and the other stage is untouched.
func TestRemoveDeletesEverythingOfTheStage(t *testing.T) {
	cs := newClient(t)
	ns := newNamespace(t, cs)
	tg := newTarget(t, cs, ns)
	ctx := context.Background()
	prod := targets.StageRef{App: "shop", Stage: "prod"}
	preview := targets.StageRef{App: "shop", Stage: "pr-42"}
	for _, ref := range []targets.StageRef{prod, preview} {
		if err := tg.Apply(ctx, ref, []targets.Function{fn("api", "a", ref.Stage), fn("api", "b", ref.Stage)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// An earlier revision, kept for rollback, must go too.
	if err := tg.Apply(ctx, preview, []targets.Function{fn("api", "a", "x"), fn("api", "b", "x")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := tg.Remove(ctx, preview); err != nil {
		t.Fatal(err)
	}
	// Everything carrying the stage's labels, of every kind that has them
	// (ReplicaSets and pods carry the pod template's labels).
	left := func(ref targets.StageRef) []string {
		sel := metav1.ListOptions{LabelSelector: stageSelector(ref)}
		var out []string
		deps, _ := cs.AppsV1().Deployments(ns).List(ctx, sel)
		for _, o := range deps.Items {
			out = append(out, "deployment/"+o.Name)
		}
		rss, _ := cs.AppsV1().ReplicaSets(ns).List(ctx, sel)
		for _, o := range rss.Items {
			out = append(out, "replicaset/"+o.Name)
		}
		pods, _ := cs.CoreV1().Pods(ns).List(ctx, sel)
		for _, o := range pods.Items {
			out = append(out, "pod/"+o.Name)
		}
		svcs, _ := cs.CoreV1().Services(ns).List(ctx, sel)
		for _, o := range svcs.Items {
			out = append(out, "service/"+o.Name)
		}
		secs, _ := cs.CoreV1().Secrets(ns).List(ctx, sel)
		for _, o := range secs.Items {
			out = append(out, "secret/"+o.Name)
		}
		cms, _ := cs.CoreV1().ConfigMaps(ns).List(ctx, sel)
		for _, o := range cms.Items {
			out = append(out, "configmap/"+o.Name)
		}
		eps, _ := cs.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: LabelManagedBy + "!=" + ManagedBy})
		for _, o := range eps.Items {
			if strings.HasPrefix(o.Labels["kubernetes.io/service-name"], dnsName(ref.App+"-"+ref.Stage, 40)) {
				out = append(out, "endpointslice/"+o.Name)
			}
		}
		return out
	}
	var rest []string
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		rest = left(preview)
		return len(rest) == 0, nil
	})
	if err != nil {
		t.Fatalf("objects of the removed stage left after 30s: %v", rest)
	}
	if got := left(prod); len(got) < 10 {
		t.Errorf("the other stage lost objects: %v", got)
	}
	if got := liveRevisions(t, cs, ns, prod); len(got) != 2 {
		t.Errorf("prod's services: %v", got)
	}
	if got := tg.Running(preview); len(got) != 0 {
		t.Errorf("Running of the removed stage: %v", got)
	}
}
