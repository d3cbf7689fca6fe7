package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

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

const targetUse = "seedbed target APP STAGE [--target local|kubernetes] [--namespace NS] [--kubeconfig PATH] [--image IMAGE] [--image-pull-secret NAME] [--replicas N] [--memory MIB] [--cpu Q] [--progress-deadline SECONDS] [--output json]"

// parseTarget reads the flags of `seedbed target`.
func parseTarget(args []string, stderr io.Writer) (targetOptions, error) {
	fs := newFlagSet("target", targetUse+"\n\nShows or chooses where a stage's functions run: local (processes on the Seedbed server) or kubernetes (Deployments in a cluster). A change takes effect at the stage's next deploy; the same artifacts run on either.", stderr)
	target := fs.String("target", "", "local or kubernetes (omit to show the current target)")
	k := apiv1.KubernetesSettings{}
	fs.StringVar(&k.Namespace, "namespace", "", "kubernetes: the namespace of the stage's objects (must exist)")
	fs.StringVar(&k.Kubeconfig, "kubeconfig", "", "kubernetes: absolute path of a kubeconfig on the server (empty: the cluster Seedbed runs in)")
	fs.StringVar(&k.Image, "image", "", "kubernetes: the runner image (empty: the server's --runner-image)")
	fs.StringVar(&k.ImagePullSecret, "image-pull-secret", "", "kubernetes: a Secret in the namespace for pulling the image")
	fs.IntVar(&k.Replicas, "replicas", 0, "kubernetes: pods per function (default 1)")
	fs.IntVar(&k.Memory, "memory", 0, "kubernetes: memory limit in MiB of functions that set none (default 256)")
	fs.StringVar(&k.CPU, "cpu", "", "kubernetes: CPU request per pod, e.g. 100m (default 100m)")
	fs.IntVar(&k.ProgressDeadline, "progress-deadline", 0, "kubernetes: seconds a new revision may take to become available (default 120)")
	output := fs.String("output", "", "json to print the result as JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return targetOptions{}, err
	}
	if len(pos) != 2 {
		return targetOptions{}, usageError(targetUse)
	}
	if *output != "" && *output != "json" {
		return targetOptions{}, usageError("--output takes json")
	}
	o := targetOptions{app: pos[0], stage: pos[1], output: *output, set: *target != ""}
	o.target.Target = *target
	if k != (apiv1.KubernetesSettings{}) {
		if *target != "kubernetes" {
			return o, usageError("--namespace and the other kubernetes flags go with --target kubernetes")
		}
		o.target.Kubernetes = &k
	}
	return o, nil
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

func cmdTarget(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseTarget(args, stderr)
	if err != nil {
		return err
	}
	c, err := client(getenv)
	if err != nil {
		return err
	}
	return runTarget(ctx, c, o, stdout)
}
