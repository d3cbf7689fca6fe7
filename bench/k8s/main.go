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
	"regexp"
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
		Replicas: int32(*replicas), Artifacts: locator{}})
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
	// apply returns the time until the stage switched (the target logs
	// "switched …" right after the last Service and the route table were
	// written) and until Apply returned (older revisions pruned).
	phases := map[string][]time.Duration{} // of the releases, by phase
	apply := func(v int) (switched, done time.Duration, log *switchLog) {
		start := time.Now()
		log = &switchLog{start: start}
		if err := tg.Apply(ctx, ref, release(v), log); err != nil {
			harness.Fatalf("release v%d: %v", v, err)
		}
		return log.at, time.Since(start), log
	}
	s0, d0, _ := apply(0)
	fmt.Printf("first release (creates the Services too): switched %s, done %s\n", harness.Ms(s0), harness.Ms(d0))
	var fresh, back, freshDone, backDone []time.Duration
	for i := 1; i <= *iterations; i++ {
		s, d, l := apply(i) // every function a new revision: new Deployments, pods, switch
		fresh, freshDone = append(fresh, s), append(freshDone, d)
		for k, v := range l.phases {
			phases[k] = append(phases[k], v)
		}
		rs, rd, _ := apply(i - 1) // rollback: the previous revision is kept running
		back, backDone = append(back, rs), append(backDone, rd)
		fs, _, _ := apply(i) // forward again, so that the next release starts from v(i)
		fmt.Printf("release v%d: switched %s (done %s); rollback to v%d: switched %s (done %s); forward again: %s\n",
			i, harness.Ms(s), harness.Ms(d), i-1, harness.Ms(rs), harness.Ms(rd), harness.Ms(fs))
	}
	for _, m := range []struct {
		name string
		ds   []time.Duration
	}{{"release, request to switched", fresh}, {"release, request to Apply returned", freshDone},
		{"rollback, request to switched", back}, {"rollback, request to Apply returned", backDone}} {
		s := harness.Summarise(m.ds)
		fmt.Printf("RESULT %s of %d functions: n=%d median %s p90 %s p99 %s max %s\n", m.name, *functions, s.N, harness.Ms(s.P50), harness.Ms(s.P90), harness.Ms(s.P99), harness.Ms(s.Max))
	}
	for _, k := range phaseNames {
		s := harness.Summarise(phases[k])
		fmt.Printf("PHASE of a release: %s: n=%d median %s p90 %s max %s\n", k, s.N, harness.Ms(s.P50), harness.Ms(s.P90), harness.Ms(s.Max))
	}
}

// phaseNames are the parts of an apply the target's "switched" line times.
var phaseNames = []string{"read the cluster", "applied", "rolled out", "switched"}

var phaseRE = regexp.MustCompile(`\(read the cluster (\S+), applied (\S+), rolled out (\S+), switched (\S+)\)`)

// switchLog notes when the target logged that the stage switched.
type switchLog struct {
	start  time.Time
	at     time.Duration
	phases map[string]time.Duration
}

func (l *switchLog) Printf(format string, args ...any) {
	if strings.HasPrefix(format, "switched") {
		l.at = time.Since(l.start)
		m := phaseRE.FindStringSubmatch(fmt.Sprintf(format, args...))
		if m == nil {
			harness.Fatalf("the target's switched line changed: %s", fmt.Sprintf(format, args...))
		}
		l.phases = map[string]time.Duration{}
		for i, k := range phaseNames {
			d, err := time.ParseDuration(m[i+1])
			if err != nil {
				harness.Fatal(err)
			}
			l.phases[k] = d
		}
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
