package kubernetes

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"

	"github.com/seedbed/seedbed/gateway"
	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/targets"
)

// The labels and annotations every object of a stage carries. The owner
// labels (managed-by, app, stage) are what Remove deletes by.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "seedbed"
	LabelApp       = "seedbed.dev/app"
	LabelStage     = "seedbed.dev/stage"
	// LabelFunction holds the function's Service name (its key is in the
	// annotation AnnotationFunction: a label value cannot hold "/").
	LabelFunction = "seedbed.dev/function"
	// LabelRevision names a function's revision: a Service selects the
	// pods of the live one.
	LabelRevision      = "seedbed.dev/revision"
	AnnotationFunction = "seedbed.dev/function-key"
)

// What the runner container gets; runner.go in cmd/seedbed reads the same
// names.
const (
	secretFunctionKey = "function.json"
	secretTokenKey    = "artifact-token"
	secretQueueKey    = "queue-token"
	secretLogsKey     = "logs-token"
	routesKey         = "routes.json"
	containerName     = "function"
	// RunnerPort is the port the runner serves the function on in the
	// pod; the Service's port 80 leads to it.
	RunnerPort = 8080
	// ServicePort is the port of every function's Service.
	ServicePort = 80
	runnerDir   = "/var/lib/seedbed"
	runnerUID   = 65532
)

var nameRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// checkRef refuses app and stage names that cannot be label values.
func checkRef(ref targets.StageRef) error {
	for _, n := range []struct{ what, v string }{{"app", ref.App}, {"stage", ref.Stage}} {
		if len(n.v) > 63 || !nameRe.MatchString(n.v) {
			return fmt.Errorf("%s name %q cannot be used on the kubernetes target: use lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters", n.what, n.v)
		}
	}
	return nil
}

func stageSelector(ref targets.StageRef) string {
	return LabelManagedBy + "=" + ManagedBy + "," + LabelApp + "=" + ref.App + "," + LabelStage + "=" + ref.Stage
}

func ownerLabels(ref targets.StageRef) map[string]string {
	return map[string]string{LabelManagedBy: ManagedBy, LabelApp: ref.App, LabelStage: ref.Stage}
}

func shortHash(s string, n int) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:n]
}

// dnsName turns s into a DNS label of at most n characters.
func dnsName(s string, n int) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	out := b.String()
	if len(out) > n {
		out = out[:n]
	}
	return strings.Trim(out, "-")
}

// baseName is the Service name of fn in stage, and the prefix of its
// Deployments and Secrets: readable, and unique thanks to a hash of the
// full names (the readable part may be cut).
// A Service name must start with a letter (DNS-1035), an app name need not.
func baseName(ref targets.StageRef, fn targets.Function) string {
	name := dnsName(ref.App+"-"+ref.Stage+"-"+fn.Service+"-"+fn.Name, 40)
	if name == "" || name[0] < 'a' || name[0] > 'z' {
		name = "f" + name
	}
	return name + "-" + shortHash(ref.String()+"/"+fn.Key(), 6)
}

func deploymentName(base, rev string) string { return base + "-" + rev }

// routesName is the ConfigMap holding stage's route table.
func routesName(ref targets.StageRef) string {
	return dnsName(ref.App+"-"+ref.Stage, 40) + "-" + shortHash(ref.String(), 6) + "-routes"
}

// replicasOf is how many pods run a function: the stage's replicas
// setting, or for a function that sets instances, max(min, 1). The
// kubernetes target does not scale (no autoscaler is made, no scale to
// zero): min is what always runs, so that is what it runs; max is left
// to a HorizontalPodAutoscaler a cluster admin may add.
func (t *Target) replicasOf(fn targets.Function) int32 {
	if fn.Instances != nil {
		return int32(max(fn.Instances.Min, 1))
	}
	return t.cfg.Replicas
}

// planned is one function as this apply will run it.
type planned struct {
	fn         targets.Function
	base       string // Service name
	rev        string
	deployName string // Deployment and Secret name
	memory     int    // MiB
	replicas   int32  // pods of its Deployment (see replicasOf)
	spec       []byte // function.json
	store      string
	token      string
	queueToken string // "" when the target gives none
	logsURL    string // "" when the target ships no function logs
	logsToken  string
}

// stagePlan is what Apply makes a stage serve.
type stagePlan struct {
	ref targets.StageRef
	fns []*planned // sorted by key
}

func (s *stagePlan) sortedFunctions() []targets.Function {
	out := make([]targets.Function, len(s.fns))
	for i, p := range s.fns {
		out[i] = p.fn
	}
	return out
}

// plan checks fns and names every object of every function.
func (t *Target) plan(ref targets.StageRef, fns []targets.Function) (*stagePlan, error) {
	if err := checkRef(ref); err != nil {
		return nil, err
	}
	// Routes that clash are refused before anything is applied.
	if _, err := gateway.NewTable(fns); err != nil {
		return nil, err
	}
	st := &stagePlan{ref: ref}
	seen := map[string]bool{}
	for _, fn := range fns {
		if seen[fn.Key()] {
			return nil, fmt.Errorf("function %s is listed twice", fn.Key())
		}
		seen[fn.Key()] = true
		if err := checkDigest(fn); err != nil {
			return nil, err
		}
		store, token, err := t.cfg.Artifacts.Locate(fn.Digest)
		if err != nil {
			return nil, fmt.Errorf("function %s: locate artifact %s: %w", fn.Key(), fn.Digest, err)
		}
		spec, err := json.Marshal(fn)
		if err != nil {
			return nil, fmt.Errorf("function %s: %w", fn.Key(), err)
		}
		memory := fn.Memory
		if memory <= 0 {
			memory = t.cfg.Memory
		}
		var queueToken, queueRev string
		if t.cfg.QueueToken != nil {
			queueToken = t.cfg.QueueToken(ref)
			// A pod reads its env once: a new secret key (a new token)
			// must roll it. Only a digest of the token is in the hash.
			queueRev = shortHash(queueToken, 10)
		}
		var logsURL, logsToken, logsRev string
		if t.cfg.Logs != nil {
			logsURL, logsToken = t.cfg.Logs(ref)
			logsRev = shortHash(logsURL+"\x00"+logsToken, 10) // rolls the pods as queueRev does
		}
		// The revision covers everything that shapes the pod; the artifact
		// token is left out so that a new signing key does not roll every
		// pod.
		h, err := json.Marshal(struct {
			Spec   json.RawMessage `json:"spec"`
			Shared sharedPodSpec   `json:"shared"`
			Store  string          `json:"store"`
			Extra  map[string]string
			Queue  string `json:",omitempty"`
			Logs   string `json:",omitempty"`
		}{spec, t.shared, store, t.annotations(fn), queueRev, logsRev})
		if err != nil {
			return nil, err
		}
		base := baseName(ref, fn)
		rev := shortHash(string(h), 10)
		st.fns = append(st.fns, &planned{
			fn: fn, base: base, rev: rev, deployName: deploymentName(base, rev),
			memory: memory, replicas: t.replicasOf(fn), spec: spec, store: store, token: token, queueToken: queueToken,
			logsURL: logsURL, logsToken: logsToken,
		})
	}
	sort.Slice(st.fns, func(i, j int) bool { return st.fns[i].fn.Key() < st.fns[j].fn.Key() })
	return st, nil
}

func (t *Target) annotations(fn targets.Function) map[string]string {
	if t.podAnnotations == nil {
		return nil
	}
	return t.podAnnotations(fn)
}

func (t *Target) revisionLabels(ref targets.StageRef, p *planned) map[string]string {
	l := ownerLabels(ref)
	l[LabelFunction] = p.base
	l[LabelRevision] = p.rev
	return l
}

func (t *Target) secret(ref targets.StageRef, p *planned) *corev1ac.SecretApplyConfiguration {
	data := map[string][]byte{secretFunctionKey: p.spec, secretTokenKey: []byte(p.token)}
	if p.queueToken != "" {
		data[secretQueueKey] = []byte(p.queueToken)
	}
	if p.logsURL != "" {
		data[secretLogsKey] = []byte(p.logsToken)
	}
	return corev1ac.Secret(p.deployName, t.cfg.Namespace).
		WithLabels(t.revisionLabels(ref, p)).
		WithAnnotations(map[string]string{AnnotationFunction: p.fn.Key()}).
		WithType(corev1.SecretTypeOpaque).
		WithData(data)
}

func (t *Target) deployment(ref targets.StageRef, p *planned) *appsv1ac.DeploymentApplyConfiguration {
	labels := t.revisionLabels(ref, p)
	fromSecret := func(name, key string) *corev1ac.EnvVarApplyConfiguration {
		return corev1ac.EnvVar().WithName(name).WithValueFrom(corev1ac.EnvVarSource().
			WithSecretKeyRef(corev1ac.SecretKeySelector().WithName(p.deployName).WithKey(key)))
	}
	env := func(name, value string) *corev1ac.EnvVarApplyConfiguration {
		return corev1ac.EnvVar().WithName(name).WithValue(value)
	}
	mem := resource.MustParse(strconv.Itoa(p.memory) + "Mi")
	container := corev1ac.Container().WithName(containerName).
		WithImage(t.cfg.Image).
		WithArgs("run-function").
		WithEnv(
			env("SEEDBED_APP", ref.App),
			env("SEEDBED_STAGE", ref.Stage),
			env("SEEDBED_ARTIFACT_STORE", p.store),
			env("SEEDBED_RUNNER_DIR", runnerDir),
			env("SEEDBED_DOMAIN", t.cfg.Domain),
			env("PORT", strconv.Itoa(RunnerPort)),
			fromSecret("SEEDBED_RUNNER_FUNCTION", secretFunctionKey),
			fromSecret("SEEDBED_ARTIFACT_TOKEN", secretTokenKey),
		).
		WithPorts(corev1ac.ContainerPort().WithName("http").WithContainerPort(RunnerPort).WithProtocol(corev1.ProtocolTCP)).
		WithResources(corev1ac.ResourceRequirements().
			WithLimits(corev1.ResourceList{corev1.ResourceMemory: mem}).
			WithRequests(corev1.ResourceList{corev1.ResourceMemory: mem, corev1.ResourceCPU: t.cpu})).
		WithReadinessProbe(corev1ac.Probe().
			WithTCPSocket(corev1ac.TCPSocketAction().WithPort(intstr.FromString("http"))).
			WithPeriodSeconds(2)).
		WithVolumeMounts(corev1ac.VolumeMount().WithName("work").WithMountPath(runnerDir)).
		WithSecurityContext(corev1ac.SecurityContext().
			WithAllowPrivilegeEscalation(false).
			WithReadOnlyRootFilesystem(true).
			WithCapabilities(corev1ac.Capabilities().WithDrop("ALL")))
	if p.queueToken != "" {
		// From the Secret, not a plain value: the Deployment is readable
		// by whoever may list workloads; the runner hands it to the function.
		container.WithEnv(fromSecret(gateway.QueueTokenEnv, secretQueueKey))
	}
	if p.logsURL != "" {
		// The runner ships what the function prints to seedbed serve.
		container.WithEnv(env("SEEDBED_LOGS_URL", p.logsURL), fromSecret("SEEDBED_LOGS_TOKEN", secretLogsKey))
	}
	pod := corev1ac.PodSpec().
		// A function has no business with the Kubernetes API.
		WithAutomountServiceAccountToken(false).
		WithEnableServiceLinks(false).
		WithSecurityContext(corev1ac.PodSecurityContext().
			WithRunAsNonRoot(true).WithRunAsUser(runnerUID).WithRunAsGroup(runnerUID).WithFSGroup(runnerUID).
			WithSeccompProfile(corev1ac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault))).
		WithVolumes(corev1ac.Volume().WithName("work").WithEmptyDir(corev1ac.EmptyDirVolumeSource())).
		WithContainers(container)
	if t.cfg.ImagePullSecret != "" {
		pod.WithImagePullSecrets(corev1ac.LocalObjectReference().WithName(t.cfg.ImagePullSecret))
	}
	tpl := corev1ac.PodTemplateSpec().WithLabels(labels).WithSpec(pod)
	if a := t.annotations(p.fn); len(a) > 0 {
		tpl.WithAnnotations(a)
	}
	return appsv1ac.Deployment(p.deployName, t.cfg.Namespace).
		WithLabels(labels).
		WithAnnotations(map[string]string{AnnotationFunction: p.fn.Key()}).
		WithSpec(appsv1ac.DeploymentSpec().
			WithReplicas(p.replicas).
			WithProgressDeadlineSeconds(t.shared.ProgressDeadline).
			WithRevisionHistoryLimit(1).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(labels)).
			WithTemplate(tpl))
}

func (t *Target) service(ref targets.StageRef, p *planned) *corev1ac.ServiceApplyConfiguration {
	labels := ownerLabels(ref)
	labels[LabelFunction] = p.base
	return corev1ac.Service(p.base, t.cfg.Namespace).
		WithLabels(labels).
		WithAnnotations(map[string]string{AnnotationFunction: p.fn.Key()}).
		WithSpec(corev1ac.ServiceSpec().
			WithType(corev1.ServiceTypeClusterIP).
			WithSelector(t.revisionLabels(ref, p)).
			WithPorts(corev1ac.ServicePort().WithName("http").WithPort(ServicePort).
				WithTargetPort(intstr.FromString("http")).WithProtocol(corev1.ProtocolTCP)))
}

// RouteTable is what a stage serves, as the ConfigMap STAGE-routes records
// it when the stage switches: the gateway routes each function's routes to
// its Service.
type RouteTable struct {
	Namespace string       `json:"namespace"`
	Functions []RouteEntry `json:"functions"`
}

// RouteEntry is one function of a RouteTable.
type RouteEntry struct {
	Key      string        `json:"key"`     // service/name
	Service  string        `json:"service"` // the Kubernetes Service
	Port     int           `json:"port"`
	Kind     string        `json:"kind,omitempty"`
	Routes   []stack.Route `json:"routes"`
	Revision string        `json:"revision"`           // live
	Previous string        `json:"previous,omitempty"` // kept running for a rollback
}

// previousFor is the revision of key to keep beside newRev.
func (rt *RouteTable) previousFor(key, newRev string) string {
	if rt == nil {
		return ""
	}
	for _, e := range rt.Functions {
		if e.Key == key {
			if e.Revision != newRev {
				return e.Revision
			}
			return e.Previous
		}
	}
	return ""
}

// RouteTable reads the route table stage switched to last; nil if the
// stage has none.
func (t *Target) RouteTable(ctx context.Context, ref targets.StageRef) (*RouteTable, error) {
	if err := checkRef(ref); err != nil {
		return nil, err
	}
	return t.readTable(ctx, ref)
}

func (t *Target) readTable(ctx context.Context, ref targets.StageRef) (*RouteTable, error) {
	cm, err := t.cs.CoreV1().ConfigMaps(t.cfg.Namespace).Get(ctx, routesName(ref), metav1.GetOptions{})
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the route table of %s: %w", ref, err)
	}
	var rt RouteTable
	if err := json.Unmarshal([]byte(cm.Data[routesKey]), &rt); err != nil {
		return nil, fmt.Errorf("read the route table of %s (configmap %s): %w", ref, cm.Name, err)
	}
	return &rt, nil
}

// liveState is what the cluster holds for a stage before an apply.
type liveState struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	secrets     map[string]*corev1.Secret
	table       *RouteTable
	policy      *networkingv1.NetworkPolicy // nil: none
}

// keepOnFailure names the revisions the route table holds: what a failed
// apply must not delete.
func (l *liveState) keepOnFailure() map[string]string {
	keep := map[string]string{}
	if l.table == nil {
		return keep
	}
	for _, e := range l.table.Functions {
		keep[deploymentName(e.Service, e.Revision)] = e.Key
		if e.Previous != "" {
			keep[deploymentName(e.Service, e.Previous)] = e.Key
		}
	}
	return keep
}

func (t *Target) readLive(ctx context.Context, st *stagePlan) (*liveState, error) {
	ns, sel := t.cfg.Namespace, metav1.ListOptions{LabelSelector: stageSelector(st.ref)}
	live := &liveState{deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{}, secrets: map[string]*corev1.Secret{}}
	// The reads are independent: one round trip, not five.
	var (
		wg                     sync.WaitGroup
		deps                   *appsv1.DeploymentList
		svcs                   *corev1.ServiceList
		secs                   *corev1.SecretList
		depErr, svcErr, secErr error
		tableErr, policyErr    error
	)
	wg.Go(func() { deps, depErr = t.cs.AppsV1().Deployments(ns).List(ctx, sel) })
	wg.Go(func() { svcs, svcErr = t.cs.CoreV1().Services(ns).List(ctx, sel) })
	wg.Go(func() { secs, secErr = t.cs.CoreV1().Secrets(ns).List(ctx, sel) })
	wg.Go(func() { live.table, tableErr = t.readTable(ctx, st.ref) })
	wg.Go(func() { live.policy, policyErr = t.readPolicy(ctx, st.ref) })
	wg.Wait()
	switch {
	case depErr != nil:
		return nil, fmt.Errorf("list deployments of %s in namespace %s: %w", st.ref, ns, depErr)
	case svcErr != nil:
		return nil, fmt.Errorf("list services of %s in namespace %s: %w", st.ref, ns, svcErr)
	case secErr != nil:
		return nil, fmt.Errorf("list secrets of %s in namespace %s: %w", st.ref, ns, secErr)
	case tableErr != nil:
		return nil, tableErr
	case policyErr != nil:
		return nil, policyErr
	}
	for i := range deps.Items {
		live.deployments[deps.Items[i].Name] = &deps.Items[i]
	}
	for i := range svcs.Items {
		live.services[svcs.Items[i].Name] = &svcs.Items[i]
	}
	for i := range secs.Items {
		live.secrets[secs.Items[i].Name] = &secs.Items[i]
	}
	return live, nil
}

// applyConcurrency bounds how many functions one apply writes at a time
// (each function's requests run in order: its Secret before its
// Deployment): enough that the round trips of a 20-function release
// overlap, few enough to stay within the client's burst (NewClient) and
// not flood the API server.
const applyConcurrency = 16

// parallel runs f for each planned function, at most applyConcurrency at a
// time, and joins the errors.
func parallel(fns []*planned, f func(p *planned) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, applyConcurrency)
	)
	for _, p := range fns {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := f(p); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (t *Target) applyOpts() metav1.ApplyOptions {
	// Force: Seedbed owns these objects; a field someone changed by hand
	// is taken back (that is the drift repair).
	return metav1.ApplyOptions{FieldManager: FieldManager, Force: true}
}

// applyRevisions applies every function's Secret and Deployment: new
// revisions are created, live ones re-applied (repairing drift). A kept
// revision the stage goes back to (a rollback) is left as it is when it
// shows no drift: re-applying it would only load the API server, and a
// rollback should be a switch.
func (t *Target) applyRevisions(ctx context.Context, st *stagePlan, live *liveState) error {
	liveRev := map[string]string{}
	if live.table != nil {
		for _, e := range live.table.Functions {
			liveRev[e.Key] = e.Revision
		}
	}
	return parallel(st.fns, func(p *planned) error {
		if d, sec := live.deployments[p.deployName], live.secrets[p.deployName]; d != nil && sec != nil && liveRev[p.fn.Key()] != p.rev &&
			len(deploymentDrift(d, p.replicas, t.cfg.Image, p.memory)) == 0 && bytes.Equal(sec.Data[secretFunctionKey], p.spec) {
			return nil
		}
		if _, err := t.cs.CoreV1().Secrets(t.cfg.Namespace).Apply(ctx, t.secret(st.ref, p), t.applyOpts()); err != nil {
			return fmt.Errorf("function %s: apply secret %s: %w", p.fn.Key(), p.deployName, err)
		}
		if _, err := t.cs.AppsV1().Deployments(t.cfg.Namespace).Apply(ctx, t.deployment(st.ref, p), t.applyOpts()); err != nil {
			return fmt.Errorf("function %s: apply deployment %s: %w", p.fn.Key(), p.deployName, err)
		}
		return nil
	})
}

// switchStage points every function's Service at its new revision and
// writes the route table.
func (t *Target) switchStage(ctx context.Context, st *stagePlan, live *liveState) error {
	if err := parallel(st.fns, func(p *planned) error {
		if svc := live.services[p.base]; svc != nil && svc.Spec.Selector[LabelRevision] == p.rev && len(serviceDrift(svc, p, "")) == 0 {
			return nil // already there (a function the release did not change)
		}
		if _, err := t.cs.CoreV1().Services(t.cfg.Namespace).Apply(ctx, t.service(st.ref, p), t.applyOpts()); err != nil {
			return fmt.Errorf("function %s: switch service %s to revision %s: %w", p.fn.Key(), p.base, p.rev, err)
		}
		return nil
	}); err != nil {
		return err
	}
	table := RouteTable{Namespace: t.cfg.Namespace}
	for _, p := range st.fns {
		table.Functions = append(table.Functions, RouteEntry{
			Key: p.fn.Key(), Service: p.base, Port: ServicePort, Kind: p.fn.Kind, Routes: p.fn.Routes,
			Revision: p.rev, Previous: live.table.previousFor(p.fn.Key(), p.rev),
		})
	}
	data, err := json.Marshal(table)
	if err != nil {
		return err
	}
	cm := corev1ac.ConfigMap(routesName(st.ref), t.cfg.Namespace).
		WithLabels(ownerLabels(st.ref)).
		WithData(map[string]string{routesKey: string(data)})
	if _, err := t.cs.CoreV1().ConfigMaps(t.cfg.Namespace).Apply(ctx, cm, t.applyOpts()); err != nil {
		return fmt.Errorf("write the route table of %s: %w", st.ref, err)
	}
	return nil
}

func decodeFunction(b []byte) (targets.Function, error) {
	var fn targets.Function
	if err := json.Unmarshal(b, &fn); err != nil {
		return fn, fmt.Errorf("decode function spec: %w", err)
	}
	return fn, nil
}
