package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/seedbed/seedbed/web/apiv1"
)

// mapCommand is `seedbed map`: a stage's map in words, what the console
// draws at /apps/APP/stages/STAGE/map.
func mapCommand(e cliEnv) *cobra.Command {
	var stage string
	cmd := &cobra.Command{
		Use:   "map APP --stage STAGE",
		Short: "Show a stage's functions as its release declares them beside what runs",
		Long: "Shows each function of a stage's live release with its health over the last minutes\n" +
			"(ok, erroring, down, idle), its requests per minute, its routes and events, and says where\n" +
			"what runs differs from the release: a function missing, crash-looping, running without being\n" +
			"declared, or running another build. The console draws the same as a diagram.",
		Example: `  seedbed map shop --stage prod
  seedbed map shop --stage prod --output json | jq -r '.differences[]'`,
		Args: positional("APP"),
	}
	cmd.Flags().StringVar(&stage, "stage", "", "the stage to show")
	_ = cmd.MarkFlagRequired("stage")
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := e.client()
		if err != nil {
			return err
		}
		return runMap(cmd.Context(), c, args[0], stage, out.json(), cmd.OutOrStdout())
	}
	return cmd
}

func runMap(ctx context.Context, c *apiv1.Client, app, stage string, asJSON bool, out io.Writer) error {
	m, err := c.StageMap(ctx, app, stage)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(out, m)
	}
	printMap(out, m)
	return nil
}

// printMap writes m as text: a summary, what differs, a table of the
// functions. Every name passes through forTerminal: they come from users.
func printMap(out io.Writer, m apiv1.StageMap) {
	if m.Release == 0 {
		fmt.Fprintf(out, "Nothing is deployed to stage %s of %s yet.\n", forTerminal(m.Stage), forTerminal(m.App))
		return
	}
	fmt.Fprintf(out, "Stage %s of %s serves release #%d; health over the last %d minutes.\n",
		forTerminal(m.Stage), forTerminal(m.App), m.Release, m.WindowSeconds/60)
	switch {
	case !m.RunningKnown:
		fmt.Fprintln(out, "This server does not run the stage's functions: what runs is not known, only the release.")
	case len(m.Differences) > 0:
		fmt.Fprintf(out, "What runs differs from release #%d:\n", m.Release)
		for _, d := range m.Differences {
			fmt.Fprintf(out, "  %s\n", forTerminal(d))
		}
	default:
		fmt.Fprintf(out, "What runs is what release #%d declares.\n", m.Release)
	}
	if !m.Metrics {
		fmt.Fprintln(out, "This server keeps no request metrics: health and rates are unknown.")
	}
	if len(m.Firing) > 0 {
		fmt.Fprintf(out, "Alert rules firing: %s\n", forTerminal(strings.Join(m.Firing, ", ")))
	}
	labels := map[string]string{}
	for _, n := range m.Nodes {
		labels[n.ID] = n.Label
	}
	into := map[string][]string{} // function id → its routes and events
	for _, e := range m.Edges {
		from := labels[e.From]
		if e.Event {
			kind, _, _ := strings.Cut(e.From, ":")
			from = kind + " " + from
		}
		into[e.To] = append(into[e.To], from)
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FUNCTION\tHEALTH\tDIFFERS\tREQ/MIN\tROUTES AND EVENTS")
	for _, n := range m.Nodes {
		if n.Kind != "function" {
			continue
		}
		drift := strings.ReplaceAll(n.Drift, "_", "-")
		if drift == "" {
			drift = "-"
		}
		rpm := "-"
		if m.Metrics {
			rpm = strconv.FormatFloat(n.PerMinute, 'f', 1, 64)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", forTerminal(n.Label), n.Health, drift, rpm, forTerminal(strings.Join(into[n.ID], ", ")))
	}
	tw.Flush()
}
