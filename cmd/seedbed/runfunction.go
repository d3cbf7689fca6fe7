package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/seedbed/seedbed/targets"
	"github.com/seedbed/seedbed/targets/runner"
)

// runFunctionOptions is what `seedbed run-function` runs: in a pod of the
// kubernetes target, the Deployment sets them as environment variables
// (the spec and the token from the function's Secret).
type runFunctionOptions struct {
	app, stage string
	spec       string // targets.Function as JSON
	store      string // artifact store location
	token      string
	dir        string
	addr       string
	domain     string
	queueToken string // SEEDBED_QUEUE_TOKEN, from the pod's Secret
	logsURL    string // where to ship the function's log lines; "" ships none
	logsToken  string // SEEDBED_LOGS_TOKEN, from the pod's Secret
	instance   string // the lines' instance: the pod's name
}

// parseRunFunction reads the options from flags, defaulting to the
// environment the kubernetes target gives a pod.
func parseRunFunction(args []string, getenv func(string) string, stderr io.Writer) (runFunctionOptions, error) {
	fs := flag.NewFlagSet("run-function", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o runFunctionOptions
	port := getenv("PORT")
	if port == "" {
		port = "8080"
	}
	dir := getenv("SEEDBED_RUNNER_DIR")
	if dir == "" {
		dir = os.TempDir() + "/seedbed-runner"
	}
	fs.StringVar(&o.app, "app", getenv("SEEDBED_APP"), "app of the function (env SEEDBED_APP)")
	fs.StringVar(&o.stage, "stage", getenv("SEEDBED_STAGE"), "stage of the function (env SEEDBED_STAGE)")
	fs.StringVar(&o.spec, "function", getenv("SEEDBED_RUNNER_FUNCTION"), "the function as JSON, or @FILE (env SEEDBED_RUNNER_FUNCTION)")
	fs.StringVar(&o.store, "artifact-store", getenv("SEEDBED_ARTIFACT_STORE"), "where to fetch the artifact: http(s)://… of seedbed serve or file:///… (env SEEDBED_ARTIFACT_STORE)")
	fs.StringVar(&o.token, "token", getenv("SEEDBED_ARTIFACT_TOKEN"), "token granting the artifact (env SEEDBED_ARTIFACT_TOKEN)")
	// Only from the env (a flag would show in the pod's command line).
	o.queueToken = getenv("SEEDBED_QUEUE_TOKEN")
	o.logsToken = getenv("SEEDBED_LOGS_TOKEN")
	fs.StringVar(&o.logsURL, "logs-url", getenv("SEEDBED_LOGS_URL"), "seedbed serve's endpoint for the function's log lines; empty ships none (env SEEDBED_LOGS_URL)")
	instance := getenv("HOSTNAME") // a pod's name
	if instance == "" {
		instance, _ = os.Hostname()
	}
	fs.StringVar(&o.instance, "instance", instance, "the instance the log lines name (env HOSTNAME: the pod's name)")
	fs.StringVar(&o.dir, "dir", dir, "folder for the artifact and the function's files (env SEEDBED_RUNNER_DIR)")
	fs.StringVar(&o.addr, "addr", ":"+port, "address to serve the function on (env PORT)")
	fs.StringVar(&o.domain, "domain", getenv("SEEDBED_DOMAIN"), "the gateway's domain, for host routing (env SEEDBED_DOMAIN)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, usageError("seedbed run-function [flags] (no arguments)")
	}
	var missing []string
	for _, m := range []struct{ v, name string }{{o.app, "--app"}, {o.stage, "--stage"}, {o.spec, "--function"}, {o.store, "--artifact-store"}} {
		if m.v == "" {
			missing = append(missing, m.name)
		}
	}
	if len(missing) > 0 {
		return o, usageError("seedbed run-function: set " + strings.Join(missing, ", ") + " (or their environment variables)")
	}
	return o, nil
}

// runFunction fetches, verifies and serves one function until ctx ends.
// ready, if not nil, hears the address once the function serves.
func runFunction(ctx context.Context, o runFunctionOptions, stderr io.Writer, ready func(addr string)) error {
	raw := o.spec
	if name, ok := strings.CutPrefix(raw, "@"); ok {
		b, err := os.ReadFile(name)
		if err != nil {
			return fmt.Errorf("run-function: read the function spec: %w", err)
		}
		raw = string(b)
	}
	var fn targets.Function
	if err := json.Unmarshal([]byte(raw), &fn); err != nil {
		return fmt.Errorf("run-function: the function spec is not a function as JSON: %w", err)
	}
	src, err := runner.OpenSource(o.store, o.token)
	if err != nil {
		return fmt.Errorf("run-function: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cfg := runner.Config{
		Stage:    targets.StageRef{App: o.app, Stage: o.stage},
		Function: fn, Source: src, Dir: o.dir, Addr: o.addr, Domain: o.domain, Logger: log,
		QueueToken: o.queueToken,
	}
	if o.logsURL == "" {
		return runner.Run(ctx, cfg, ready)
	}
	shipper, err := runner.NewLogShipper(runner.LogShipperConfig{
		URL: o.logsURL, Token: o.logsToken, Instance: o.instance, Digest: fn.Digest, Logger: log,
		// The runner's own credentials, should the function print them.
		Mask: []string{o.logsToken, o.token},
	})
	if err != nil {
		return fmt.Errorf("run-function: %w", err)
	}
	cfg.Logs = shipper
	runErr := runner.Run(ctx, cfg, ready)
	// The function has stopped: its last lines are queued. A pod has
	// 30 s between SIGTERM and SIGKILL; the lines get a few of them.
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), logFlushTimeout)
	defer cancel()
	if err := shipper.Close(closeCtx); err != nil {
		log.Warn("function log lines lost at shutdown", "err", err)
	}
	return runErr
}

// logFlushTimeout bounds how long run-function tries to send the
// function's last log lines once it has stopped.
const logFlushTimeout = 10 * time.Second

// runFunctionCommand is `seedbed run-function`, the entry point of the
// kubernetes target's pods; not for people, so hidden.
func runFunctionCommand(e cliEnv) *cobra.Command {
	return &cobra.Command{
		Use:                "run-function",
		Short:              "Fetch, verify and serve one function (the kubernetes target's pods run it)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := parseRunFunction(args, e.getenv, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return runFunction(cmd.Context(), o, cmd.ErrOrStderr(), nil)
		},
	}
}
