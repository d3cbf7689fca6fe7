package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/seedbed/seedbed/alerts"
	"github.com/seedbed/seedbed/assets"
	"github.com/seedbed/seedbed/builders"
	"github.com/seedbed/seedbed/builders/artifact"
	"github.com/seedbed/seedbed/domains"
	"github.com/seedbed/seedbed/events"
	"github.com/seedbed/seedbed/fnlog"
	"github.com/seedbed/seedbed/gateway"
	"github.com/seedbed/seedbed/handoff"
	"github.com/seedbed/seedbed/keepalive"
	"github.com/seedbed/seedbed/metrics"
	"github.com/seedbed/seedbed/netguard"
	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/pipelines/queue"
	"github.com/seedbed/seedbed/sandbox"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets/dispatch"
	"github.com/seedbed/seedbed/targets/local"
	"github.com/seedbed/seedbed/targets/runner"
	"github.com/seedbed/seedbed/web"
	"github.com/seedbed/seedbed/web/auth"
)

// App is a running Seedbed server process, wired by hand from its parts.
// Tests boot it on port 0 with a temporary data dir.
type App struct {
	cfg    Config
	log    *slog.Logger
	store  *store.Store
	embed  *queue.Embedded
	client *asynq.Client
	// pinger asks the queue's server whether it answers, for /healthz.
	pinger *queue.Pinger
	// inspector interrupts running jobs when a user cancels them.
	inspector *asynq.Inspector
	target    *local.Target
	// fnlogs keeps what the functions of this process print; nil
	// without deploys.
	fnlogs    *fnlog.Store
	stages    *dispatch.Target // the target of each stage: local or kubernetes
	runnerArt *runner.Signer   // grants pods of the kubernetes target their artifacts
	isolation IsolationStatus
	svc       *pipelines.Service
	builder   *builders.Builder
	// runnerLogs takes the function logs pods of the kubernetes target
	// ship (runnerlogs.go); nil when this process keeps none.
	runnerLogs http.Handler
	// loops are the goroutines that run beside the servers: the poller,
	// the reconciler, the collector, the alert evaluator, the Go cache's
	// warming, the schedules and queues (startLoops).
	loops loops
	// gc removes what retention does not keep, every cfg.GCInterval.
	gc *pipelines.Collector
	// worker runs the jobs of the queue; workerCfg and redisOpt make it
	// again after a handoff that failed (startWork).
	worker    *asynq.Server
	workerCfg asynq.Config
	redisOpt  asynq.RedisConnOpt
	// alerts records and sends notifications; its evaluator runs in serve.
	alerts *alerts.Service
	// events runs schedules and async invocations (processes that serve
	// functions only).
	events *events.Service

	console                  *http.Server
	gateway                  httpServer
	drain                    drain // after a handoff: tells the servers' clients to go
	consoleLn, gatewayLn     net.Listener
	consoleURL, functionsURL string
	// metrics counts the gateway's requests and failures and writes them
	// in the background (stopMetrics, metricsDone); metricsSrv serves
	// /metrics on --metrics-addr (see metrics.go).
	metrics     *metrics.Collector
	stopMetrics context.CancelFunc
	metricsDone chan struct{}
	metricsSrv  *http.Server
	metricsLn   net.Listener
	metricsURL  string

	// HTTPS for custom domains and the console's domain (https.go); nil
	// without --https-addr.
	https   *http.Server
	httpsLn net.Listener
	domains *domains.Manager
}

// NewApp opens the database, the queue and the target and wires them
// together; Start makes it serve.
func NewApp(ctx context.Context, cfg Config, log *slog.Logger) (_ *App, err error) {
	a := &App{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			a.Close(context.WithoutCancel(ctx))
		}
	}()
	// Builds and deploy hooks run user code: as an unprivileged user when
	// Seedbed is root, kept out of the data dir but for cache/ and work/.
	userSetting := cfg.BuildUser
	if userSetting == "" {
		userSetting = builders.UserNone
	}
	buildUser, err := builders.ResolveUser(userSetting)
	if err != nil {
		return nil, err
	}
	// Functions run sandboxed, as users of their apps, where bubblewrap
	// works (see isolation.go); those users pass through the data dir.
	runner, isolation, err := setupIsolation(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	if err := prepareDataDir(cfg.DataDir, buildUser.Switch || runner != nil, runner != nil, log); err != nil {
		return nil, err
	}
	if runner != nil {
		if ok, err := checkDataDirReachable(cfg, &isolation); err != nil {
			return nil, err
		} else if !ok {
			runner = nil
		}
	}
	a.isolation = isolation
	if cfg.Deploys {
		logIsolation(log, isolation)
	}
	a.store, err = store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	accounts := auth.New(a.store, 0)
	if err := ensureAdmin(ctx, accounts, cfg, log); err != nil {
		return nil, err
	}

	var redisOpt asynq.RedisConnOpt
	if cfg.RedisURL == "" {
		// In-process and listening nowhere: builds and functions on this
		// machine have no port or socket to reach the queue through.
		a.embed, err = queue.StartEmbedded(ctx, queue.EmbeddedOptions{})
		if err != nil {
			return nil, fmt.Errorf("start the in-process queue server: %w", err)
		}
		redisOpt = a.embed.ConnOpt()
	} else {
		redisOpt, err = queue.RedisOpt(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("--redis-url (SEEDBED_REDIS_URL): %w", err)
		}
	}
	if err := checkQueue(ctx, redisOpt, cfg.RedisURL); err != nil {
		return nil, err
	}
	a.pinger, err = queue.NewPinger(redisOpt)
	if err != nil {
		return nil, err
	}
	a.client = asynq.NewClient(redisOpt)

	var arts artifact.Storage // the data dir's folder, or --artifact-store's bucket
	arts, err = openArtifacts(ctx, cfg)
	if err != nil {
		return nil, err
	}
	caches, err := openBuildCaches(cfg, arts)
	if err != nil {
		return nil, err
	}
	workDir := filepath.Join(cfg.DataDir, "work")
	builderCfg := builders.Config{Artifacts: arts, CacheDir: filepath.Join(cfg.DataDir, "cache"), WorkDir: workDir, Env: cfg.BuildEnv, User: buildUser,
		Isolation: sandbox.Isolation(cfg.Isolation), Hide: []string{cfg.DataDir}, SharedCaches: caches}
	builder := builders.New(builderCfg)
	if err := builder.Check(ctx, workDir); err != nil {
		// auto means "where the machine allows it": say why not, and build
		// as Seedbed's own user rather than refuse to start (make run as
		// root from a checkout under /root must still work).
		if userSetting != builders.UserAuto {
			return nil, err
		}
		log.Warn("builds cannot run as an unprivileged user here; they run as Seedbed's own user", "reason", err)
		own, ownErr := builders.ResolveUser(builders.UserNone)
		if ownErr != nil {
			return nil, ownErr
		}
		own.Why = "the unprivileged user could not be used (" + err.Error() + ")"
		buildUser = own
		builderCfg.User = own
		builder = builders.New(builderCfg)
		if err := builder.Check(ctx, workDir); err != nil {
			return nil, err
		}
	}
	log.Info(buildUser.Describe())
	if boxed, why := builder.Sandboxed(ctx); !boxed {
		say := log.Warn // auto without a working sandbox: loudly
		if cfg.Isolation == "" || cfg.Isolation == string(sandbox.IsolationNone) {
			say = log.Info // asked for
		}
		say("builds and hooks are NOT sandboxed: they see every process and every file their user may read, and a process they start with setsid outlives them", "reason", why)
	}
	// Workspaces a killed Seedbed left behind (other processes' are kept).
	stale, err := builder.RemoveStale()
	for _, d := range stale {
		log.Info("removed a stale build workspace", "dir", d)
	}
	if err != nil {
		log.Warn("could not remove every stale build workspace", "err", err)
	}
	a.builder = builder
	// The sealer comes before the target: the queue send tokens functions
	// get in their environment are derived from its key.
	sealer, pendingRotation, err := loadSealer(cfg)
	if err != nil {
		return nil, err
	}
	if pendingRotation {
		log.Warn("a secret key rotation was interrupted; values sealed under either key open meanwhile. Stop Seedbed and run `seedbed secrets rotate-key` again to finish it", "file", filepath.Join(cfg.DataDir, newKeyFile))
	}
	if n, err := pipelines.SealStoredInClear(ctx, a.store, sealer); err != nil {
		return nil, err
	} else if n > 0 {
		log.Info("sealed deploy keys and webhook secrets that were stored in clear", "count", n)
	}
	queueTokens, err := events.NewSendTokens(sealer.DerivedKeys(events.QueueTokenPurpose))
	if err != nil {
		return nil, err
	}
	crashes := alerts.NewCrashCounter(nil)
	if cfg.Deploys {
		if a.fnlogs, err = openFunctionLogs(cfg, log.With("part", "fnlogs")); err != nil {
			return nil, err
		}
		a.metrics = newMetrics(cfg, a.store, log) // nil with --metrics=false
		a.target, err = local.New(local.Config{Dir: filepath.Join(cfg.DataDir, "run"), Artifacts: arts, Logger: log.With("part", "target"),
			MemoryLimits: local.MemoryLimits(cfg.MemoryLimits), Sandbox: runner, Crashes: crashes, Logs: a.fnlogs, Failures: a.failureRecorder(),
			QueueTokens: queueTokens, QueueSender: lateQueueSender{a}, SQS: queueTokens,
			MemoryBudget: cfg.InstanceMemoryBudget, Scaling: a.scaleObserver(), TakeOver: cfg.Inherited != nil})
		if errors.Is(err, local.ErrNoCgroup) {
			return nil, fmt.Errorf("%w; SEEDBED_MEMORY_LIMITS is cgroup: set it to auto or soft to run functions with soft memory limits", err)
		}
		if err != nil {
			return nil, err
		}
		if a.metrics != nil {
			a.metrics.SampleInstances(a.target)
		}
	}
	a.inspector = asynq.NewInspector(redisOpt)
	// The console listens before the pipelines are made: commit statuses
	// link to its pages.
	a.consoleURL = cfg.PublicURL
	if cfg.Deploys {
		a.consoleLn, err = a.listen("console", cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("listen on %s for the console: %w", cfg.Addr, err)
		}
		if cfg.HTTPS.Addr != "" {
			if a.httpsLn, err = a.listen("https", cfg.HTTPS.Addr); err != nil {
				return nil, fmt.Errorf("listen on %s for HTTPS: %w", cfg.HTTPS.Addr, err)
			}
			if a.consoleURL == "" && cfg.HTTPS.ConsoleDomain != "" {
				a.consoleURL = httpsURL(cfg.HTTPS.ConsoleDomain, a.httpsLn)
			}
		}
		if a.consoleURL == "" {
			a.consoleURL = urlOf(a.consoleLn.Addr().String())
		}
	}
	if a.target != nil {
		artsURL := cfg.RunnerArtifactsURL
		if artsURL == "" {
			artsURL = strings.TrimSuffix(a.consoleURL, "/") + runnerArtifactsPath
		}
		chooser, signer, err := newStageTargets(cfg.DataDir, artsURL, cfg.RunnerImage, cfg.Domain, a.store, a.target, log.With("part", "targets"))
		if err != nil {
			return nil, err
		}
		chooser.queueToken = queueTokens.QueueToken
		a.stages, a.runnerArt = dispatch.New(chooser.resolve).WithMemory(chooser), signer
		if a.runnerLogs, err = chooser.shipLogs(sealer, runnerLogsURL(artsURL, a.consoleURL), a.fnlogs, a.store, a.stages); err != nil {
			return nil, err
		}
	}
	svcCfg := pipelines.Config{Store: a.store, Queue: a.client, Builder: builder, Artifacts: arts, Sealer: sealer, Canceller: a.inspector,
		GitReposDir: filepath.Join(cfg.DataDir, "git"), NodeID: cfg.NodeID, Logger: log.With("part", "pipelines"), BuildTimeout: cfg.BuildTimeout, PublicURL: a.consoleURL}
	if a.target != nil {
		svcCfg.Target = a.stages
	}
	svcCfg.Network = netguard.Policy{AllowPrivate: cfg.AllowPrivateRepos}
	// Channel URLs are held to the same network policy as repositories.
	a.alerts = alerts.New(alerts.Config{Store: a.store, Queue: a.client, Sealer: sealer, PublicURL: a.consoleURL, Network: svcCfg.Network,
		Resolver: cfg.RepoResolver, SMTP: cfg.SMTP, Crashes: crashes, Metrics: a.metricsSource(), Backoff: cfg.AlertBackoff, NodeID: cfg.NodeID, Logger: log.With("part", "alerts")})
	svcCfg.Notifier = a.alerts
	a.svc = pipelines.New(svcCfg)
	if cfg.Deploys && cfg.GCInterval > 0 {
		if a.gc, err = newCollector(cfg, a.store, arts, a.target.RunningDigests, log.With("part", "gc")); err != nil {
			return nil, err
		}
	}

	queues := map[string]int{}
	if cfg.Builds {
		queues[pipelines.QueueBuilds] = 1
	}
	if cfg.Deploys {
		queues[pipelines.QueueDeploys] = 2
		queues[alerts.Queue] = 1
		queues[events.QueueEvents] = 2
		a.events = events.New(events.Config{Store: a.store, Stages: a.svc, Queue: a.client, Tasks: a.inspector, Queues: a.inspector, Invoker: a.target,
			Logger: log.With("part", "events")})
	}
	if len(queues) == 0 {
		return nil, errors.New("this process would run neither builds nor deploys: a worker always builds; serve with --builds=false still deploys")
	}
	a.redisOpt = redisOpt
	a.workerCfg = queue.ServerConfig(asynq.Config{
		Concurrency:     cfg.Workers,
		Queues:          queues,
		ShutdownTimeout: 10 * time.Second,
		Logger:          asynqLogger{log.With("part", "queue")},
		LogLevel:        asynq.WarnLevel,
		RetryDelayFunc:  a.alerts.RetryDelay(events.RetryDelayFunc(queue.RetryDelay)),
		// Queue messages kept in asynq groups before migration 0025 are
		// handed over in batches and recorded in the database.
		GroupAggregator:  events.Aggregator,
		GroupMaxSize:     10,
		GroupGracePeriod: time.Second,
		GroupMaxDelay:    2 * time.Second,
	})

	if cfg.Deploys {
		a.gatewayLn, err = a.listen("gateway", cfg.GatewayAddr)
		if err != nil {
			return nil, fmt.Errorf("listen on %s for the gateway: %w", cfg.GatewayAddr, err)
		}
		a.functionsURL = cfg.GatewayURL
		if a.functionsURL == "" {
			a.functionsURL = urlOf(a.gatewayLn.Addr().String())
		}
		gw := gateway.New(gateway.Config{Domain: cfg.Domain, TrustedProxies: cfg.TrustedProxies, Observer: a.observer(), Async: a.events, Queues: a.events, QueueTokens: queueTokens, SQS: queueTokens}, a.stages)
		if a.httpsLn != nil {
			if a.domains, err = a.newDomains(cfg, sealer, certificateObjects(arts), log); err != nil {
				return nil, err
			}
			gw = gateway.New(gateway.Config{Domain: cfg.Domain, TrustedProxies: cfg.TrustedProxies, Domains: a.domains, Observer: a.observer(), Async: a.events, Queues: a.events, QueueTokens: queueTokens, SQS: queueTokens}, a.stages)
		}
		webCfg := web.Config{Store: a.store, Deliveries: a.store, Pipelines: a.svc, GitReposDir: filepath.Join(cfg.DataDir, "git"), GitHookCommand: cfg.GitHookCommand, Accounts: accounts, Assets: assets.FS(),
			GatewayURL: a.functionsURL, PublicURL: a.consoleURL, SecureCookies: cfg.SecureCookies, Logger: log.With("part", "web"),
			RepoRules: netguard.RepoRules{Policy: svcCfg.Network, DataDir: cfg.DataDir, Resolver: cfg.RepoResolver},
			Queue:     a.pinger, TrustedProxies: cfg.TrustedProxies,
			SecurityWarning: a.isolation.Warning, Alerts: a.alerts, FunctionLogs: a.fnlogs, Metrics: a.metricsReader(), Observations: a.store, Events: a.events, Queues: a.events,
			QueueTokens: queueTokens}
		if a.domains != nil {
			webCfg.Domains = a.domains
		}
		if a.stages != nil { // the stage maps compare what runs with the release
			webCfg.Running = a.stages
			webCfg.Drift = a.stages
			webCfg.Instances = a.target
		}
		srv, err := web.New(webCfg)
		if err != nil {
			return nil, err
		}
		a.console = newHTTPServer(a.drain.handler(withRunnerLogs(withRunnerArtifacts(srv, a.runnerArt, arts), a.runnerLogs)), defaultTimeouts, isGitRequest)
		a.console.RegisterOnShutdown(srv.EndStreams) // or Close waits for them, and functions lose their grace
		var gwHandler http.Handler = gw
		if a.domains != nil {
			gwHandler = a.domains.HTTPHandler(gw)
			a.https = newHTTPServer(a.drain.handler(a.domains.HTTPSHandler(srv, gw)), defaultTimeouts, httpsLong(cfg.HTTPS.ConsoleDomain))
			a.https.TLSConfig = a.domains.TLSConfig()
			a.https.RegisterOnShutdown(srv.EndStreams)
		}
		gwHandler = a.drain.handler(gwHandler)
		a.gateway = newHTTPServer(gwHandler, defaultTimeouts, always)
		if cfg.GatewayLoop {
			a.gateway = keepalive.New(newHTTPServer(gwHandler, defaultTimeouts, always))
		}
	}
	if a.metrics != nil {
		if err := a.listenMetrics(); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Start brings back what the stages served, queues unfinished work again,
// and starts the workers and HTTP servers. It returns once they run.
func (a *App) Start(ctx context.Context) error {
	if a.cfg.Deploys {
		if err := a.svc.Restore(ctx); err != nil {
			// One broken stage must not keep the rest down; it is logged.
			a.log.Error("some stages could not be restored", "err", err)
		}
	}
	if err := a.startWork(ctx); err != nil {
		return err
	}
	if a.console != nil {
		go a.serve(a.console, a.consoleLn, "console")
		go a.serve(a.gateway, a.gatewayLn, "gateway")
	}
	if err := a.startDomains(ctx); err != nil {
		return err
	}
	a.startMetrics(ctx)
	a.startLoops(ctx)
	return nil
}

// startWork queues again every unfinished build, deploy and notification
// and starts the workers that run them.
func (a *App) startWork(ctx context.Context) error {
	if err := a.svc.Recover(ctx); err != nil {
		return err
	}
	mux := asynq.NewServeMux()
	a.svc.Register(mux, a.cfg.Deploys)
	if a.cfg.Deploys { // serve sends notifications (the alerts queue)
		a.alerts.Register(mux)
		if err := a.alerts.Recover(ctx); err != nil {
			return err
		}
	}
	if a.events != nil {
		a.events.Register(mux)
	}
	a.worker = asynq.NewServer(a.redisOpt, a.workerCfg)
	if err := a.worker.Start(mux); err != nil {
		return fmt.Errorf("start workers: %w", err)
	}
	return nil
}

// stopWork stops the workers; jobs that do not end within the queue's
// shutdown timeout go back to the queue.
func (a *App) stopWork() {
	if a.worker != nil {
		a.worker.Shutdown()
		a.worker = nil
	}
}

// startLoops starts what runs beside the servers.
func (a *App) startLoops(ctx context.Context) {
	if a.cfg.Deploys {
		// Only serve polls: one poller per Seedbed.
		a.loops.run(ctx, a.svc.NewPoller(time.Second).Run)
		// Only serve reconciles too: one is enough, though more would do
		// no harm (a job's task id is its record's, so it is queued once).
		a.loops.run(ctx, a.svc.NewReconciler(a.inspector, pipelines.ReconcilerOptions{Interval: a.cfg.ReconcileInterval}).Run)
		// Crash counts live where functions run: serve evaluates.
		a.loops.run(ctx, a.alerts.NewEvaluator(a.cfg.AlertInterval).Run)
	}
	if a.builder != nil && a.cfg.Builds && a.cfg.WarmGoCache {
		a.loops.run(ctx, func(ctx context.Context) {
			began := time.Now()
			if err := a.builder.WarmGoCache(ctx); err != nil && ctx.Err() == nil {
				a.log.Info("Go builds of new apps compile the standard library themselves", "reason", err)
				return
			}
			a.log.Debug("the Go standard-library cache is ready", "took", time.Since(began).Round(time.Millisecond))
		})
	}
	if a.events != nil {
		// Every serve process fires schedules; a tick is claimed once in
		// the database, so several on one database run it once.
		a.loops.run(ctx, a.events.NewScheduler(a.cfg.ScheduleTick).Run)
		a.loops.run(ctx, func(ctx context.Context) { a.events.RunRecovery(ctx, 30*time.Second) })
		a.loops.run(ctx, func(ctx context.Context) { a.events.RunQueues(ctx, time.Second) })
	}
	if a.gc != nil {
		a.loops.run(ctx, func(ctx context.Context) { a.gc.Loop(ctx, a.cfg.GCInterval) })
	}
}

// loops are goroutines that run until they are stopped.
type loops struct{ stops []func() }

// run runs fn in a goroutine of its own until stop, whatever becomes of
// ctx, whose values it keeps.
func (l *loops) run(ctx context.Context, fn func(context.Context)) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(ctx)
	}()
	l.stops = append(l.stops, func() { cancel(); <-done })
}

// stop stops every loop and waits until each has returned.
func (l *loops) stop() {
	for _, stop := range l.stops {
		stop()
	}
	l.stops = nil
}

// HandOver starts a new process of Seedbed (the binary at spec.Path, for an
// upgrade a new one) on this process's listening sockets and returns once
// it serves; the caller then closes this App, which finishes the requests
// it holds and stops its functions. Meanwhile this process keeps serving
// traffic, but its workers and loops stop first, so that the new process
// alone picks up the queue's jobs. When the new process fails, they start
// again here and the error says why.
func (a *App) HandOver(ctx context.Context, spec handoff.Spec) (*os.Process, error) {
	a.log.Info("handing over to a new process; builds and deploys in progress start over there", "binary", spec.Path)
	began := time.Now()
	a.loops.stop()
	a.stopWork()
	spec.Listeners = map[string]net.Listener{"console": a.consoleLn, "gateway": a.gatewayLn, "https": a.httpsLn, "metrics": a.metricsLn}
	p, err := handoff.Start(ctx, spec)
	if err != nil {
		if werr := a.startWork(ctx); werr != nil {
			return nil, fmt.Errorf("%w; and this process could not start its workers again: %w", err, werr)
		}
		a.startLoops(ctx)
		return nil, err
	}
	a.log.Info("handed over; finishing the requests in flight", "pid", p.Pid, "took", time.Since(began).Round(time.Millisecond))
	return p, nil
}

// Drain tells the clients of a process that handed over to go to the new
// one, and waits handoffDrain for them to, or until ctx ends; the servers
// go on serving meanwhile. Close shuts them down after it.
func (a *App) Drain(ctx context.Context) { a.drain.start(ctx) }

// queueCheck is how a process checks its queue before it starts: a few
// pings, each with a short timeout.
const (
	queueCheckAttempts = 3
	queueCheckTimeout  = 1500 * time.Millisecond
)

// checkQueue refuses to go on when the queue's server does not answer:
// serve would otherwise run, answer /healthz, and leave every build it
// records queued. rawURL is the URL it was given ("" for the in-process
// server); the message names it without its password.
func checkQueue(ctx context.Context, opt asynq.RedisConnOpt, rawURL string) error {
	err := queue.CheckReachable(ctx, opt, queueCheckAttempts, queueCheckTimeout)
	if err == nil {
		return nil
	}
	if rawURL == "" {
		return fmt.Errorf("the in-process queue server does not answer: %w", err)
	}
	where := "the Redis URL given"
	if u, perr := url.Parse(strings.TrimSpace(rawURL)); perr == nil {
		where = u.Redacted()
	}
	return fmt.Errorf("cannot reach the queue at %s (tried %d times): %w\n"+
		"Check that Redis runs there and accepts connections from this machine, and that --redis-url "+
		"(SEEDBED_REDIS_URL) names the right host, port, password and database. Seedbed does not start without its queue: "+
		"builds and deploys would stay queued.", where, queueCheckAttempts, err)
}

// listen listens on addr for the server called name, or takes over the
// socket of the process that handed over (see handoff), which listens on
// the address that process was given: a changed address takes a restart.
func (a *App) listen(name, addr string) (net.Listener, error) {
	if ln := a.cfg.Inherited.Listener(name); ln != nil {
		_, want, _ := net.SplitHostPort(addr)
		if _, got, _ := net.SplitHostPort(ln.Addr().String()); want != got && want != "0" {
			a.log.Warn("kept the address of the process that handed over; restart Seedbed to listen on a new one", "server", name, "address", ln.Addr().String(), "configured", addr)
		}
		return ln, nil
	}
	return net.Listen("tcp", addr)
}

// httpServer is what serve runs on a listener: an http.Server, or the
// gateway's keep-alive loop in front of one.
type httpServer interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
}

func (a *App) serve(srv httpServer, ln net.Listener, name string) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		a.log.Error("server stopped", "server", name, "err", err)
	}
}

// ConsoleURL is where the console and API answer.
func (a *App) ConsoleURL() string { return a.consoleURL }

// GatewayURL is where functions answer.
func (a *App) GatewayURL() string { return a.functionsURL }

// Close stops everything in the reverse order of starting.
func (a *App) Close(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	a.loops.stop()
	if a.https != nil {
		_ = a.https.Shutdown(ctx)
		_ = a.httpsLn.Close() // in case it never served
	}
	if a.domains != nil {
		a.domains.Close()
	}
	if a.console != nil {
		_ = a.console.Shutdown(ctx)
		_ = a.gateway.Shutdown(ctx)
		a.stopMetricsServer(ctx)
	} else {
		for _, ln := range []net.Listener{a.consoleLn, a.gatewayLn, a.httpsLn} {
			if ln != nil {
				ln.Close()
			}
		}
	}
	a.stopWork()
	a.closeMetrics()
	if a.target != nil {
		if err := a.target.Close(ctx); err != nil {
			a.log.Error("stop functions", "err", err)
		}
	}
	// After the target: its last lines (a function's goodbye) are stored
	// before the log is synced and closed.
	if a.fnlogs != nil {
		if err := a.fnlogs.Close(); err != nil {
			a.log.Error("close function logs", "err", err)
		}
	}
	if a.builder != nil {
		if err := a.builder.Close(); err != nil {
			a.log.Warn("remove build workspaces", "err", err)
		}
	}
	if a.client != nil {
		a.client.Close()
	}
	if a.inspector != nil {
		a.inspector.Close()
	}
	if a.pinger != nil {
		a.pinger.Close()
	}
	if a.embed != nil {
		a.embed.Close()
	}
	if a.store != nil {
		a.store.Close()
	}
}

func ensureAdmin(ctx context.Context, accounts *auth.Accounts, cfg Config, log *slog.Logger) error {
	if cfg.AdminEmail == "" && cfg.AdminPassword == "" {
		return nil
	}
	if cfg.AdminEmail == "" || cfg.AdminPassword == "" {
		return errors.New("set both SEEDBED_ADMIN_EMAIL and SEEDBED_ADMIN_PASSWORD, or neither")
	}
	n, err := accounts.CountUsers(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		return nil // only the first admin comes from the environment
	}
	if _, err := accounts.CreateUser(ctx, cfg.AdminEmail, cfg.AdminPassword, true, false); err != nil {
		return fmt.Errorf("create the first admin from SEEDBED_ADMIN_EMAIL: %w", err)
	}
	log.Info("created the first admin", "email", cfg.AdminEmail)
	return nil
}

// loadSealer reads the key that encrypts secrets: SEEDBED_SECRET_KEY
// (64 hex characters) or the file secret.key in the data dir, made on first
// start. Every process of one Seedbed must use the same key. pending says
// that an interrupted key rotation left a next key (see loadKeyRing).
func loadSealer(cfg Config) (_ *pipelines.Sealer, pending bool, _ error) {
	if cfg.SecretKey != "" {
		key, err := hex.DecodeString(cfg.SecretKey)
		if err != nil || len(key) != 32 {
			return nil, false, errors.New("SEEDBED_SECRET_KEY must be 64 hex characters (32 bytes); make one with: openssl rand -hex 32")
		}
		return loadKeyRing(cfg, key)
	}
	path := filepath.Join(cfg.DataDir, keyFile)
	if err := writeNewKey(path); err != nil {
		return nil, false, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, false, fmt.Errorf("read secret key %s: %w", path, err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != 32 {
		return nil, false, fmt.Errorf("secret key %s is damaged: it must hold 64 hex characters", path)
	}
	return loadKeyRing(cfg, key)
}

// writeNewKey makes a random key file at path unless one exists. O_EXCL
// keeps two processes starting at once from writing different keys.
func writeNewKey(path string) error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("make secret key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("write secret key %s: %w", path, err)
	}
	_, err = f.WriteString(hex.EncodeToString(key) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write secret key %s: %w", path, err)
	}
	return nil
}
