// Package kubernetes is Seedbed's Kubernetes target: it runs the functions
// of a stage as Deployments in a cluster, applied with server-side apply
// through client-go, and switches the stage only once every new Deployment
// has rolled out.
//
// The objects of one stage, all in the stage's namespace and all carrying
// the owner labels (app.kubernetes.io/managed-by=seedbed, seedbed.dev/app,
// seedbed.dev/stage) that Remove deletes by:
//
//   - per function revision (a revision is a hash of everything that makes
//     the pod: artifact digest, runtime, handler, env, memory, the stage's
//     settings), a Secret NAME-REV holding the function's spec and env, and
//     a Deployment NAME-REV of the runner image whose pods fetch the
//     artifact by digest and start the function (seedbed run-function);
//   - per function, a Service NAME whose selector names the live revision;
//   - per stage, a ConfigMap STAGE-routes: the route table (which Service
//     answers which route, at which revision), written when the stage
//     switches; it is what Seedbed's gateway reads.
//
// A deploy applies the new revisions beside the live ones, waits until every
// new Deployment is available, then points each Service at its new revision
// and writes the route table. The revision that was live before stays
// running: a rollback to it is a selector switch, with no pod to start. Older
// revisions are deleted. A rollout that fails (the progress deadline passes:
// image pull errors, crash loops, out-of-memory kills, pods that never get
// ready or scheduled) fails the deploy with the cause in words, deletes the
// revisions it created, and leaves every Service where it was.
//
// Before applying, the live objects are compared with what Seedbed applied;
// a difference (an object changed by hand) is logged as drift, and the apply
// (forced, so Seedbed takes its fields back) repairs it.
package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httputil"
	"slices"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/seedbed/seedbed/builders/artifact"
	"github.com/seedbed/seedbed/gateway"
	"github.com/seedbed/seedbed/targets"
)

// FieldManager is the server-side apply manager of every object the target
// writes; drift is a field that another manager changed.
const FieldManager = "seedbed"

// ArtifactLocator tells the runner in a pod where to fetch an artifact: a
// store location (http(s)://… of seedbed serve, file:///… of a shared
// volume, s3://…) and a token that grants that one digest. seedbed serve
// implements it with runner.Signer.
type ArtifactLocator interface {
	Locate(digest string) (store, token string, err error)
}

// Config is what a Target is made of: one cluster, one namespace, the
// defaults of the stages placed there.
type Config struct {
	// Client talks to the cluster; required. Raise its QPS and Burst: an
	// apply of 20 functions makes some 60 requests.
	Client kubernetes.Interface
	// Namespace holds the stages' objects; required. It must exist.
	Namespace string
	// Image is the runner image (Seedbed's own, whose entry point runs
	// `seedbed run-function`); required.
	Image string
	// ImagePullSecret names a Secret in Namespace for pulling Image; empty
	// for none.
	ImagePullSecret string
	// Replicas is the number of pods per function; zero means 1.
	Replicas int32
	// Memory is the memory limit (MiB) of a function that sets none; zero
	// means 256.
	Memory int
	// CPU is each pod's CPU request ("100m"); empty means 100m.
	CPU string
	// ProgressDeadline bounds how long a new revision may take to become
	// available before the deploy fails; zero means 2 minutes.
	ProgressDeadline time.Duration
	// Artifacts tells pods where to fetch artifacts; required.
	Artifacts ArtifactLocator
	// Domain is the gateway's domain for host routing (STAGE--APP.<Domain>);
	// the runner in each pod routes requests the same way.
	Domain string
	// Transport carries the gateway's requests to Services; nil means a
	// default transport. Tests point it elsewhere.
	Transport http.RoundTripper
	// ServiceURL gives the address of a Service; nil means ServiceURL
	// (cluster DNS). Tests point it at a stand-in.
	ServiceURL func(namespace, service string) string
	// QueueToken tells the send token of a stage's queues, which its
	// functions find in SEEDBED_QUEUE_TOKEN (kept in the function's
	// Secret); nil gives none.
	QueueToken func(targets.StageRef) string
	// Logs tells where the runner in a stage's pods sends the lines its
	// function prints (seedbed serve's runner log endpoint) and with
	// which token (kept in the function's Secret, as SEEDBED_LOGS_TOKEN);
	// nil ships none.
	Logs func(targets.StageRef) (url, token string)
	// GatewayNamespace and GatewayLabels name the pods of Seedbed's
	// gateway (seedbed serve): the only pods each stage's NetworkPolicy
	// lets reach its functions, and the ones functions may reach for their
	// artifacts. Empty: the namespace of the pod Seedbed runs in (else
	// DefaultGatewayNamespace) and DefaultGatewayLabels.
	GatewayNamespace string
	GatewayLabels    map[string]string
}

var (
	_ targets.Target        = (*Target)(nil)
	_ targets.DriftDetector = (*Target)(nil)
)

// Target runs the functions of stages in one namespace of a cluster. It is
// safe for concurrent use; see targets.Target for the order of calls.
type Target struct {
	cfg    Config
	cs     kubernetes.Interface
	cpu    resource.Quantity
	shared sharedPodSpec
	// gatewayNS is Config.GatewayNamespace or its default.
	gatewayNS string

	// podAnnotations, when set, adds annotations to a function's pod
	// template; the tests use it to make a revision fail (kwok faults).
	podAnnotations func(fn targets.Function) map[string]string

	proxy      *httputil.ReverseProxy // the gateway's requests to Services
	serviceURL func(namespace, service string) string

	mu      sync.Mutex
	running map[targets.StageRef][]targets.Function // what each stage serves, as last applied or read
	tables  map[targets.StageRef]*gateway.Table     // the gateway's routes, per stage applied here
}

// sharedPodSpec is the part of Config that shapes every pod: it goes into
// every revision's hash, so changing it rolls every function.
type sharedPodSpec struct {
	Image            string `json:"image"`
	PullSecret       string `json:"pullSecret,omitempty"`
	Replicas         int32  `json:"replicas"`
	Memory           int    `json:"memory"`
	CPU              string `json:"cpu"`
	ProgressDeadline int32  `json:"progressDeadline"`
	Domain           string `json:"domain,omitempty"`
}

// New makes a Target after checking cfg.
func New(cfg Config) (*Target, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("kubernetes target: Config.Client is required")
	case cfg.Namespace == "":
		return nil, errors.New("kubernetes target: a namespace is required (set namespace in the stage's kubernetes settings)")
	case cfg.Image == "":
		return nil, errors.New("kubernetes target: the runner image is required (set image in the stage's kubernetes settings)")
	case cfg.Artifacts == nil:
		return nil, errors.New("kubernetes target: Config.Artifacts is required")
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.Memory <= 0 {
		cfg.Memory = 256
	}
	if cfg.CPU == "" {
		cfg.CPU = "100m"
	}
	cpu, err := resource.ParseQuantity(cfg.CPU)
	if err != nil {
		return nil, fmt.Errorf("kubernetes target: cpu %q is not a quantity (use e.g. 100m or 1): %w", cfg.CPU, err)
	}
	if cfg.ProgressDeadline <= 0 {
		cfg.ProgressDeadline = 2 * time.Minute
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport
	}
	if len(cfg.GatewayLabels) == 0 {
		cfg.GatewayLabels = DefaultGatewayLabels()
	}
	if cfg.ServiceURL == nil {
		cfg.ServiceURL = ServiceURL
	}
	return &Target{
		cfg:        cfg,
		proxy:      newServiceProxy(cfg.Transport),
		serviceURL: cfg.ServiceURL,
		tables:     map[targets.StageRef]*gateway.Table{},
		cs:         cfg.Client,
		cpu:        cpu,
		gatewayNS:  gatewayNamespace(cfg.GatewayNamespace),
		shared: sharedPodSpec{
			Image: cfg.Image, PullSecret: cfg.ImagePullSecret, Replicas: cfg.Replicas,
			Memory: cfg.Memory, CPU: cpu.String(), ProgressDeadline: int32(max(cfg.ProgressDeadline/time.Second, 1)),
			Domain: cfg.Domain,
		},
		running: map[targets.StageRef][]targets.Function{},
	}, nil
}

// Namespace is the namespace the target writes to.
func (t *Target) Namespace() string { return t.cfg.Namespace }

// Apply makes stage serve exactly fns; see targets.Target and the package
// comment for the steps.
func (t *Target) Apply(ctx context.Context, ref targets.StageRef, fns []targets.Function, log targets.Logger) error {
	if log == nil {
		log = discardLogger{}
	}
	start := time.Now()
	st, err := t.plan(ref, fns)
	if err != nil {
		return err
	}
	live, err := t.readLive(ctx, st)
	if err != nil {
		return err
	}
	for _, d := range t.drift(st, live) {
		log.Printf("drift: %s; this deploy repairs it", d)
	}

	fresh := map[string]bool{} // revisions that are not running yet
	for _, p := range st.fns {
		if _, ok := live.deployments[p.deployName]; !ok {
			fresh[p.deployName] = true
		}
	}
	if n := len(fresh); n > 0 {
		log.Printf("applying %d new revision(s) of %d function(s) to namespace %s", n, len(st.fns), t.cfg.Namespace)
	}
	// The stage's pods are isolated before any of them starts.
	if err := t.applyPolicy(ctx, ref, live.policy); err != nil {
		return err
	}
	read := time.Since(start)
	// The watch lists and starts following while the revisions are
	// applied: it is there when they are.
	w := t.watchStage(ctx, ref)
	defer w.close()
	if err := t.applyRevisions(ctx, st, live); err != nil {
		return err
	}
	applied := time.Since(start)
	if err := t.waitRollouts(ctx, st, w, fresh, log); err != nil {
		keep := live.keepOnFailure()
		if cerr := t.prune(context.WithoutCancel(ctx), st.ref, keep, nil); cerr != nil {
			err = errors.Join(err, fmt.Errorf("delete the failed revisions: %w", cerr))
		}
		return err
	}
	rolled := time.Since(start)
	if err := t.switchStage(ctx, st, live); err != nil {
		return err
	}
	if err := t.publish(st); err != nil {
		return err
	}
	log.Printf("switched %s to %d functions in %s (read the cluster %s, applied %s, rolled out %s, switched %s)", ref.Stage, len(st.fns), time.Since(start).Round(time.Millisecond),
		read.Round(time.Millisecond), (applied - read).Round(time.Millisecond), (rolled - applied).Round(time.Millisecond), (time.Since(start) - rolled).Round(time.Millisecond))

	keep := map[string]string{}
	for _, p := range st.fns {
		keep[p.deployName] = p.fn.Key()
		if prev := live.table.previousFor(p.fn.Key(), p.rev); prev != "" {
			keep[deploymentName(p.base, prev)] = p.fn.Key()
		}
	}
	services := map[string]bool{}
	for _, p := range st.fns {
		services[p.base] = true
	}
	if err := t.prune(ctx, st.ref, keep, services); err != nil {
		log.Printf("could not delete older revisions (the next deploy tries again): %v", err)
	}
	t.mu.Lock()
	t.running[ref] = st.sortedFunctions()
	t.mu.Unlock()
	return nil
}

// Remove deletes every object of stage (by its owner labels); Kubernetes'
// garbage collector then removes the ReplicaSets and pods.
func (t *Target) Remove(ctx context.Context, ref targets.StageRef) error {
	if err := checkRef(ref); err != nil {
		return err
	}
	if err := t.prune(ctx, ref, nil, map[string]bool{}); err != nil {
		return fmt.Errorf("remove stage %s from namespace %s: %w", ref, t.cfg.Namespace, err)
	}
	if err := t.cs.CoreV1().ConfigMaps(t.cfg.Namespace).Delete(ctx, routesName(ref), metav1.DeleteOptions{}); err != nil && !isNotFound(err) {
		return fmt.Errorf("remove stage %s: delete its route table: %w", ref, err)
	}
	if err := t.removePolicy(ctx, ref); err != nil {
		return fmt.Errorf("remove stage %s: %w", ref, err)
	}
	t.mu.Lock()
	delete(t.running, ref)
	delete(t.tables, ref)
	t.mu.Unlock()
	return nil
}

// Running returns the functions stage serves: as last applied by this
// target, or else as its route table in the cluster records them.
func (t *Target) Running(ref targets.StageRef) []targets.Function {
	t.mu.Lock()
	fns, ok := t.running[ref]
	t.mu.Unlock()
	if ok {
		return slices.Clone(fns)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fns, err := t.readRunning(ctx, ref)
	if err != nil {
		return nil
	}
	t.mu.Lock()
	t.running[ref] = fns
	t.mu.Unlock()
	return slices.Clone(fns)
}

// readRunning reads the functions of the live revisions named in stage's
// route table from their Secrets.
func (t *Target) readRunning(ctx context.Context, ref targets.StageRef) ([]targets.Function, error) {
	table, err := t.readTable(ctx, ref)
	if err != nil || table == nil {
		return nil, err
	}
	secrets, err := t.cs.CoreV1().Secrets(t.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: stageSelector(ref)})
	if err != nil {
		return nil, fmt.Errorf("list secrets of stage %s: %w", ref, err)
	}
	byName := map[string]*corev1.Secret{}
	for i := range secrets.Items {
		byName[secrets.Items[i].Name] = &secrets.Items[i]
	}
	var fns []targets.Function
	for _, e := range table.Functions {
		s := byName[deploymentName(e.Service, e.Revision)]
		if s == nil {
			return nil, fmt.Errorf("stage %s: the secret of function %s at revision %s is missing", ref, e.Key, e.Revision)
		}
		fn, err := decodeFunction(s.Data[secretFunctionKey])
		if err == nil && fn.Key() != e.Key {
			err = fmt.Errorf("secret %s holds function %q (changed by hand? the next deploy rewrites it)", s.Name, fn.Key())
		}
		if err != nil {
			return nil, fmt.Errorf("stage %s: function %s: %w", ref, e.Key, err)
		}
		fns = append(fns, fn)
	}
	sort.Slice(fns, func(i, j int) bool { return fns[i].Key() < fns[j].Key() })
	return fns, nil
}

// Drift implements targets.DriftDetector: it compares the objects of
// stage's live release with what Seedbed applied and describes each
// difference; none means no drift.
//
// The release is the one this target applied last; a target that has not
// applied the stage reads it from the cluster (the live revisions' Secrets).
func (t *Target) Drift(ctx context.Context, ref targets.StageRef) ([]string, error) {
	t.mu.Lock()
	fns, ok := t.running[ref]
	t.mu.Unlock()
	if !ok {
		var err error
		if fns, err = t.readRunning(ctx, ref); err != nil {
			return nil, err
		}
	}
	st, err := t.plan(ref, fns)
	if err != nil {
		return nil, err
	}
	live, err := t.readLive(ctx, st)
	if err != nil {
		return nil, err
	}
	return t.drift(st, live), nil
}

// prune deletes the Deployments and Secrets of stage whose names are not in
// keep, and its Services not in services (nil keeps every Service).
func (t *Target) prune(ctx context.Context, ref targets.StageRef, keep map[string]string, services map[string]bool) error {
	ns := t.cfg.Namespace
	sel := metav1.ListOptions{LabelSelector: stageSelector(ref)}
	bg := metav1.DeletePropagationBackground
	del := metav1.DeleteOptions{PropagationPolicy: &bg}
	var errs []error
	deps, err := t.cs.AppsV1().Deployments(ns).List(ctx, sel)
	if err != nil {
		return fmt.Errorf("list deployments: %w", err)
	}
	for _, d := range deps.Items {
		if _, ok := keep[d.Name]; !ok {
			if err := t.cs.AppsV1().Deployments(ns).Delete(ctx, d.Name, del); err != nil && !isNotFound(err) {
				errs = append(errs, fmt.Errorf("delete deployment %s: %w", d.Name, err))
			}
		}
	}
	secs, err := t.cs.CoreV1().Secrets(ns).List(ctx, sel)
	if err != nil {
		return fmt.Errorf("list secrets: %w", err)
	}
	for _, s := range secs.Items {
		if _, ok := keep[s.Name]; !ok {
			if err := t.cs.CoreV1().Secrets(ns).Delete(ctx, s.Name, del); err != nil && !isNotFound(err) {
				errs = append(errs, fmt.Errorf("delete secret %s: %w", s.Name, err))
			}
		}
	}
	if services != nil {
		svcs, err := t.cs.CoreV1().Services(ns).List(ctx, sel)
		if err != nil {
			return fmt.Errorf("list services: %w", err)
		}
		for _, s := range svcs.Items {
			if !services[s.Name] {
				if err := t.cs.CoreV1().Services(ns).Delete(ctx, s.Name, del); err != nil && !isNotFound(err) {
					errs = append(errs, fmt.Errorf("delete service %s: %w", s.Name, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// checkDigest refuses a digest the runner could not fetch.
func checkDigest(fn targets.Function) error {
	if _, err := artifact.ParseDigest(fn.Digest); err != nil {
		return fmt.Errorf("function %s: %w", fn.Key(), err)
	}
	return nil
}

func sortedKeys[M ~map[string]V, V any](m M) []string { return slices.Sorted(maps.Keys(m)) }

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
