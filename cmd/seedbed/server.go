package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"

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

func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// cmdServe runs console, API, gateway and workers in one process.
func cmdServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, deploys bool) error {
	name, usage := "serve", "seedbed serve [flags]\n\nRuns the console, the API, the function gateway and workers in one process.\nWith no settings it keeps everything in ./data and needs nothing else running."
	if !deploys {
		name, usage = "worker", "seedbed worker [flags]\n\nRuns build workers only, against the same database, Redis and data dir as `seedbed serve`\n(SEEDBED_DATABASE_URL and SEEDBED_REDIS_URL are required; artifacts go to the shared data dir)."
	}
	fs := newFlagSet(name, usage, stderr)
	cfg := configFlags(fs, getenv)
	if err := fs.Parse(args); err != nil {
		return err
	}
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
	app, err := NewApp(ctx, *cfg, log)
	if err != nil {
		return err
	}
	defer app.Close(context.WithoutCancel(ctx))
	if err := app.Start(ctx); err != nil {
		return err
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
	<-ctx.Done()
	fmt.Fprintln(stdout, "Stopping…")
	return nil
}

func cmdMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", "seedbed migrate [flags]\n\nApplies pending schema migrations and exits (serve and worker also do this at start).", stderr)
	cfg := configFlags(fs, getenv)
	if err := fs.Parse(args); err != nil {
		return err
	}
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

func cmdAdmin(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return usageError("seedbed admin create --email E --password P")
	}
	fs := newFlagSet("admin create", "seedbed admin create --email E --password P [flags]\n\nCreates an admin user in the configured database, or resets the password of an existing one.", stderr)
	cfg := configFlags(fs, getenv)
	email := fs.String("email", "", "the admin's email")
	password := fs.String("password", "", "the admin's password (at least 8 characters)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *email == "" || *password == "" {
		return usageError("seedbed admin create --email E --password P")
	}
	if err := cfg.finish(nil); err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := auth.New(st, 0).CreateUser(ctx, *email, *password, true, true)
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
