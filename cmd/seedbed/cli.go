package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/seedbed/seedbed/web/apiv1"
)

// cliConfig is what `seedbed login` saves.
type cliConfig struct {
	Server string `json:"server"`
	Token  string `json:"token"`
	Email  string `json:"email,omitempty"`
}

func cliConfigPath(getenv func(string) string) (string, error) {
	if p := getenv("SEEDBED_CLI_CONFIG"); p != "" {
		return p, nil
	}
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := getenv("HOME")
		if home == "" {
			return "", errors.New("cannot tell where to keep the login: set HOME or SEEDBED_CLI_CONFIG")
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "seedbed", "cli.json"), nil
}

// client makes an API client from the saved login, overridden by
// SEEDBED_SERVER and SEEDBED_TOKEN.
func client(getenv func(string) string) (*apiv1.Client, error) {
	var cfg cliConfig
	if p, err := cliConfigPath(getenv); err == nil {
		if b, err := os.ReadFile(p); err == nil {
			if err := json.Unmarshal(b, &cfg); err != nil {
				return nil, fmt.Errorf("read saved login %s: %w (run `seedbed login` again)", p, err)
			}
		}
	}
	if v := getenv("SEEDBED_SERVER"); v != "" {
		cfg.Server = v
	}
	if v := getenv("SEEDBED_TOKEN"); v != "" {
		cfg.Token = v
	}
	if cfg.Server == "" || cfg.Token == "" {
		return nil, errors.New("not signed in: run `seedbed login --server URL --email E --password P`, or set SEEDBED_SERVER and SEEDBED_TOKEN")
	}
	c := apiv1.NewClient(cfg.Server, cfg.Token)
	c.UserAgent = "seedbed-cli"
	return c, nil
}

// parseArgs parses flags that may stand before, between or after the
// positional arguments, and returns the positional ones. Only commands
// not yet ported to cobra use it (see legacyCommand); delete it with the
// last of them.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func loginCommand(e cliEnv) *cobra.Command {
	var server, email, password string
	cmd := &cobra.Command{
		Use:   "login --server URL --email E [--password P]",
		Short: "Sign in and save an API token for the other commands",
		Long: "Signs in and saves an API token for the other commands in ~/.config/seedbed/cli.json\n" +
			"(SEEDBED_CLI_CONFIG names another file). The password comes from --password or\n" +
			"SEEDBED_PASSWORD; the server from --server or SEEDBED_SERVER.",
		Example: `  seedbed login --server http://127.0.0.1:8080 --email you@example.com --password 'correct horse'
  SEEDBED_PASSWORD=… seedbed login --server https://seedbed.example.com --email you@example.com`,
		Args: positional(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if server == "" {
				server = e.getenv("SEEDBED_SERVER")
			}
			if password == "" {
				password = e.getenv("SEEDBED_PASSWORD")
			}
			switch {
			case server == "":
				return usageError("missing --server URL (or SEEDBED_SERVER)")
			case password == "":
				return usageError("missing --password (or SEEDBED_PASSWORD)")
			}
			return runLogin(cmd.Context(), e.getenv, server, email, password, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "the Seedbed console URL, e.g. http://127.0.0.1:8080 (or SEEDBED_SERVER)")
	cmd.Flags().StringVar(&email, "email", "", "your email")
	cmd.Flags().StringVar(&password, "password", "", "your password (or SEEDBED_PASSWORD)")
	_ = cmd.MarkFlagRequired("email")
	return cmd
}

func runLogin(ctx context.Context, getenv func(string) string, server, email, password string, stdout io.Writer) error {
	host, _ := os.Hostname()
	resp, err := apiv1.NewClient(server, "").Login(ctx, apiv1.LoginRequest{Email: email, Password: password, TokenName: "cli@" + host})
	if err != nil {
		return err
	}
	p, err := cliConfigPath(getenv)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("save login: %w", err)
	}
	b, _ := json.MarshalIndent(cliConfig{Server: strings.TrimRight(server, "/"), Token: resp.Token, Email: resp.Email}, "", "  ")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		return fmt.Errorf("save login: %w", err)
	}
	fmt.Fprintf(stdout, "Signed in to %s as %s. The token is saved in %s.\n", server, resp.Email, p)
	return nil
}

func appsCommand(e cliEnv) *cobra.Command {
	list := dataCommand(e, &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the apps you hold a role on",
		Example: "  seedbed apps list\n  seedbed apps list --output json | jq -r '.[].name'",
	}, func(ctx context.Context, c *apiv1.Client, _ []string) ([]apiv1.App, error) {
		return c.Apps(ctx)
	}, func(w io.Writer, _ []string, apps []apiv1.App) error {
		if len(apps) == 0 {
			fmt.Fprintln(w, "No apps yet. Connect one with: seedbed apps create NAME --repo URL")
			return nil
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tBRANCH\tREPOSITORY")
		for _, a := range apps {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Name, a.Branch, a.RepoURL)
		}
		return tw.Flush()
	})
	return group("apps", "Create and list apps, show and change their settings",
		"  seedbed apps list\n  seedbed apps create shop --repo https://github.com/acme/shop.git\n  seedbed apps settings shop --forge github --token-file gh.token",
		list, appsCreateCommand(e), appSettingsCommand(e))
}

// appsCreateOptions are the flags of apps create.
type appsCreateOptions struct {
	name, repo, branch, keyFile string
	noCheck                     bool
}

func appsCreateCommand(e cliEnv) *cobra.Command {
	var o appsCreateOptions
	cmd := &cobra.Command{
		Use:   "create NAME [--repo URL] [--branch main] [--deploy-key FILE] [--no-check]",
		Short: "Connect a repository (or none, for git push) as a new app",
		Long: "Creates an app with the stages dev, staging and prod.\n\n" +
			"Without --repo the app's code comes only by git push to Seedbed's built-in remote.\n" +
			"With --repo Seedbed reads the repository first and refuses one it cannot read;\n" +
			"--no-check skips that, for a repository that will exist later.",
		Example: `  seedbed apps create shop --repo https://github.com/acme/shop.git
  seedbed apps create shop --repo git@github.com:acme/shop.git --deploy-key ~/.ssh/shop_deploy
  seedbed apps create pushonly                      # then: git push seedbed main
  seedbed apps create later --repo https://git.example.com/later.git --no-check`,
		Args: positional("NAME"),
	}
	cmd.Flags().StringVar(&o.repo, "repo", "", "the repository's clone URL or local path; empty: code comes by git push to the built-in remote")
	cmd.Flags().StringVar(&o.branch, "branch", "main", "the branch deployed by default")
	cmd.Flags().StringVar(&o.keyFile, "deploy-key", "", "file with an SSH private key for ssh repositories")
	cmd.Flags().BoolVar(&o.noCheck, "no-check", false, "create the app without reading the repository first (it will exist later)")
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := e.client()
		if err != nil {
			return err
		}
		o.name = args[0]
		return runAppsCreate(cmd.Context(), c, o, out, cmd.OutOrStdout())
	}
	return cmd
}

func runAppsCreate(ctx context.Context, c *apiv1.Client, o appsCreateOptions, out *outputFormat, stdout io.Writer) error {
	var key string
	if o.keyFile != "" {
		b, err := os.ReadFile(o.keyFile)
		if err != nil {
			return fmt.Errorf("read deploy key: %w", err)
		}
		key = string(b)
	}
	req := apiv1.CreateAppRequest{Name: o.name, RepoURL: o.repo, Branch: o.branch, DeployKey: key}
	if o.noCheck {
		req.Check = new(bool)
	}
	app, err := c.CreateApp(ctx, req)
	if err != nil {
		return err
	}
	return out.print(stdout, app, func(w io.Writer) error {
		source := app.RepoURL
		if source == "" {
			source = "code by git push"
		}
		fmt.Fprintf(w, "Created app %s (%s, branch %s).\n", app.Name, source, app.Branch)
		for _, st := range app.Stages {
			fmt.Fprintf(w, "  %-8s %s\n", st.Name, st.URL)
		}
		if app.RepoURL == "" {
			fmt.Fprintf(w, "Push to deploy (the password is an API token, e.g. the one `seedbed login` saved):\n  git remote add seedbed %s/git/%s.git\n  git push seedbed %s\n", c.BaseURL, app.Name, app.Branch)
		} else {
			fmt.Fprintf(w, "Deploy it with: seedbed deploy %s --stage dev --wait\n", app.Name)
		}
		return nil
	})
}

// deployOptions are the flags of deploy.
type deployOptions struct {
	app, stage, ref string
	wait, full      bool
}

func deployCommand(e cliEnv) *cobra.Command {
	var o deployOptions
	cmd := &cobra.Command{
		Use:   "deploy APP [--stage dev] [--ref REF] [--full] [--wait]",
		Short: "Build a commit of an app and deploy it to a stage",
		Long: "Builds a commit of the app and deploys it to a stage. Services unchanged since the\n" +
			"stage's live release reuse its artifacts; --full rebuilds them all.\n\n" +
			"With --wait it follows the build and the deploy and exits non-zero if either fails.\n" +
			"With --output json the build and deploy are printed as JSON (after --wait, the\n" +
			"deploy as it ended); the logs then go to stderr.",
		Example: `  seedbed deploy shop --wait
  seedbed deploy shop --stage staging --ref v1.4.0 --wait
  seedbed deploy shop --full
  seedbed deploy shop --output json | jq .deploy.id`,
		Args:              positional("APP"),
		ValidArgsFunction: e.completeApps,
	}
	cmd.Flags().StringVar(&o.stage, "stage", "dev", "the stage to deploy to")
	cmd.Flags().StringVar(&o.ref, "ref", "", "branch, tag or commit; default the stage's branch")
	cmd.Flags().BoolVar(&o.wait, "wait", false, "follow the build and deploy; exit non-zero if either fails")
	cmd.Flags().BoolVar(&o.full, "full", false, "rebuild every service, reusing no artifact of the stage's live release")
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := e.client()
		if err != nil {
			return err
		}
		o.app = args[0]
		return runDeploy(cmd.Context(), c, o, out, cmd.OutOrStdout(), cmd.ErrOrStderr())
	}
	return cmd
}

func runDeploy(ctx context.Context, c *apiv1.Client, o deployOptions, out *outputFormat, stdout, stderr io.Writer) error {
	resp, err := c.Deploy(ctx, o.app, apiv1.DeployRequest{Stage: o.stage, Ref: o.ref, Full: o.full})
	if err != nil {
		return err
	}
	human := stdout
	if out.json() {
		human = stderr
	}
	fmt.Fprintf(human, "Build #%d of %s at %s, then deploy #%d to %s.\n  %s%s\n", resp.Build.ID, o.app, resp.Build.Ref, resp.Deploy.ID, o.stage, strings.TrimRight(c.BaseURL, "/"), resp.Build.URL)
	if !o.wait {
		return printJSON(out, stdout, resp)
	}
	if err := followLog(ctx, human, "build", func(after uint) (apiv1.LogPage, error) { return c.BuildLogs(ctx, resp.Build.ID, after) }); err != nil {
		return err
	}
	b, err := c.Build(ctx, resp.Build.ID)
	if err != nil {
		return err
	}
	resp.Build = b
	if b.Status != "succeeded" {
		fmt.Fprintf(stderr, "Build #%d failed: %s\n", b.ID, b.Error)
		if err := printJSON(out, stdout, resp); err != nil {
			return err
		}
		return exitError{1}
	}
	// The deploy's log starts once its build hands it the release.
	werr := waitForDeploy(ctx, c, human, stderr, o.app, resp.Deploy.ID)
	if out.json() {
		if resp.Deploy, err = c.GetDeploy(ctx, resp.Deploy.ID); err != nil {
			return err
		}
		if err := printJSON(out, stdout, resp); err != nil {
			return err
		}
	}
	return werr
}

// printJSON prints v when --output json was asked for; text output was
// already written along the way.
func printJSON(out *outputFormat, w io.Writer, v any) error {
	if !out.json() {
		return nil
	}
	return out.print(w, v, nil)
}

// waitForDeploy follows a deploy's log until the deploy ends: it returns
// once the stage serves the deploy's release, and fails (exit 1, the reason
// on stderr) if the deploy does not succeed. A promotion awaiting approval
// is waited for too, after saying so.
func waitForDeploy(ctx context.Context, c *apiv1.Client, stdout, stderr io.Writer, app string, id uint) error {
	d, err := c.GetDeploy(ctx, id)
	if err != nil {
		return err
	}
	if d.Status == "awaiting_approval" {
		fmt.Fprintf(stdout, "▸ Deploy #%d to %s awaits approval (seedbed approve %d); waiting.\n", d.ID, d.Stage, d.ID)
	}
	if err := followLog(ctx, stdout, "deploy", func(after uint) (apiv1.LogPage, error) { return c.DeployLogs(ctx, id, after) }); err != nil {
		return err
	}
	if d, err = c.GetDeploy(ctx, id); err != nil {
		return err
	}
	if d.Status != "succeeded" {
		fmt.Fprintf(stderr, "Deploy #%d to %s %s: %s\n", d.ID, d.Stage, strings.ReplaceAll(d.Status, "_", " "), d.Error)
		return exitError{1}
	}
	a, err := c.App(ctx, app)
	if err != nil {
		return err
	}
	for _, st := range a.Stages {
		if st.Name != d.Stage {
			continue
		}
		fmt.Fprintf(stdout, "Live on %s: %s (release #%d)\n", st.Name, st.URL, d.ReleaseID)
		if st.LiveRelease != nil && st.LiveRelease.ID != d.ReleaseID {
			// A newer deploy took the stage right after this one.
			fmt.Fprintf(stderr, "Note: %s serves release #%d by now, deployed after this one.\n", st.Name, st.LiveRelease.ID)
		}
	}
	return nil
}

// followLog prints a log as it grows until its owner has finished.
func followLog(ctx context.Context, w io.Writer, what string, page func(after uint) (apiv1.LogPage, error)) error {
	var after uint
	for {
		p, err := page(after)
		if err != nil {
			return fmt.Errorf("follow %s log: %w", what, err)
		}
		for _, l := range p.Lines {
			prefix := "  "
			if l.Stream == "seedbed" {
				prefix = "▸ "
			}
			fmt.Fprintf(w, "%s%s\n", prefix, l.Text)
			after = l.ID
		}
		if p.Finished {
			return nil
		}
		if len(p.Lines) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(400 * time.Millisecond):
		}
	}
}

func buildsCommand(e cliEnv) *cobra.Command {
	return group("builds", "List an app's builds and print their logs",
		"  seedbed builds list shop --status failed\n  seedbed builds logs 42 --follow",
		buildsListCommand(e), buildsLogsCommand(e))
}

func buildsLogsCommand(e cliEnv) *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:     "logs BUILD_ID [--follow]",
		Aliases: []string{"log"},
		Short:   "Print a build's log",
		Long: "Prints a build's log as far as it goes; --follow keeps printing until the build ends.\n" +
			"With --output json the lines are printed as one JSON array (not with --follow).",
		Example: `  seedbed builds logs 42
  seedbed builds logs 42 --follow
  seedbed builds logs 42 --output json | jq -r '.[] | select(.stream == "stderr") | .text'`,
		Args: positional("BUILD_ID"),
	}
	cmd.Flags().BoolVar(&follow, "follow", false, "keep printing until the build ends")
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id, err := parseID(args[0], "build")
		if err != nil {
			return err
		}
		if follow && out.json() {
			return usageError("--follow prints the log as it grows; --output json prints it once, complete as far as it goes: give one of them")
		}
		c, err := e.client()
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		if follow {
			return followLog(ctx, cmd.OutOrStdout(), "build", func(after uint) (apiv1.LogPage, error) { return c.BuildLogs(ctx, id, after) })
		}
		var lines []apiv1.LogLine
		var after uint
		for {
			p, err := c.BuildLogs(ctx, id, after)
			if err != nil {
				return err
			}
			for _, l := range p.Lines {
				if !out.json() {
					fmt.Fprintln(cmd.OutOrStdout(), l.Text)
				}
				lines = append(lines, l)
				after = l.ID
			}
			if len(p.Lines) == 0 || p.Finished {
				return printJSON(out, cmd.OutOrStdout(), lines)
			}
		}
	}
	return cmd
}

// parseID reads an id argument; a wrong one is a usage error.
func parseID(s, what string) (uint, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, usageError(fmt.Sprintf("%q is not a %s id; give a number such as 42", s, what))
	}
	return uint(id), nil
}

func shortSHA(s string) string {
	if len(s) > 7 {
		return s[:7]
	}
	return s
}
