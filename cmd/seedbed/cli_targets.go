package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/seedbed/seedbed/web/apiv1"
)

// targetOptions is `seedbed target APP STAGE [flags]`: with no --target it
// shows where the stage runs, with one it sets it.
type targetOptions struct {
	app, stage string
	set        bool // --target given
	target     apiv1.StageTarget
	output     string // "" or "json"
}

// runTarget shows or sets a stage's target.
func runTarget(ctx context.Context, c *apiv1.Client, o targetOptions, out io.Writer) error {
	var (
		t   apiv1.StageTarget
		err error
	)
	if o.set {
		t, err = c.SetStageTarget(ctx, o.app, o.stage, o.target)
	} else {
		t, err = c.StageTarget(ctx, o.app, o.stage)
	}
	if err != nil {
		return err
	}
	if o.output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(t)
	}
	fmt.Fprintf(out, "%s/%s runs on %s\n", o.app, o.stage, t.Target)
	if k := t.Kubernetes; k != nil {
		kc := k.Kubeconfig
		if kc == "" {
			kc = "(in-cluster)"
		}
		image := k.Image
		if image == "" {
			image = "(the server's runner image)"
		}
		rows := [][2]string{{"kubeconfig", kc}, {"namespace", k.Namespace}, {"image", image}}
		if k.ImagePullSecret != "" {
			rows = append(rows, [2]string{"image pull secret", k.ImagePullSecret})
		}
		defaults := []string{}
		if k.Replicas > 0 {
			defaults = append(defaults, fmt.Sprintf("replicas %d", k.Replicas))
		}
		if k.Memory > 0 {
			defaults = append(defaults, fmt.Sprintf("memory %d MiB", k.Memory))
		}
		if k.CPU != "" {
			defaults = append(defaults, "cpu "+k.CPU)
		}
		if k.ProgressDeadline > 0 {
			defaults = append(defaults, fmt.Sprintf("progress deadline %ds", k.ProgressDeadline))
		}
		if len(defaults) > 0 {
			rows = append(rows, [2]string{"pods", strings.Join(defaults, ", ")})
		}
		for _, r := range rows {
			fmt.Fprintf(out, "  %-18s %s\n", r[0]+":", r[1])
		}
	}
	if o.set {
		fmt.Fprintln(out, "The change takes effect at the stage's next deploy.")
	}
	return nil
}

// targetCommand is `seedbed target APP STAGE`.
func targetCommand(e cliEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "target APP STAGE",
		Short: "Show or choose where a stage's functions run: local or kubernetes",
		Long: "Shows or chooses where a stage's functions run: local (processes on the Seedbed server) or kubernetes " +
			"(Deployments in a cluster; see docs/kubernetes.md). A change takes effect at the stage's next deploy; the same artifacts run on either.",
		Example: "  seedbed target shop prod\n  seedbed target shop prod --target kubernetes --namespace apps --replicas 2\n  seedbed target shop prod --target local",
		Args:    positional("APP", "STAGE"), ValidArgsFunction: e.completeApps,
	}
	f := cmd.Flags()
	target := f.String("target", "", "local or kubernetes (omit to show the current target)")
	var k apiv1.KubernetesSettings
	f.StringVar(&k.Namespace, "namespace", "", "kubernetes: the namespace of the stage's objects (must exist)")
	f.StringVar(&k.Kubeconfig, "kubeconfig", "", "kubernetes: absolute path of a kubeconfig on the server (empty: the cluster Seedbed runs in)")
	f.StringVar(&k.Image, "image", "", "kubernetes: the runner image (empty: the server's --runner-image)")
	f.StringVar(&k.ImagePullSecret, "image-pull-secret", "", "kubernetes: a Secret in the namespace for pulling the image")
	f.IntVar(&k.Replicas, "replicas", 0, "kubernetes: pods per function (default 1)")
	f.IntVar(&k.Memory, "memory", 0, "kubernetes: memory limit in MiB of functions that set none (default 256)")
	f.StringVar(&k.CPU, "cpu", "", "kubernetes: CPU request per pod, e.g. 100m (default 100m)")
	f.IntVar(&k.ProgressDeadline, "progress-deadline", 0, "kubernetes: seconds a new revision may take to become available (default 120)")
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		o, err := targetOptionsOf(args[0], args[1], *target, k, string(*out))
		if err != nil {
			return err
		}
		c, err := e.client()
		if err != nil {
			return err
		}
		return runTarget(cmd.Context(), c, o, cmd.OutOrStdout())
	}
	return cmd
}

// targetOptionsOf checks the flags of `seedbed target` together.
func targetOptionsOf(app, stage, target string, k apiv1.KubernetesSettings, output string) (targetOptions, error) {
	if output == "text" {
		output = ""
	}
	o := targetOptions{app: app, stage: stage, output: output, set: target != ""}
	o.target.Target = target
	if k != (apiv1.KubernetesSettings{}) {
		if target != "kubernetes" {
			return o, usageError("--namespace and the other kubernetes flags go with --target kubernetes")
		}
		o.target.Kubernetes = &k
	}
	return o, nil
}
