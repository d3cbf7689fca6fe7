package main

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/seedbed/seedbed/web/gitremote"
)

// serverFlags registers the server settings (configFlags) on a command.
// Help shows each flag's built-in default, not the environment's value:
// that may hold credentials (SEEDBED_DATABASE_URL, SEEDBED_REDIS_URL), and
// each flag's text names its variable anyway.
func serverFlags(cmd *cobra.Command, getenv func(string) string) *Config {
	cfg := configFlags(cmd.Flags(), getenv)
	plain := pflag.NewFlagSet("defaults", pflag.ContinueOnError)
	configFlags(plain, func(string) string { return "" })
	plain.VisitAll(func(f *pflag.Flag) {
		if g := cmd.Flags().Lookup(f.Name); g != nil {
			g.DefValue = f.DefValue
		}
	})
	return cfg
}

// serveCommand is serve (deploys true) or worker.
func serveCommand(e cliEnv, deploys bool) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "Run the console, API, gateway and workers in one process",
		Long: "Runs the console, the API, the function gateway and workers in one process.\n" +
			"With no settings it keeps everything in ./data and needs nothing else running.\n" +
			"Every flag can also be set by the environment variable named in its text; flags win.",
		Example: `  seedbed serve
  seedbed serve --addr 0.0.0.0:8080 --public-url https://seedbed.example.com --domain fn.example.com
  SEEDBED_DATABASE_URL=postgres://seedbed@db/seedbed SEEDBED_REDIS_URL=redis://redis:6379 seedbed serve --builds=false`,
		Args: positional(),
	}
	if !deploys {
		cmd.Use = "worker [flags]"
		cmd.Short = "Run extra build workers (PostgreSQL + Redis setups)"
		cmd.Long = "Runs build workers only, against the same database, Redis and data dir as `seedbed serve`\n" +
			"(SEEDBED_DATABASE_URL and SEEDBED_REDIS_URL are required; artifacts go to the shared data dir, or to the bucket of --artifact-store)."
		cmd.Example = `  seedbed worker --database-url postgres://seedbed@db/seedbed --redis-url redis://redis:6379 --workers 8
  SEEDBED_DATABASE_URL=postgres://seedbed@db/seedbed SEEDBED_REDIS_URL=redis://redis:6379 seedbed worker --data-dir /shared/data`
	}
	cfg := serverFlags(cmd, e.getenv)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return runServe(cmd.Context(), cfg, deploys, cmd.OutOrStdout(), cmd.ErrOrStderr())
	}
	return cmd
}

func migrateCommand(e cliEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate [flags]",
		Short: "Apply database migrations and exit",
		Long:  "Applies pending schema migrations and exits (serve and worker also do this at start).",
		Example: `  seedbed migrate --data-dir /var/lib/seedbed
  SEEDBED_DATABASE_URL=postgres://seedbed@db/seedbed seedbed migrate`,
		Args: positional(),
	}
	cfg := serverFlags(cmd, e.getenv)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return runMigrate(cmd.Context(), cfg, cmd.OutOrStdout())
	}
	return cmd
}

func gcCommand(e cliEnv) *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "gc [--dry-run] [flags]",
		Short: "Remove what retention does not keep (serve does it every --gc-interval)",
		Long: "Removes what retention does not keep: releases beyond the last --retain-releases of each stage\n" +
			"(never a live one, a rollback target or one a deploy in progress needs), the artifacts and\n" +
			"unpacked copies no kept release uses, log lines older than --retain-logs, webhook deliveries\n" +
			"beyond the caps. Run it where the data dir is, with serve's settings; serve also runs it\n" +
			"every --gc-interval. Two runs at once are safe: while one works, the other does nothing\n" +
			"and says so.",
		Example: `  seedbed gc --dry-run --data-dir /var/lib/seedbed
  seedbed gc --retain-releases 5 --retain-logs 168h
  seedbed gc --dry-run --output json | jq .artifact_bytes`,
		Args: positional(),
	}
	cfg := serverFlags(cmd, e.getenv)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only print what would be removed and the bytes it would free")
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return runGC(cmd.Context(), cfg, dryRun, out, cmd.OutOrStdout(), cmd.ErrOrStderr())
	}
	return cmd
}

func adminCommand(e cliEnv) *cobra.Command {
	var email, password string
	create := &cobra.Command{
		Use:   "create --email E --password P [flags]",
		Short: "Create an admin user, or reset an admin's password",
		Long:  "Creates an admin user in the configured database, or resets the password of an existing one.",
		Example: `  seedbed admin create --email admin@example.com --password 'a long password' --data-dir /var/lib/seedbed
  SEEDBED_DATABASE_URL=postgres://seedbed@db/seedbed seedbed admin create --email admin@example.com --password '…'`,
		Args: positional(),
	}
	cfg := serverFlags(create, e.getenv)
	create.Flags().StringVar(&email, "email", "", "the admin's email")
	create.Flags().StringVar(&password, "password", "", "the admin's password (at least 8 characters)")
	_ = create.MarkFlagRequired("email")
	_ = create.MarkFlagRequired("password")
	create.RunE = func(cmd *cobra.Command, args []string) error {
		return runAdminCreate(cmd.Context(), cfg, email, password, cmd.OutOrStdout())
	}
	return group("admin", "Server-side admin tasks, straight on the database",
		"  seedbed admin create --email admin@example.com --password 'a long password'", create)
}

func secretsCommand(e cliEnv) *cobra.Command {
	rotate := &cobra.Command{
		Use:   "rotate-key [flags]",
		Short: "Re-seal every secret under a new key (serve stopped)",
		Long:  strings.TrimPrefix(rotateUsage, "seedbed secrets rotate-key [flags]\n\n"),
		Example: `  seedbed secrets rotate-key --data-dir /var/lib/seedbed
  SEEDBED_SECRET_KEY=$OLD SEEDBED_NEW_SECRET_KEY=$(openssl rand -hex 32) seedbed secrets rotate-key`,
		Args: positional(),
	}
	cfg := serverFlags(rotate, e.getenv)
	rotate.RunE = func(cmd *cobra.Command, args []string) error {
		if err := cfg.finish(nil); err != nil {
			return err
		}
		return rotateKey(cmd.Context(), *cfg, rotateOptions{newKey: e.getenv("SEEDBED_NEW_SECRET_KEY")}, cmd.OutOrStdout())
	}
	return group("secrets", "Manage the key secrets are sealed with",
		"  seedbed secrets rotate-key --data-dir /var/lib/seedbed", rotate)
}

// gitHookCommand is run by git inside a push to the built-in remote; not
// for people. It takes its arguments as git gives them.
func gitHookCommand(e cliEnv) *cobra.Command {
	return &cobra.Command{
		Use:                "git-hook pre-receive",
		Short:              "Run by git in the built-in remote's repositories",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if code := gitremote.RunHook(cmd.Context(), args, cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), e.getenv); code != 0 {
				return exitError{code}
			}
			return nil
		},
	}
}
