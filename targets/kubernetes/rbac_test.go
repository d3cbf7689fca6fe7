//go:build k8s

package kubernetes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/seedbed/seedbed/targets"
)

// roleManifest is the Role deploy/kubernetes gives seedbed serve.
const roleManifest = "../../deploy/kubernetes/rbac.yaml"

// readRole reads the Role of roleManifest.
func readRole(t *testing.T) *rbacv1.Role {
	t.Helper()
	b, err := os.ReadFile(roleManifest)
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", roleManifest, err)
		}
		var meta metav1.TypeMeta
		if err := json.Unmarshal(raw, &meta); err != nil {
			t.Fatal(err)
		}
		if meta.Kind == "Role" {
			var r rbacv1.Role
			if err := json.Unmarshal(raw, &r); err != nil {
				t.Fatal(err)
			}
			return &r
		}
	}
	t.Fatalf("no Role in %s", roleManifest)
	return nil
}

// roleClient gives the Role of deploy/kubernetes/rbac.yaml, in namespace
// ns, to a new ServiceAccount (in a namespace of its own, as Seedbed's is)
// and returns a client that holds only that ServiceAccount's token.
func roleClient(t *testing.T, admin kubernetes.Interface, ns string) kubernetes.Interface {
	t.Helper()
	ctx := context.Background()
	home := newNamespace(t, admin) // stands for namespace seedbed
	sa, err := admin.CoreV1().ServiceAccounts(home).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "seedbed"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	role := readRole(t)
	role.Namespace, role.ResourceVersion = ns, ""
	if _, err := admin.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa.Name, Namespace: home}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	exp := int64(3600)
	tok, err := admin.CoreV1().ServiceAccounts(home).CreateToken(ctx, sa.Name, &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	adminCfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &rest.Config{Host: adminCfg.Host, TLSClientConfig: rest.TLSClientConfig{CAData: adminCfg.CAData, CAFile: adminCfg.CAFile}, BearerToken: tok.Status.Token, QPS: 200, Burst: 400}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The binding reaches the authorizer's cache within moments.
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 15*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		return err == nil, nil
	}); err != nil {
		t.Fatalf("the ServiceAccount cannot list deployments in %s after its binding: %v", ns, err)
	}
	return cs
}

// TestTargetWorksWithTheRole runs every operation of the target — a first
// deploy, a new release, a rollback, a failed rollout, drift detection and
// repair, reading a stage back, removal — with nothing but a token of the
// Role that deploy/kubernetes gives seedbed serve: a verb missing from the
// Role fails here with the API server's Forbidden. deploy/rbac_test.go
// checks the other way (the Role grants nothing the code does not call).
func TestTargetWorksWithTheRole(t *testing.T) {
	admin := newClient(t)
	ns := newNamespace(t, admin)
	cs := roleClient(t, admin, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The token is held to the Role: nothing outside the namespace.
	if _, err := cs.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("listing secrets of namespace default with the Role's token: %v, want Forbidden (is RBAC on?)", err)
	}
	if _, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("listing namespaces with the Role's token: %v, want Forbidden", err)
	}

	tg := newTarget(t, cs, ns)
	ref := targets.StageRef{App: "shop", Stage: "prod"}
	v1 := []targets.Function{fn("api", "a", "1"), fn("api", "b", "1")}
	v2 := []targets.Function{fn("api", "a", "2"), fn("api", "b", "2")}
	for i, rel := range [][]targets.Function{v1, v2, v1} { // the last one is a rollback
		if err := tg.Apply(ctx, ref, rel, nil); err != nil {
			t.Fatalf("apply %d with the Role: %v", i, err)
		}
	}
	bad := fn("api", "b", "3")
	bad.Env[faultEnv] = "crash-loop"
	err := tg.Apply(ctx, ref, []targets.Function{fn("api", "a", "3"), bad}, nil)
	if err == nil || !strings.Contains(err.Error(), "rollout of function api/b failed") || strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("failing apply with the Role: %v, want the rollout's failure and nothing forbidden", err)
	}

	// Drift: scale a live Deployment by hand (as admin); a target that has
	// not applied the stage reads it back and sees it.
	live := liveRevisions(t, admin, ns, ref)
	dep := deploymentName(baseName(ref, v1[0]), live["api/a"])
	if _, err := admin.AppsV1().Deployments(ns).Patch(ctx, dep, "application/merge-patch+json", []byte(`{"spec":{"replicas":5}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	fresh := newTarget(t, cs, ns)
	if got := fresh.Running(ref); len(got) != 2 || got[0].Env["VERSION"] != "1" {
		t.Fatalf("Running read back with the Role: %+v", got)
	}
	drift, err := fresh.Drift(ctx, ref)
	if err != nil || len(drift) == 0 {
		t.Fatalf("Drift with the Role: %v, %v; want the hand-made scale", drift, err)
	}
	if err := fresh.Apply(ctx, ref, v1, nil); err != nil {
		t.Fatalf("drift repair with the Role: %v", err)
	}
	if drift, err := fresh.Drift(ctx, ref); err != nil || len(drift) != 0 {
		t.Fatalf("drift after the repair: %v, %v", drift, err)
	}
	if err := fresh.Remove(ctx, ref); err != nil {
		t.Fatalf("remove with the Role: %v", err)
	}
}
