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
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/seedbed/seedbed/assets"
	"github.com/seedbed/seedbed/builders"
	"github.com/seedbed/seedbed/builders/artifact"
	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/pipelines/queue"
	"github.com/seedbed/seedbed/pipelines/target/local"
	"github.com/seedbed/seedbed/store"
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
	// inspector interrupts running jobs when a user cancels them.
	inspector *asynq.Inspector
	worker    *asynq.Server
	target    *local.Target
	svc       *pipelines.Service
	// stopPoll stops the poller that finds pushes to repositories that
	// send no webhooks; pollDone closes when it has stopped.
	stopPoll context.CancelFunc
	pollDone chan struct{}
	// gc removes what retention does not keep, every cfg.GCInterval;
	// stopGC stops it, gcDone closes when it has stopped.
	gc     *pipelines.Collector
	stopGC context.CancelFunc
	gcDone chan struct{}

	console, gateway         *http.Server
	consoleLn, gatewayLn     net.Listener
	consoleURL, functionsURL string
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
	if err := prepareDataDir(cfg.DataDir, buildUser.Switch, log); err != nil {
		return nil, err
	}
	a.store, err = store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	accounts := auth.New(a.store, 0)
	if err := ensureAdmin(ctx, accounts, cfg, log); err != nil {
		return nil, err
	}

	redisURL := cfg.RedisURL
	if redisURL == "" {
		a.embed, err = queue.StartEmbedded(ctx, queue.EmbeddedOptions{})
		if err != nil {
			return nil, fmt.Errorf("start the in-process queue server: %w", err)
		}
		redisURL = a.embed.RedisURL()
	}
	redisOpt, err := queue.RedisOpt(redisURL)
	if err != nil {
		return nil, err
	}
	a.client = asynq.NewClient(redisOpt)

	arts, err := artifact.New(filepath.Join(cfg.DataDir, "artifacts"))
	if err != nil {
		return nil, err
	}
	workDir := filepath.Join(cfg.DataDir, "work")
	builder := builders.New(builders.Config{Artifacts: arts, CacheDir: filepath.Join(cfg.DataDir, "cache"), Env: cfg.BuildEnv, User: buildUser})
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
		builder = builders.New(builders.Config{Artifacts: arts, CacheDir: filepath.Join(cfg.DataDir, "cache"), Env: cfg.BuildEnv, User: buildUser})
	}
	log.Info(buildUser.Describe())
	if cfg.Deploys {
		a.target, err = local.New(local.Config{Dir: filepath.Join(cfg.DataDir, "run"), Artifacts: arts, Logger: log.With("part", "target"), Domain: cfg.Domain,
			MemoryLimits: local.MemoryLimits(cfg.MemoryLimits)})
		if errors.Is(err, local.ErrNoCgroup) {
			return nil, fmt.Errorf("%w; SEEDBED_MEMORY_LIMITS is cgroup: set it to auto or soft to run functions with soft memory limits", err)
		}
		if err != nil {
			return nil, err
		}
	}
	sealer, err := loadSealer(cfg)
	if err != nil {
		return nil, err
	}
	a.inspector = asynq.NewInspector(redisOpt)
	// The console listens before the pipelines are made: commit statuses
	// link to its pages.
	a.consoleURL = cfg.PublicURL
	if cfg.Deploys {
		a.consoleLn, err = net.Listen("tcp", cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("listen on %s for the console: %w", cfg.Addr, err)
		}
		if a.consoleURL == "" {
			a.consoleURL = urlOf(a.consoleLn.Addr().String())
		}
	}
	svcCfg := pipelines.Config{Store: a.store, Queue: a.client, Builder: builder, Artifacts: arts, Sealer: sealer, Canceller: a.inspector,
		GitReposDir: filepath.Join(cfg.DataDir, "git"), WorkDir: workDir,
		NodeID: cfg.NodeID, Logger: log.With("part", "pipelines"), BuildTimeout: cfg.BuildTimeout, PublicURL: a.consoleURL}
	if a.target != nil {
		svcCfg.Target = a.target
	}
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
	}
	if len(queues) == 0 {
		return nil, errors.New("this process would run neither builds nor deploys: a worker always builds; serve with --builds=false still deploys")
	}
	a.worker = asynq.NewServer(redisOpt, queue.ServerConfig(asynq.Config{
		Concurrency:     cfg.Workers,
		Queues:          queues,
		ShutdownTimeout: 10 * time.Second,
		Logger:          asynqLogger{log.With("part", "queue")},
		LogLevel:        asynq.WarnLevel,
	}))

	if cfg.Deploys {
		a.gatewayLn, err = net.Listen("tcp", cfg.GatewayAddr)
		if err != nil {
			return nil, fmt.Errorf("listen on %s for the gateway: %w", cfg.GatewayAddr, err)
		}
		a.functionsURL = cfg.GatewayURL
		if a.functionsURL == "" {
			a.functionsURL = urlOf(a.gatewayLn.Addr().String())
		}
		srv, err := web.New(web.Config{Store: a.store, Deliveries: a.store, Pipelines: a.svc, GitReposDir: filepath.Join(cfg.DataDir, "git"), GitHookCommand: cfg.GitHookCommand, Accounts: accounts, Assets: assets.FS(),
			GatewayURL: a.functionsURL, PublicURL: a.consoleURL, SecureCookies: cfg.SecureCookies, Logger: log.With("part", "web")})
		if err != nil {
			return nil, err
		}
		a.console = &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
		a.gateway = &http.Server{Handler: a.target.Gateway(), ReadHeaderTimeout: 10 * time.Second}
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
	if err := a.svc.Recover(ctx); err != nil {
		return err
	}
	mux := asynq.NewServeMux()
	a.svc.Register(mux, a.cfg.Deploys)
	if err := a.worker.Start(mux); err != nil {
		return fmt.Errorf("start workers: %w", err)
	}
	if a.console != nil {
		go a.serve(a.console, a.consoleLn, "console")
		go a.serve(a.gateway, a.gatewayLn, "gateway")
	}
	if a.cfg.Deploys { // only serve polls: one poller per Seedbed
		pollCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
		a.stopPoll, a.pollDone = stop, make(chan struct{})
		go func() {
			defer close(a.pollDone)
			a.svc.NewPoller(time.Second).Run(pollCtx)
		}()
	}
	if a.gc != nil {
		gcCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
		a.stopGC, a.gcDone = stop, make(chan struct{})
		go func() {
			defer close(a.gcDone)
			a.gc.Loop(gcCtx, a.cfg.GCInterval)
		}()
	}
	return nil
}

func (a *App) serve(srv *http.Server, ln net.Listener, name string) {
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
	if a.stopPoll != nil {
		a.stopPoll()
		<-a.pollDone
	}
	if a.stopGC != nil {
		a.stopGC()
		<-a.gcDone
	}
	if a.console != nil {
		_ = a.console.Shutdown(ctx)
		_ = a.gateway.Shutdown(ctx)
	} else {
		for _, ln := range []net.Listener{a.consoleLn, a.gatewayLn} {
			if ln != nil {
				ln.Close()
			}
		}
	}
	if a.worker != nil {
		a.worker.Shutdown()
	}
	if a.target != nil {
		if err := a.target.Close(ctx); err != nil {
			a.log.Error("stop functions", "err", err)
		}
	}
	if a.client != nil {
		a.client.Close()
	}
	if a.inspector != nil {
		a.inspector.Close()
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

// loadSealer reads the key that encrypts stage secrets: SEEDBED_SECRET_KEY
// (64 hex characters) or the file secret.key in the data dir, made on first
// start. Every process of one Seedbed must use the same key.
func loadSealer(cfg Config) (*pipelines.Sealer, error) {
	if cfg.SecretKey != "" {
		key, err := hex.DecodeString(cfg.SecretKey)
		if err != nil || len(key) != 32 {
			return nil, errors.New("SEEDBED_SECRET_KEY must be 64 hex characters (32 bytes); make one with: openssl rand -hex 32")
		}
		return pipelines.NewSealer(key)
	}
	path := filepath.Join(cfg.DataDir, "secret.key")
	if err := writeNewKey(path); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read secret key %s: %w", path, err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("secret key %s is damaged: it must hold 64 hex characters", path)
	}
	return pipelines.NewSealer(key)
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
