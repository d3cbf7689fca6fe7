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
// positional arguments, and returns the positional ones.
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

func cmdLogin(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("login", "seedbed login --server URL --email E --password P\n\nSigns in and saves an API token for the other commands.", stderr)
	server := fs.String("server", getenv("SEEDBED_SERVER"), "the Seedbed console URL, e.g. http://127.0.0.1:8080")
	email := fs.String("email", "", "your email")
	password := fs.String("password", getenv("SEEDBED_PASSWORD"), "your password (or SEEDBED_PASSWORD)")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if *server == "" || *email == "" || *password == "" {
		return usageError("seedbed login --server URL --email E --password P")
	}
	host, _ := os.Hostname()
	resp, err := apiv1.NewClient(*server, "").Login(ctx, apiv1.LoginRequest{Email: *email, Password: *password, TokenName: "cli@" + host})
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
	b, _ := json.MarshalIndent(cliConfig{Server: strings.TrimRight(*server, "/"), Token: resp.Token, Email: resp.Email}, "", "  ")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		return fmt.Errorf("save login: %w", err)
	}
	fmt.Fprintf(stdout, "Signed in to %s as %s. The token is saved in %s.\n", *server, resp.Email, p)
	return nil
}

func cmdApps(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("seedbed apps list | seedbed apps create NAME [--repo URL] [--branch main]")
	}
	c, err := client(getenv)
	if err != nil {
		return err
	}
	switch args[0] {
	case "list", "ls":
		apps, err := c.Apps(ctx)
		if err != nil {
			return err
		}
		if len(apps) == 0 {
			fmt.Fprintln(stdout, "No apps yet. Connect one with: seedbed apps create NAME --repo URL")
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tBRANCH\tREPOSITORY")
		for _, a := range apps {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Name, a.Branch, a.RepoURL)
		}
		return tw.Flush()
	case "create":
		fs := newFlagSet("apps create", "seedbed apps create NAME [--repo URL] [--branch main] [--deploy-key FILE] [--no-check]\n\nWithout --repo the app's code comes only by git push to Seedbed's built-in remote.\nWith --repo Seedbed reads the repository first and refuses one it cannot read;\n--no-check skips that, for a repository that will exist later.", stderr)
		repo := fs.String("repo", "", "the repository's clone URL or local path; empty: code comes by git push to the built-in remote")
		branch := fs.String("branch", "main", "the branch deployed by default")
		keyFile := fs.String("deploy-key", "", "file with an SSH private key for ssh repositories")
		noCheck := fs.Bool("no-check", false, "create the app without reading the repository first (it will exist later)")
		pos, err := parseArgs(fs, args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usageError("seedbed apps create NAME [--repo URL] [--branch main]")
		}
		var key string
		if *keyFile != "" {
			b, err := os.ReadFile(*keyFile)
			if err != nil {
				return fmt.Errorf("read deploy key: %w", err)
			}
			key = string(b)
		}
		req := apiv1.CreateAppRequest{Name: pos[0], RepoURL: *repo, Branch: *branch, DeployKey: key}
		if *noCheck {
			req.Check = new(bool)
		}
		app, err := c.CreateApp(ctx, req)
		if err != nil {
			return err
		}
		source := app.RepoURL
		if source == "" {
			source = "code by git push"
		}
		fmt.Fprintf(stdout, "Created app %s (%s, branch %s).\n", app.Name, source, app.Branch)
		for _, st := range app.Stages {
			fmt.Fprintf(stdout, "  %-8s %s\n", st.Name, st.URL)
		}
		if app.RepoURL == "" {
			fmt.Fprintf(stdout, "Push to deploy (the password is an API token, e.g. the one `seedbed login` saved):\n  git remote add seedbed %s/git/%s.git\n  git push seedbed %s\n", c.BaseURL, app.Name, app.Branch)
		} else {
			fmt.Fprintf(stdout, "Deploy it with: seedbed deploy %s --stage dev --wait\n", app.Name)
		}
		return nil
	case "settings":
		return cmdAppSettings(ctx, c, args[1:], stdout, stderr)
	}
	return usageError("seedbed apps list | seedbed apps create NAME [--repo URL] [--branch main] | seedbed apps settings APP [flags]")
}

func cmdDeploy(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("deploy", "seedbed deploy APP [--stage dev] [--ref REF] [--full] [--wait]\n\nBuilds a commit of the app and deploys it to a stage. Services unchanged since the\nstage's live release reuse its artifacts; --full rebuilds them all.", stderr)
	stage := fs.String("stage", "dev", "the stage to deploy to")
	ref := fs.String("ref", "", "branch, tag or commit; default the stage's branch")
	wait := fs.Bool("wait", false, "follow the build and deploy; exit non-zero if either fails")
	full := fs.Bool("full", false, "rebuild every service, reusing no artifact of the stage's live release")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("seedbed deploy APP [--stage dev] [--ref REF] [--full] [--wait]")
	}
	c, err := client(getenv)
	if err != nil {
		return err
	}
	resp, err := c.Deploy(ctx, pos[0], apiv1.DeployRequest{Stage: *stage, Ref: *ref, Full: *full})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Build #%d of %s at %s, then deploy #%d to %s.\n  %s%s\n", resp.Build.ID, pos[0], resp.Build.Ref, resp.Deploy.ID, *stage, strings.TrimRight(c.BaseURL, "/"), resp.Build.URL)
	if !*wait {
		return nil
	}
	if err := followLog(ctx, stdout, "build", func(after uint) (apiv1.LogPage, error) { return c.BuildLogs(ctx, resp.Build.ID, after) }); err != nil {
		return err
	}
	b, err := c.Build(ctx, resp.Build.ID)
	if err != nil {
		return err
	}
	if b.Status != "succeeded" {
		fmt.Fprintf(stderr, "Build #%d failed: %s\n", b.ID, b.Error)
		return exitError{1}
	}
	// The deploy's log starts once its build hands it the release.
	return waitForDeploy(ctx, c, stdout, stderr, pos[0], resp.Deploy.ID)
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

func cmdBuilds(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const use = "seedbed builds list APP [--status S] [--ref R] | seedbed builds logs BUILD_ID [--follow]"
	if len(args) == 0 {
		return usageError(use)
	}
	if args[0] == "list" || args[0] == "ls" {
		return cmdBuildsList(ctx, args[1:], getenv, stdout, stderr)
	}
	c, err := client(getenv)
	if err != nil {
		return err
	}
	switch args[0] {
	case "logs", "log":
		fs := newFlagSet("builds logs", "seedbed builds logs BUILD_ID [--follow]", stderr)
		follow := fs.Bool("follow", false, "keep printing until the build ends")
		pos, err := parseArgs(fs, args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usageError(use)
		}
		id, err := strconv.ParseUint(pos[0], 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a build id", pos[0])
		}
		if *follow {
			return followLog(ctx, stdout, "build", func(after uint) (apiv1.LogPage, error) { return c.BuildLogs(ctx, uint(id), after) })
		}
		var after uint
		for {
			p, err := c.BuildLogs(ctx, uint(id), after)
			if err != nil {
				return err
			}
			for _, l := range p.Lines {
				fmt.Fprintln(stdout, l.Text)
				after = l.ID
			}
			if len(p.Lines) == 0 || p.Finished {
				return nil
			}
		}
	}
	return usageError(use)
}

func shortSHA(s string) string {
	if len(s) > 7 {
		return s[:7]
	}
	return s
}
