// Package local is Seedbed's built-in target: it runs the functions of
// stages as supervised processes on this machine and routes HTTP requests to
// them through its gateway.
//
// A function is one of three things:
//
//   - an HTTP function (kind http): a process that listens on $PORT (the
//     Cloud Run / Heroku contract); the gateway proxies requests to it. It
//     is healthy once it answers HTTP.
//   - a Lambda-style function (kind lambda): an unchanged AWS Lambda
//     handler. Its process gets AWS_LAMBDA_RUNTIME_API and the rest of
//     Lambda's environment and talks to a Runtime API the target serves it
//     (runtimeapi.go); go binaries do so through aws-lambda-go, node and
//     python handlers through a small bootstrap shipped in this package
//     (bootstrap/). The gateway turns requests into API Gateway HTTP API
//     payload 2.0 events and results back into responses (apigw.go). It is
//     healthy once it asks for its first event. One process per instance
//     handles one event at a time; the others queue.
//   - a static function (runtime static): no process; the gateway serves
//     the artifact's files (static.go). It is healthy at once.
//
// Apply starts new and changed functions beside the running ones, waits
// until each is healthy, swaps the stage's route table in one step and only
// then drains and stops what the stage no longer needs, so a stage always
// serves one whole release and a deploy drops no request. A function that
// crashes after it went live is restarted with back-off; a Lambda handler
// that times out is killed and started afresh at once.
//
// A function's memory is a hard limit where Linux cgroups allow it: each
// instance runs in a cgroup of its own, and a process that allocates past
// its memory is stopped by the kernel, logged as out of memory and
// restarted as a crash is. Elsewhere the limits are soft (see
// MemoryLimits).
//
// With Config.Sandbox set, every function process runs confined: in a
// bubblewrap sandbox, as a host user of its own app, seeing only its
// artifact, its run dir and the system's libraries, with a network of its
// own (see sandbox.go). What a function prints stays out of Seedbed's log:
// it goes, with its secret values masked, to the function log
// (Config.Logs), and its last lines are kept for error messages.
//
// Processes die with Seedbed (they get SIGKILL when it exits); Seedbed
// applies every stage's live release again when it starts.
package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seedbed/seedbed/fnlog"
	"github.com/seedbed/seedbed/gateway"
	"github.com/seedbed/seedbed/metrics/observe"
	"github.com/seedbed/seedbed/sandbox"
	"github.com/seedbed/seedbed/targets"
)

// Extractor unpacks an artifact. The artifact store implements it: it
// writes the files of the gzip'd tar with the given digest ("sha256:<hex>")
// into destDir, which exists and is empty.
type Extractor interface {
	Extract(ctx context.Context, digest, destDir string) error
}

// Config is what a Target is made of.
type Config struct {
	// Dir holds unpacked artifacts (Dir/artifacts/<hex>) and the run
	// directories of instances (Dir/run). It is created if missing.
	Dir string
	// Artifacts unpacks artifacts; required.
	Artifacts Extractor
	// Logger receives the functions' output lines and crash reports;
	// nil discards them.
	Logger *slog.Logger
	// StartTimeout bounds how long a new function may take to answer on
	// $PORT; zero means 15s.
	StartTimeout time.Duration
	// MemoryLimits chooses hard (cgroup) or soft memory limits; empty
	// means MemoryLimitsAuto.
	MemoryLimits MemoryLimits
	// Sandbox confines every function process (see sandbox.go); nil runs
	// them as Seedbed's own user, unconfined (isolation none).
	Sandbox *sandbox.Runner
	// UIDBase is the first host uid of the apps' function users when
	// sandboxed; zero means DefaultUIDBase.
	UIDBase int
	// Failures, when set, hears of processes that crashed or were killed
	// for their memory and are being restarted (for issues and the
	// restart count).
	Failures observe.FailureRecorder
	// Crashes hears of every crash of a function's process, before its
	// restart (crash-loop alerts); nil: no one does.
	Crashes CrashObserver
	// Logs stores every line the instances print (stdout, stderr, the
	// errors their Lambda runtime reports, Seedbed's notes on crashes),
	// masked; nil keeps only the last lines for error messages.
	Logs LogWriter
	// QueueTokens gives each function the send token of its stage's
	// queues, which it finds in SEEDBED_QUEUE_TOKEN, and checks the token
	// on the instance's own API (instanceapi.go); nil gives none.
	QueueTokens gateway.QueueTokens
	// QueueSender takes the messages functions send on their instance's
	// own API (SEEDBED_API_URL); nil: instances serve no such API.
	QueueSender gateway.QueueSender
	// SQS gives each function its stage's credentials for the
	// SQS-compatible subset on the instance's own API (SEEDBED_SQS_*, and
	// the AWS SDK's variables where the function sets none; see sqsEnv)
	// and checks their signatures; nil offers no SQS.
	SQS gateway.SQSCredentials
	// MemoryBudget is the most memory, in MiB, the instances of all
	// functions may be sized at together (the sum of their `memory`):
	// no further instance is started to scale up past it. The instances
	// a deploy starts (instances.min, at least one) always start. Zero
	// means no budget; functions without `memory` count nothing.
	MemoryBudget int
	// TakeOver says another process of Seedbed still runs functions from
	// Dir: the one this process takes over from (see package handoff). Its
	// run dirs, process groups and cgroups are left alone; it stops its
	// functions itself once this process serves.
	TakeOver bool
	// Scaling hears how many instances of a function run whenever a
	// pool starts or stops one (the instances chart); nil: no one does.
	Scaling observe.ScaleObserver
}

// CrashObserver hears of functions whose process exited on its own and is
// restarted. It is called on the supervisor's goroutine: return quickly.
type CrashObserver interface {
	FunctionCrashed(stage targets.StageRef, function string)
}

// LogWriter stores function log lines: fnlog.Store does. Append must
// have written the lines where a restart of Seedbed keeps them when it
// returns.
type LogWriter interface {
	Append(src fnlog.Source, lines []fnlog.Entry) error
}

// ErrClosed is returned by Apply and Remove after Close.
var ErrClosed = errors.New("local target is closed")

// defaultTimeout bounds a request to a function that sets no timeout.
const defaultTimeout = 30 * time.Second

// timing holds the waits of the target; tests shorten them.
type timing struct {
	drain        time.Duration // how long a replaced instance may finish requests
	killGrace    time.Duration // between SIGTERM and SIGKILL
	backoffMin   time.Duration // first restart delay after a crash
	backoffMax   time.Duration
	backoffReset time.Duration // uptime after which the delay starts over
	scaleTick    time.Duration // how often a pool looks for idle instances to stop
}

var _ targets.Target = (*Target)(nil)

// Target runs functions as processes on this machine. It is safe for
// concurrent use; see targets.Target for the order of calls.
type Target struct {
	cfg         Config
	log         *slog.Logger
	timing      timing
	transport   *http.Transport     // shared by every proxied request
	buffers     copyBuffers         // what both proxy paths copy answers through
	probeClient *http.Client        // health checks; no keep-alive, no redirects
	pickPort    func() (int, error) // freePort; tests make it hand out a taken port
	proxy       http.Handler
	cgroups     *cgroups  // nil with soft memory limits
	users       *appUsers // nil without a sandbox

	// life is cancelled by Close, which cuts short starts, drains and
	// grace periods.
	life     context.Context
	stopLife context.CancelFunc

	mu     sync.Mutex
	closed bool
	stages map[targets.StageRef]*stageState

	unpackMu sync.Mutex
	unpacks  map[string]*sync.Mutex // per artifact hex

	memMu   sync.Mutex
	memUsed int // MiB reserved by running and starting instances (see reserveMemory)
}

// stageState is one stage's route table and instances.
type stageState struct {
	ref   targets.StageRef
	table atomic.Pointer[gateway.Table] // nil when nothing is deployed
	// live is the pool of every function of table by key, routes or
	// not, for events (see Invoke); swapped with table.
	live atomic.Pointer[map[string]*pool]

	// applyMu serialises Apply, Remove and Close for the stage and guards
	// instances, the live pool of instances of each function by key.
	applyMu   sync.Mutex
	instances map[string]*pool
}

// New makes a Target. It removes run directories, half-unpacked artifacts
// and instance cgroups left by an earlier life; unpacked artifacts are
// kept. It logs whether memory limits are hard or soft, and fails with
// ErrNoCgroup when hard ones were asked for and cannot be had.
func New(cfg Config) (*Target, error) {
	if cfg.Dir == "" {
		return nil, errors.New("local target: Config.Dir is required")
	}
	if cfg.Artifacts == nil {
		return nil, errors.New("local target: Config.Artifacts is required")
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 15 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	limits, err := ParseMemoryLimits(string(cfg.MemoryLimits))
	if err != nil {
		return nil, fmt.Errorf("local target: %w", err)
	}
	cfg.MemoryLimits = limits
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("local target dir: %w", err)
	}
	cfg.Dir = dir
	// Pdeathsig reaches a function's own process, not what it started; a
	// Seedbed that was killed leaves those behind. Stop them first, unless
	// they are the functions of the process this one takes over from,
	// which serve until it exits (and then remove their own folders).
	if !cfg.TakeOver {
		killLeftGroups(filepath.Join(dir, "run"), cfg.Logger)
		for _, sub := range []string{"run", groupsDir} {
			if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
				return nil, fmt.Errorf("clean run dirs: %w", err)
			}
		}
	}
	// Sandboxed functions' users pass through (0711: no listing) to the
	// folders of their own app, which are closed to everyone else.
	for _, sub := range []string{"artifacts", "run"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("local target dir: %w", err)
		}
	}
	if cfg.Sandbox != nil {
		for _, sub := range []string{"", "artifacts", "run"} {
			if err := os.Chmod(filepath.Join(dir, sub), 0o711); err != nil {
				return nil, fmt.Errorf("local target dir: %w", err)
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, groupsDir), 0o700); err != nil {
		return nil, fmt.Errorf("local target dir: %w", err)
	}
	var users *appUsers
	if cfg.Sandbox != nil {
		if users, err = loadUsers(dir, cfg.UIDBase); err != nil {
			return nil, fmt.Errorf("local target: %w", err)
		}
		// bwrap runs as the function's user and must reach what it binds.
		if err := sandbox.CheckReachable(filepath.Join(dir, "run"), users.base, users.base); err != nil {
			return nil, fmt.Errorf("local target: sandboxed functions cannot reach their folders: %w", err)
		}
		network := "a network of their own with outbound access only"
		if !cfg.Sandbox.Network() {
			network = "the host's network (pasta is missing: they reach services on the host's loopback)"
		}
		cfg.Logger.Info("functions run sandboxed (bubblewrap), each app as a user of its own from uid " + strconv.Itoa(users.base) + ", with " + network)
	}
	stale, _ := filepath.Glob(filepath.Join(dir, "artifacts", ".unpack-*"))
	for _, s := range stale {
		_ = os.RemoveAll(s)
	}
	var cg *cgroups
	if limits == MemoryLimitsSoft {
		cfg.Logger.Info("memory limits: soft (as configured)")
	} else if cg, err = detectCgroups(dir, cfg.TakeOver, cfg.Logger); err != nil {
		if limits == MemoryLimitsCgroup {
			return nil, fmt.Errorf("local target: %w: %v", ErrNoCgroup, err)
		}
		cfg.Logger.Info("memory limits: soft (no writable cgroup: " + err.Error() + ")")
	} else {
		cfg.Logger.Info("memory limits: "+cg.String()+" (hard)", "cgroup", cg.dir)
	}

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // functions are on loopback; never send them through a proxy
	tr.MaxIdleConnsPerHost = 64
	tr.DisableCompression = true // pass the function's encoding through untouched
	life, stop := context.WithCancel(context.Background())
	t := &Target{
		cfg:    cfg,
		log:    cfg.Logger,
		timing: timing{drain: 10 * time.Second, killGrace: 5 * time.Second, backoffMin: 200 * time.Millisecond, backoffMax: 30 * time.Second, backoffReset: 30 * time.Second, scaleTick: time.Second},
		probeClient: &http.Client{
			Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		pickPort:  freePort,
		transport: tr,
		cgroups:   cg,
		users:     users,
		life:      life,
		stopLife:  stop,
		stages:    map[targets.StageRef]*stageState{},
		unpacks:   map[string]*sync.Mutex{},
	}
	t.proxy = t.newProxy()
	return t, nil
}

// stage returns the state of ref, creating it unless the target is closed.
func (t *Target) stage(ref targets.StageRef, create bool) (*stageState, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, ErrClosed
	}
	st := t.stages[ref]
	if st == nil && create {
		st = &stageState{ref: ref, instances: map[string]*pool{}}
		t.stages[ref] = st
	}
	return st, nil
}

// Table returns the route table ref serves now, or nil: the gateway's view
// of the stage (see package gateway).
func (t *Target) Table(ref targets.StageRef) *gateway.Table {
	t.mu.Lock()
	st := t.stages[ref]
	t.mu.Unlock()
	if st == nil {
		return nil
	}
	return st.table.Load()
}

// swap installs a stage's new route table, unless the target was closed
// meanwhile.
func (t *Target) swap(st *stageState, table *gateway.Table, live map[string]*pool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	st.table.Store(table)
	if live == nil {
		st.live.Store(nil)
	} else {
		st.live.Store(&live)
	}
	return nil
}

// withLife returns ctx, also cancelled when the target closes.
func (t *Target) withLife(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(t.life, func() { cancel(ErrClosed) })
	return ctx, func() { stop(); cancel(context.Canceled) }
}

// Apply makes stage serve exactly fns; see targets.Target. Functions whose
// artifact, runtime, handler, env, timeout and memory are unchanged keep
// running; the others start beside them and replace them once healthy.
func (t *Target) Apply(ctx context.Context, ref targets.StageRef, fns []targets.Function, log targets.Logger) error {
	if log == nil {
		log = discardLogger{}
	}
	table, err := gateway.NewTable(fns)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, fn := range fns {
		if seen[fn.Key()] {
			return fmt.Errorf("function %s is listed twice", fn.Key())
		}
		seen[fn.Key()] = true
		if err := checkFunction(fn); err != nil {
			return err
		}
	}
	st, err := t.stage(ref, true)
	if err != nil {
		return err
	}
	st.applyMu.Lock()
	defer st.applyMu.Unlock()
	ctx, cancel := t.withLife(ctx)
	defer cancel()

	next := map[string]*pool{}
	var toStart []targets.Function
	for _, fn := range table.Functions() {
		if old := st.instances[fn.Key()]; old != nil && sameSpec(old.fn, fn) {
			next[fn.Key()] = old
			continue
		}
		toStart = append(toStart, fn)
	}
	started, err := t.startAll(ctx, ref, toStart, log)
	if err != nil {
		return err
	}
	for _, p := range started {
		next[p.fn.Key()] = p
	}
	table.Bind(func(key string) gateway.Upstream {
		if p, ok := next[key]; ok {
			return p
		}
		return nil
	})
	if err := t.swap(st, table, next); err != nil {
		t.stopAll(context.Background(), started, 0, nil)
		return err
	}
	log.Printf("switched %s to %d functions", ref.Stage, len(table.Functions()))

	var old []*pool
	for key, p := range st.instances {
		if next[key] != p {
			old = append(old, p)
		}
	}
	st.instances = next
	t.stopAll(t.life, old, t.timing.drain, log)
	return nil
}

// startAll starts the pools of fns in parallel and waits until each
// instance is healthy. If one fails, the others are stopped too and the
// error says why.
func (t *Target) startAll(ctx context.Context, ref targets.StageRef, fns []targets.Function, log targets.Logger) ([]*pool, error) {
	if len(fns) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	errFailed := errors.New("another function failed to start")

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		started []*pool
		errs    []error
	)
	for _, fn := range fns {
		wg.Go(func() {
			in, err := t.startPool(ctx, ref, fn, log)
			mu.Lock()
			defer mu.Unlock()
			if in != nil {
				started = append(started, in)
			}
			if err != nil && !errors.Is(context.Cause(ctx), errFailed) {
				errs = append(errs, err)
				cancel(errFailed)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.stopAll(context.Background(), started, 0, nil)
		return nil, errors.Join(errs...)
	}
	return started, nil
}

// start unpacks, launches and health-checks one function. On success the
// instance is supervised; on failure nothing of it is left running. A
// static function only needs its files.
func (t *Target) start(ctx context.Context, ref targets.StageRef, fn targets.Function, log targets.Logger) (*instance, error) {
	in, err := t.launch(ctx, ref, fn, log, false)
	if err != nil || in.site != nil {
		return in, err
	}
	if err := t.ready(ctx, in, log); err != nil {
		return nil, err
	}
	return in, nil
}

// wake lets the held process of a spare instance (launched with hold)
// run, waits until it answers and supervises it; on failure nothing of it
// is left running.
func (t *Target) wake(ctx context.Context, in *instance) error {
	began := time.Now()
	in.cur.held = false
	in.cur.started = began
	if err := in.cur.sb.Release(); err != nil {
		in.stop(context.Background(), 0)
		return fmt.Errorf("function %s: start its ready sandbox: %w", in.fn.Key(), err)
	}
	in.phases.prepare, in.phases.spawn = 0, time.Since(began)
	return t.ready(ctx, in, discardLogger{})
}

// ready waits until a launched instance answers, then supervises it; on
// failure it is stopped.
func (t *Target) ready(ctx context.Context, in *instance, log targets.Logger) error {
	began := time.Now()
	p, err := in.waitReady(ctx, in.cur, log.Printf)
	if err != nil {
		in.stop(context.Background(), 0)
		return err
	}
	in.publish(p)
	in.phases.ready = time.Since(began)
	log.Printf("%s healthy in %s", in.fn.Key(), (in.phases.spawn + in.phases.ready).Round(time.Millisecond))
	in.mu.Lock()
	in.superv = true
	in.mu.Unlock()
	go in.supervise(p)
	return nil
}

// launch unpacks a function and starts its process (a static function
// only opens its files). With hold, a sandboxed process waits in its
// sandbox, not yet executed, for wake. On failure nothing of it is left.
func (t *Target) launch(ctx context.Context, ref targets.StageRef, fn targets.Function, log targets.Logger, hold bool) (*instance, error) {
	prepared := time.Now()
	uid := 0
	if t.users != nil && fn.Runtime != "static" {
		var err error
		if uid, err = t.users.uid(ref.App); err != nil {
			return nil, fmt.Errorf("function %s: %w", fn.Key(), err)
		}
	}
	dir, err := t.unpack(ctx, fn.Digest, uid)
	if err != nil {
		return nil, fmt.Errorf("function %s: %w", fn.Key(), err)
	}
	if err := checkArtifact(fn, dir); err != nil {
		return nil, err
	}
	in := &instance{
		t:      t,
		stage:  ref,
		fn:     fn,
		dir:    dir,
		log:    t.log.With("app", ref.App, "stage", ref.Stage, "function", fn.Key()),
		out:    &ringBuffer{mask: t.masker(ref, fn)},
		uid:    uid,
		stopCh: make(chan struct{}),
		done:   make(chan struct{}),
	}
	if fn.Runtime == "static" {
		site, err := openSite(filepath.Join(dir, filepath.FromSlash(fn.Handler)))
		if err != nil {
			return nil, fmt.Errorf("function %s: %w", fn.Key(), err)
		}
		in.site = site
		log.Printf("serving %s (%s) as static files", fn.Key(), shortDigest(fn.Digest))
		return in, nil
	}

	runDir, err := os.MkdirTemp(filepath.Join(t.cfg.Dir, "run"), safeName(ref.App+"-"+ref.Stage+"-"+fn.Service+"-"+fn.Name)+"-")
	if err != nil {
		return nil, fmt.Errorf("function %s: run dir: %w", fn.Key(), err)
	}
	in.runDir = runDir
	in.id = runDir[strings.LastIndexByte(runDir, '-')+1:] // MkdirTemp's random part
	if err := os.Mkdir(filepath.Join(runDir, "tmp"), 0o700); err != nil {
		os.RemoveAll(runDir)
		return nil, fmt.Errorf("function %s: run dir: %w", fn.Key(), err)
	}
	if err := writeBootstrap(fn, runDir); err != nil {
		os.RemoveAll(runDir)
		return nil, fmt.Errorf("function %s: %w", fn.Key(), err)
	}
	if uid != 0 {
		// The run dir is the function user's alone (0700).
		for _, p := range []string{runDir, filepath.Join(runDir, "tmp")} {
			if err := os.Chown(p, uid, uid); err != nil {
				os.RemoveAll(runDir)
				return nil, fmt.Errorf("function %s: run dir: %w", fn.Key(), err)
			}
		}
	}
	var port int
	if isLambda(fn) {
		if in.api, err = newRuntimeAPI(in.log, lambdaARN(ref, fn), t.seedbedRoutes(ref)); err != nil {
			os.RemoveAll(runDir)
			return nil, fmt.Errorf("function %s: %w", fn.Key(), err)
		}
		in.api.mask = in.out.mask
		in.api.reported = in.runtimeError
		log.Printf("starting %s (%s) with the Lambda Runtime API on %s", fn.Key(), shortDigest(fn.Digest), in.api.addr)
	} else {
		if port, err = t.pickPort(); err != nil {
			os.RemoveAll(runDir)
			return nil, fmt.Errorf("function %s: %w", fn.Key(), err)
		}
		if t.cfg.QueueSender != nil {
			if in.sapi, err = newInstanceAPI(in.log, t.seedbedRoutes(ref)); err != nil {
				os.RemoveAll(runDir)
				return nil, fmt.Errorf("function %s: %w", fn.Key(), err)
			}
		}
		log.Printf("starting %s (%s) on port %d", fn.Key(), shortDigest(fn.Digest), port)
	}
	if t.cgroups != nil {
		if in.cg, err = t.cgroups.create(cgroupName(runDir), fn.Memory); err != nil {
			if in.api != nil {
				in.api.close()
			}
			in.sapi.close()
			os.RemoveAll(runDir)
			return nil, fmt.Errorf("function %s: cgroup: %w", fn.Key(), err)
		}
	}
	began := time.Now()
	in.phases.prepare = began.Sub(prepared)
	p, err := in.spawn(port, hold)
	for attempt := 1; err != nil && in.api == nil && attempt < 3 && !portFree(port); attempt++ {
		// pasta could not bind the port a sandboxed function was given:
		// another process took it after pickPort. A fresh one, as
		// Target.ready does for an unconfined function.
		log.Printf("%v; starting it again on another port", &portTakenError{fn: fn.Key(), port: port})
		if port, err = t.pickPort(); err == nil {
			p, err = in.spawn(port, hold)
		}
	}
	if err != nil {
		if in.api != nil {
			in.api.close()
		}
		in.sapi.close()
		if in.cg != nil {
			_ = in.cg.remove()
		}
		os.RemoveAll(runDir)
		return nil, fmt.Errorf("function %s: %w", fn.Key(), err)
	}
	in.cur = p
	in.phases.spawn = time.Since(began)
	return in, nil
}

// masker hides fn's secrets and its stage's queue send token in what is
// kept of its output (a function that prints its environment must not
// hand the token to the app's viewers).
func (t *Target) masker(ref targets.StageRef, fn targets.Function) *strings.Replacer {
	env, secrets := maps.Clone(fn.Env), slices.Clone(fn.Secrets)
	if env == nil {
		env = map[string]string{}
	}
	if t.cfg.QueueTokens != nil {
		env[gateway.QueueTokenEnv] = t.cfg.QueueTokens.QueueToken(ref)
		secrets = append(secrets, gateway.QueueTokenEnv)
	}
	if t.cfg.SQS != nil {
		_, env[SQSSecretEnv] = t.cfg.SQS.SQSCredentials(ref)
		secrets = append(secrets, SQSSecretEnv)
	}
	return envMasker(env, secrets)
}

// stopAll stops pools in parallel, draining each for up to drain.
func (t *Target) stopAll(ctx context.Context, instances []*pool, drain time.Duration, log targets.Logger) {
	var wg sync.WaitGroup
	for _, in := range instances {
		wg.Go(func() {
			abandoned := in.stop(ctx, drain)
			if log == nil {
				return
			}
			if abandoned > 0 {
				log.Printf("stopped %s (%d requests were still running after %s)", in.fn.Key(), abandoned, drain)
			} else {
				log.Printf("stopped %s", in.fn.Key())
			}
		})
	}
	wg.Wait()
}

// Remove stops every function of the stage after its requests in flight
// finished; its routes answer 404 at once.
func (t *Target) Remove(ctx context.Context, ref targets.StageRef) error {
	st, err := t.stage(ref, false)
	if err != nil {
		return err
	}
	if st == nil {
		return nil
	}
	st.applyMu.Lock()
	defer st.applyMu.Unlock()
	if err := t.swap(st, nil, nil); err != nil {
		return err
	}
	old := make([]*pool, 0, len(st.instances))
	for _, p := range st.instances {
		old = append(old, p)
	}
	st.instances = map[string]*pool{}
	ctx, cancel := t.withLife(ctx)
	defer cancel()
	t.stopAll(ctx, old, t.timing.drain, nil)
	return nil
}

// Running returns the functions the stage serves now, sorted by Key.
func (t *Target) Running(ref targets.StageRef) []targets.Function {
	table := t.Table(ref)
	if table == nil {
		return nil
	}
	return table.Functions()
}

// Close stops every function of every stage: SIGTERM to each process group,
// SIGKILL after a grace period, or at once when ctx is done. Applies in
// progress fail with ErrClosed. Requests in flight are not waited for: shut
// the gateway's server down first.
func (t *Target) Close(ctx context.Context) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	stages := make([]*stageState, 0, len(t.stages))
	for _, st := range t.stages {
		stages = append(stages, st)
	}
	t.mu.Unlock()
	t.stopLife()

	var wg sync.WaitGroup
	for _, st := range stages {
		wg.Go(func() {
			st.applyMu.Lock()
			defer st.applyMu.Unlock()
			st.table.Store(nil)
			st.live.Store(nil)
			old := make([]*pool, 0, len(st.instances))
			for _, p := range st.instances {
				old = append(old, p)
			}
			st.instances = map[string]*pool{}
			t.stopAll(ctx, old, 0, nil)
		})
	}
	wg.Wait()
	if t.cgroups != nil {
		t.cgroups.close()
	}
	t.transport.CloseIdleConnections()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("close local target: processes killed without grace: %w", err)
	}
	return nil
}

// pids returns the process id of an instance of each of the stage's
// live functions, by key.
func (t *Target) pids(ref targets.StageRef) map[string]int {
	st, _ := t.stage(ref, false)
	if st == nil {
		return nil
	}
	st.applyMu.Lock()
	defer st.applyMu.Unlock()
	pids := map[string]int{}
	for key, p := range st.instances {
		in := p.first()
		if in == nil {
			continue
		}
		in.mu.Lock()
		if in.cur != nil && in.cur.cmd != nil {
			pids[key] = in.cur.cmd.Process.Pid
		}
		in.mu.Unlock()
	}
	return pids
}

// unpack returns the directory holding the artifact's files, unpacking it
// on first use. Unpacking goes to a temporary directory renamed into place,
// so a half-written artifact is never used.
//
// For a sandboxed function (uid above 0) the artifact is unpacked for its
// app alone, as <hex>-u<uid>, owned by root and the app's group, readable
// by that group and closed to others: two apps that deploy the same
// artifact do not share its files.
func (t *Target) unpack(ctx context.Context, digest string, uid int) (string, error) {
	hex, err := artifactHex(digest)
	if err != nil {
		return "", err
	}
	name := hex
	if uid != 0 {
		name = hex + "-u" + strconv.Itoa(uid)
	}
	final := filepath.Join(t.cfg.Dir, "artifacts", name)
	t.unpackMu.Lock()
	mu := t.unpacks[name]
	if mu == nil {
		mu = &sync.Mutex{}
		t.unpacks[name] = mu
	}
	t.unpackMu.Unlock()
	mu.Lock()
	defer mu.Unlock()

	if reuseUnpacked(final) { // refreshes its time for PruneUnpacked
		return final, nil
	}
	tmp, err := os.MkdirTemp(filepath.Join(t.cfg.Dir, "artifacts"), ".unpack-"+hex[:min(len(hex), 12)]+"-")
	if err != nil {
		return "", fmt.Errorf("unpack artifact %s: %w", shortDigest(digest), err)
	}
	if err := t.cfg.Artifacts.Extract(ctx, digest, tmp); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("unpack artifact %s: %w", shortDigest(digest), err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("unpack artifact %s: %w", shortDigest(digest), err)
	}
	if uid != 0 {
		if err := shareWithGroup(tmp, uid); err != nil {
			os.RemoveAll(tmp)
			return "", fmt.Errorf("unpack artifact %s: %w", shortDigest(digest), err)
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		os.RemoveAll(tmp)
		if fi, statErr := os.Stat(final); statErr == nil && fi.IsDir() {
			return final, nil // unpacked by someone else meanwhile
		}
		return "", fmt.Errorf("unpack artifact %s: %w", shortDigest(digest), err)
	}
	return final, nil
}

// artifactHex returns the hex part of "sha256:<hex>", refusing anything
// that could escape the artifacts directory.
func artifactHex(digest string) (string, error) {
	hex, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || hex == "" || strings.Trim(hex, "0123456789abcdef") != "" {
		return "", fmt.Errorf("artifact digest %q is not of the form sha256:<hex>", digest)
	}
	return hex, nil
}

// shortDigest renders a digest the way logs show it: "sha256:abcd123".
func shortDigest(digest string) string {
	if hex, ok := strings.CutPrefix(digest, "sha256:"); ok && len(hex) > 7 {
		return "sha256:" + hex[:7]
	}
	return digest
}

// safeName keeps a name usable as a single path element.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
