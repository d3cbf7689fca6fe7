// Command k8s measures issue 15's benchmark: apply and switch a release of
// 20 functions on the kubernetes target against a real API server (the kit
// in shared/k8s: kube-apiserver, controller-manager, scheduler and etcd,
// with kwok pods), from the Apply call until every new Deployment is
// available and every Service selects the new release; then the same for a
// rollback to the release before (whose Deployments the target kept).
//
// It drives the target package directly (targets/kubernetes), as seedbed
// serve's deploy worker does: what is measured is the target and the
// cluster, not the queue in front of them.
//
//	K8S_DIR=$HOME/.cache/seedbed-k8s go run ./bench/k8s -iterations 20
//
// With KUBECONFIG set it uses that cluster; otherwise it starts one with the
// kit's up.sh (K8S_KIT, default ../shared/k8s) and stops it afterwards.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/seedbed/seedbed/bench/harness"
	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/targets"
	"github.com/seedbed/seedbed/targets/kubernetes"
)

type locator struct{}

func (locator) Locate(digest string) (string, string, error) {
	return "http://seedbed.seedbed.svc:8080/runner/artifacts", "bench-token", nil
}

func main() {
	iterations := flag.Int("iterations", 20, "releases (and rollbacks) measured")
	functions := flag.Int("functions", 20, "functions per release")
	replicas := flag.Int("replicas", 1, "pods per function")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	kubeconfig, stop, err := cluster()
	if err != nil {
		harness.Fatal(err)
	}
	harness.OnFatal(stop)
	defer stop()
	cs, err := kubernetes.NewClient(kubeconfig)
	if err != nil {
		harness.Fatal(err)
	}
	ns, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-"}}, metav1.CreateOptions{})
	if err != nil {
		harness.Fatal(err)
	}
	defer cs.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	tg, err := kubernetes.New(kubernetes.Config{Client: cs, Namespace: ns.Name, Image: "registry.example/seedbed:bench",
		Replicas: int32(*replicas), Artifacts: locator{}, Poll: 50 * time.Millisecond})
	if err != nil {
		harness.Fatal(err)
	}
	fmt.Printf("cluster %s, namespace %s, %d functions × %d pods, %s\n", kubeconfig, ns.Name, *functions, *replicas, time.Now().UTC().Format(time.RFC3339))

	ref := targets.StageRef{App: "bench", Stage: "prod"}
	release := func(v int) []targets.Function {
		fns := make([]targets.Function, *functions)
		for i := range fns {
			sum := sha256.Sum256(fmt.Appendf(nil, "fn%d-v%d", i, v))
			fns[i] = targets.Function{Service: "api", Name: fmt.Sprintf("fn%02d", i), Runtime: "go", Handler: "bootstrap",
				Digest: "sha256:" + hex.EncodeToString(sum[:]),
				Routes: []stack.Route{{Method: "ANY", Path: fmt.Sprintf("/fn%02d/{proxy+}", i)}},
				Env:    map[string]string{"VERSION": fmt.Sprint(v)}}
		}
		return fns
	}
	apply := func(v int) time.Duration {
		start := time.Now()
		if err := tg.Apply(ctx, ref, release(v), nil); err != nil {
			harness.Fatalf("release v%d: %v", v, err)
		}
		return time.Since(start)
	}
	fmt.Printf("first release (creates the Services too): %s\n", harness.Ms(apply(0)))
	var fresh, back []time.Duration
	for i := 1; i <= *iterations; i++ {
		d := apply(i) // 20 new revisions: new Deployments, pods, switch
		fresh = append(fresh, d)
		r := apply(i - 1) // rollback: the previous revision is kept running
		back = append(back, r)
		f := apply(i) // forward again, so that the next release starts from v(i)
		fmt.Printf("release v%d: %s, rollback to v%d: %s, forward again: %s\n", i, harness.Ms(d), i-1, harness.Ms(r), harness.Ms(f))
	}
	for _, m := range []struct {
		name string
		ds   []time.Duration
	}{{"release", fresh}, {"rollback", back}} {
		s := harness.Summarise(m.ds)
		fmt.Printf("RESULT %s of %d functions: n=%d median %s p90 %s p99 %s max %s\n", m.name, *functions, s.N, harness.Ms(s.P50), harness.Ms(s.P90), harness.Ms(s.P99), harness.Ms(s.Max))
	}
}

// cluster returns a kubeconfig: $KUBECONFIG, or a cluster it starts with
// the kit (and a function that stops it).
func cluster() (string, func(), error) {
	if kc := os.Getenv("KUBECONFIG"); kc != "" {
		return kc, func() {}, nil
	}
	kit := os.Getenv("K8S_KIT")
	if kit == "" {
		root, err := harness.ModuleRoot()
		if err != nil {
			return "", nil, err
		}
		kit = filepath.Join(root, "..", "shared", "k8s")
	}
	if os.Getenv("K8S_DIR") == "" {
		return "", nil, fmt.Errorf("set KUBECONFIG, or K8S_DIR to the kit's build folder (and K8S_KIT to shared/k8s)")
	}
	up := exec.Command(filepath.Join(kit, "up.sh"))
	up.Stderr = os.Stderr
	out, err := up.Output()
	if err != nil {
		return "", nil, fmt.Errorf("up.sh: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	stop := func() {
		down := exec.Command(filepath.Join(kit, "down.sh"))
		down.Stderr = os.Stderr
		_ = down.Run()
	}
	return strings.TrimPrefix(lines[len(lines)-1], "export KUBECONFIG="), stop, nil
}
