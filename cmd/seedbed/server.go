package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/seedbed/seedbed/handoff"
	"github.com/seedbed/seedbed/migrations"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web/auth"
)

// asynqLogger sends asynq's own messages to Seedbed's log.
type asynqLogger struct{ log *slog.Logger }

func (l asynqLogger) Debug(args ...any) { l.log.Debug(fmt.Sprint(args...)) }
func (l asynqLogger) Info(args ...any)  { l.log.Info(fmt.Sprint(args...)) }
func (l asynqLogger) Warn(args ...any)  { l.log.Warn(fmt.Sprint(args...)) }
func (l asynqLogger) Error(args ...any) { l.log.Error(fmt.Sprint(args...)) }
func (l asynqLogger) Fatal(args ...any) { l.log.Error(fmt.Sprint(args...)) }

// newFlagSet is the flag set of a command not yet ported to cobra (see
// legacyCommand); delete it with the last of them.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// runServe runs console, API, gateway and workers in one process (deploys
// true: serve), or build workers only (worker), until ctx ends.
func runServe(ctx context.Context, cfg *Config, deploys bool, stdout, stderr io.Writer) error {
	cfg.Deploys = deploys
	if !deploys {
		cfg.Builds = true // a worker exists to build
	}
	if err := cfg.finish(os.Environ()); err != nil {
		return err
	}
	if !deploys && (cfg.RedisURL == "" || !strings.HasPrefix(cfg.DatabaseURL, "postgres")) {
		return fmt.Errorf("seedbed worker shares work with `seedbed serve` through PostgreSQL and Redis: set SEEDBED_DATABASE_URL=postgres://… and SEEDBED_REDIS_URL=redis://…")
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	inherited, err := handoff.FromEnv(os.Getenv)
	if err != nil {
		return err
	}
	defer inherited.Close()
	os.Unsetenv(handoff.EnvVar) // not for builds and hooks to see
	cfg.Inherited = inherited
	if deploys && inherited == nil && os.Getpid() == 1 {
		// The first process of a container: serve runs as its child, so
		// that a handoff (SIGHUP) does not end the container.
		return superviseServe()
	}
	// SIGHUP hands over to a new process; from now on, so that one sent
	// while this process starts is not the end of it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	app, err := NewApp(ctx, *cfg, log)
	if err != nil {
		return err
	}
	defer app.Close(context.WithoutCancel(ctx))
	if err := app.Start(ctx); err != nil {
		return err
	}
	// systemd first: it must know the new main pid before the old
	// process, told next, begins to exit.
	if err := handoff.Notify(os.Getenv, handoff.ReadyState(inherited)); err != nil {
		log.Warn("could not tell systemd that Seedbed is ready", "err", err)
	}
	if inherited != nil {
		if err := inherited.Ready(); err != nil {
			return err
		}
		log.Info("took over from the previous process, which finishes its requests and exits", "pid", inherited.Parent)
	}
	if deploys {
		fmt.Fprintf(stdout, "Seedbed is running.\n  Console:   %s\n  Functions: %s  (and http://STAGE--APP.%s:<port>)\n  Data dir:  %s\n",
			app.ConsoleURL(), app.GatewayURL(), cfg.Domain, cfg.DataDir)
		if addr := app.HTTPSAddr(); addr != "" {
			fmt.Fprintf(stdout, "  HTTPS:     %s  (custom domains: seedbed domains add APP --stage S NAME)\n", addr)
		}
		if cfg.AdminEmail != "" {
			fmt.Fprintf(stdout, "  Sign in:   %s (password from SEEDBED_ADMIN_PASSWORD)\n", cfg.AdminEmail)
		}
		if sameHost(app.ConsoleURL(), app.GatewayURL()) {
			fmt.Fprintf(stdout, "  Note:      functions at %s share the console's host, and so its cookies; the gateway strips\n"+
				"             them, but for other people's code give functions a host of their own (--gateway-url, --domain).\n", app.GatewayURL())
		}
	} else {
		fmt.Fprintf(stdout, "Seedbed worker is running (%d at once).\n", cfg.Workers)
	}
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(stdout, "Stopping…")
			return nil
		case <-hup:
		}
		if !deploys {
			log.Info("SIGHUP: a worker serves no traffic; restart it with SIGTERM and a new start (its jobs go back to the queue)")
			continue
		}
		if p := handOver(ctx, app, log); p != nil {
			// A supervisor, or a systemd that has not read the new main
			// pid yet, may still signal this process: pass it on.
			forwardSignals(p, log)
			app.Drain(ctx)
			return nil // the deferred Close finishes the requests in flight
		}
	}
}

// containerInit names the minimal init that is this process's parent and
// pid 1 (docker run --init's tini and the like), which exits with its one
// child; "" otherwise (systemd, a shell, Seedbed's own supervisor).
func containerInit() string {
	if os.Getppid() != 1 {
		return ""
	}
	b, err := os.ReadFile("/proc/1/comm")
	if err != nil {
		return ""
	}
	switch name := strings.TrimSpace(string(b)); name {
	case "docker-init", "tini", "dumb-init", "catatonit":
		return name
	}
	return ""
}

// superviseServe runs `seedbed serve` again as a child of this process,
// which stays as the container's first process (handoff.Supervise).
func superviseServe() error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find Seedbed's own binary to run under pid 1: %w", err)
	}
	code, err := handoff.Supervise(exe, os.Args[1:], os.Environ())
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("seedbed serve exited with code %d", code)
	}
	return nil
}

// handOver starts the binary this process was started from again (an
// upgrade replaces the file first) on this process's listening sockets;
// the new process once it serves, nil when this one goes on serving.
func handOver(ctx context.Context, app *App, log *slog.Logger) *os.Process {
	if init := containerInit(); init != "" {
		log.Error("SIGHUP: Seedbed runs under " + init + ", which ends the container when its child exits, so a handoff would stop it; nothing changed. " +
			"Run the container without --init (init: false): as pid 1, seedbed serve supervises itself")
		return nil
	}
	exe, err := os.Executable() // the path, even when the file was replaced
	if err != nil {
		log.Error("SIGHUP: cannot find Seedbed's own binary to start again; this process goes on serving", "err", err)
		return nil
	}
	p, err := app.HandOver(ctx, handoff.Spec{Path: exe, Args: os.Args[1:], Env: os.Environ(), Stdout: os.Stdout, Stderr: os.Stderr})
	if err != nil {
		log.Error("SIGHUP: the new process did not take over; this one goes on serving", "err", err)
		return nil
	}
	return p
}

// runMigrate applies pending schema migrations and says where the
// database stands.
func runMigrate(ctx context.Context, cfg *Config, stdout io.Writer) error {
	if err := cfg.finish(nil); err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	all, err := migrations.List(st.Dialect())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Database is at migration %s (%s).\n", all[len(all)-1].Version, st.Dialect())
	return nil
}

// runAdminCreate creates an admin user, or resets an existing one's
// password, straight in the database.
func runAdminCreate(ctx context.Context, cfg *Config, email, password string, stdout io.Writer) error {
	if err := cfg.finish(nil); err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := auth.New(st, 0).CreateUser(ctx, email, password, true, true)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Admin %s is ready.\n", u.Email)
	return nil
}

// sameHost tells whether two URLs name one host (ports aside): browsers keep
// one cookie jar for it.
func sameHost(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && ua.Hostname() != "" && strings.EqualFold(ua.Hostname(), ub.Hostname())
}
