package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/seedbed/seedbed/web/apiv1"
)

// driftCommand is `seedbed drift`: how a stage's objects on its target
// differ from what Seedbed applied, what the console shows on the map page.
func driftCommand(e cliEnv) *cobra.Command {
	var (
		stage    string
		exitCode bool
	)
	cmd := &cobra.Command{
		Use:   "drift APP --stage STAGE",
		Short: "Show what was changed by hand in a stage's objects on its target",
		Long: "Checks, on the stage's target, the objects of its live release against what Seedbed applied and\n" +
			"lists every difference: on kubernetes, a Deployment, Service, Secret or network policy edited or\n" +
			"deleted outside Seedbed (replicas, image, memory limit, selector, spec). The stage's next deploy\n" +
			"(a promotion or a rollback counts) puts each back. The local target has nothing that can drift.\n" +
			"A target that cannot be reached is an error, not \"no drift\". See docs/kubernetes.md.",
		Example: `  seedbed drift shop --stage prod
  seedbed drift shop --stage prod --exit-code >/dev/null || echo "prod drifted"
  seedbed drift shop --stage prod --output json | jq -r '.drift[]'`,
		Args: positional("APP"), ValidArgsFunction: e.completeApps,
	}
	cmd.Flags().StringVar(&stage, "stage", "", "the stage to check")
	_ = cmd.MarkFlagRequired("stage")
	cmd.Flags().BoolVar(&exitCode, "exit-code", false, "exit with 1 when the stage drifted (as git diff --exit-code), for scripts")
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := e.client()
		if err != nil {
			return err
		}
		return runDrift(cmd.Context(), c, args[0], stage, out.json(), exitCode, cmd.OutOrStdout())
	}
	return cmd
}

func runDrift(ctx context.Context, c *apiv1.Client, app, stage string, asJSON, exitCode bool, out io.Writer) error {
	d, err := c.StageDrift(ctx, app, stage)
	if err != nil {
		return err
	}
	if asJSON {
		err = writeJSON(out, d)
	} else {
		printDrift(out, app, stage, d)
	}
	if err == nil && exitCode && len(d.Drift) > 0 {
		return exitError{1}
	}
	return err
}

// printDrift writes d as text. Every name passes through forTerminal:
// object names come from users' stack files.
func printDrift(out io.Writer, app, stage string, d apiv1.StageDrift) {
	where := fmt.Sprintf("Stage %s of %s", forTerminal(stage), forTerminal(app))
	switch {
	case !d.Checked:
		fmt.Fprintf(out, "%s runs on the %s target: nothing of it can drift (Seedbed runs its processes itself).\n", where, forTerminal(d.Target))
	case len(d.Drift) == 0:
		fmt.Fprintf(out, "Drift: none. %s: its %s objects are as Seedbed applied them.\n", where, forTerminal(d.Target))
	default:
		changes := "changes"
		if len(d.Drift) == 1 {
			changes = "change"
		}
		fmt.Fprintf(out, "Drift: %d %s made outside Seedbed to the %s objects of %s:\n", len(d.Drift), changes, forTerminal(d.Target), forTerminal(stage))
		for _, f := range d.Drift {
			fmt.Fprintf(out, "  %s\n", forTerminal(f))
		}
		fmt.Fprintf(out, "The next deploy of %s (a promotion or a rollback counts) puts every one back.\n", forTerminal(stage))
	}
}
