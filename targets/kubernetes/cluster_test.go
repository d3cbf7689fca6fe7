//go:build k8s

// The cluster tests of the kubernetes target run against a real control
// plane (kube-apiserver, controller-manager, scheduler, etcd) with kwok
// playing the kubelet: the kit in shared/k8s. They are built only with the
// tag k8s (`make test-k8s`), so `make test` neither runs nor skips them.
//
// TestMain uses the cluster in $KUBECONFIG if set; otherwise it starts one
// with the kit's up.sh (K8S_DIR must hold the built binaries; K8S_KIT points
// at the kit, default ../../../shared/k8s or /work/shared/k8s) and stops it
// with down.sh. Without either, the tests skip — and fail under CI=true.

package kubernetes

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/seedbed/seedbed/targets"
)

// kubeconfig is the cluster's kubeconfig; noCluster says why there is none.
var kubeconfig, noCluster string

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	if kc := os.Getenv("KUBECONFIG"); kc != "" {
		kubeconfig = kc
		return m.Run()
	}
	kit := os.Getenv("K8S_KIT")
	if kit == "" {
		for _, dir := range []string{"../../../shared/k8s", "../../../../shared/k8s", "/work/shared/k8s"} {
			if _, err := os.Stat(filepath.Join(dir, "up.sh")); err == nil {
				kit = dir
				break
			}
		}
	}
	if abs, err := filepath.Abs(kit); err == nil && kit != "" {
		kit = abs
	}
	k8sDir := os.Getenv("K8S_DIR")
	switch {
	case kit == "":
		noCluster = "no Kubernetes test kit found: set K8S_KIT to shared/k8s (or KUBECONFIG to a cluster)"
	case k8sDir == "":
		noCluster = "K8S_DIR is not set: build the kit with `K8S_DIR=... " + kit + "/build.sh` and set it (or run make test-k8s)"
	default:
		if _, err := os.Stat(filepath.Join(k8sDir, "bin", "kube-apiserver")); err != nil {
			noCluster = "the kit is not built in " + k8sDir + ": run `K8S_DIR=" + k8sDir + " " + kit + "/build.sh` (or make test-k8s)"
		}
	}
	if noCluster != "" {
		fmt.Fprintln(os.Stderr, "kubernetes cluster tests:", noCluster)
		return m.Run() // each cluster test skips (fails under CI=true)
	}
	up := exec.Command(filepath.Join(kit, "up.sh"))
	up.Stderr = os.Stderr
	out, err := up.Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "up.sh:", err)
		return 1
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	kubeconfig = strings.TrimPrefix(lines[len(lines)-1], "export KUBECONFIG=")
	defer func() {
		down := exec.Command(filepath.Join(kit, "down.sh"))
		down.Stderr = os.Stderr
		if err := down.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "down.sh:", err)
		}
	}()
	return m.Run()
}

// newClient connects to the test cluster, skipping (failing under CI=true)
// when there is none.
func newClient(t testing.TB) kubernetes.Interface {
	t.Helper()
	if noCluster != "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(noCluster)
		}
		t.Skip(noCluster)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// newNamespace creates a namespace for one test and deletes it afterwards
// (without waiting: deletion takes seconds).
func newNamespace(t testing.TB, cs kubernetes.Interface) string {
	t.Helper()
	ns, err := cs.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "seedbed-test-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	return ns.Name
}

// testLocator hands out a made-up store and a token per digest.
type testLocator struct{}

func (testLocator) Locate(digest string) (string, string, error) {
	return "http://seedbed.test:8080/artifacts", "token-for-" + digest[len("sha256:"):][:8], nil
}

// faultEnv is the env key a test function sets to make its pods fail with
// a kwok fault (see shared/k8s/README.md: image-pull, crash-loop, oom,
// not-ready).
const faultEnv = "TEST_KWOK_FAULT"

// newTarget makes a target on namespace ns with short deadlines; a
// function whose env sets faultEnv gets that kwok fault on its pods.
func newTarget(t testing.TB, cs kubernetes.Interface, ns string) *Target {
	t.Helper()
	tg, err := New(Config{
		Client: cs, Namespace: ns, Image: "registry.example/seedbed:test", Replicas: 2,
		Memory: 128, ProgressDeadline: 4 * time.Second, Artifacts: testLocator{},
	})
	if err != nil {
		t.Fatal(err)
	}
	tg.podAnnotations = func(fn targets.Function) map[string]string {
		if f := fn.Env[faultEnv]; f != "" {
			return map[string]string{"kwok.seedbed.test/fault": f}
		}
		return nil
	}
	return tg
}
