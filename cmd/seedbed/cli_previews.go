package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/seedbed/seedbed/web/apiv1"
)

const previewsLong = `A preview stage pr-N is cloned from the template stage (variables, secrets,
target) when pull request N opens, takes its later pushes, and stops when it
closes; its history stays. Webhooks from the forge open and close them; these
commands do it by hand.`

// previewsCommand manages an app's preview stages: one stage pr-N per pull
// request, cloned from a template stage.
func previewsCommand(e cliEnv) *cobra.Command {
	list := appDataCommand(e, &cobra.Command{
		Use:     "list APP",
		Aliases: []string{"ls"},
		Short:   "Show whether previews are on and list the preview stages",
		Example: "  seedbed previews list shop\n  seedbed previews list shop --output json | jq '.previews[].url'",
	}, func(ctx context.Context, c *apiv1.Client, app string) (apiv1.Previews, error) {
		return c.Previews(ctx, app)
	}, printPreviews)

	var template string
	enable := &cobra.Command{
		Use:               "enable APP --template STAGE",
		Short:             "Turn preview stages on, cloned from a template stage",
		Example:           "  seedbed previews enable shop --template dev",
		Args:              positional("APP"),
		ValidArgsFunction: e.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			return setPreviews(cmd, e, args[0], template)
		},
	}
	enable.Flags().StringVar(&template, "template", "", "the stage preview stages are cloned from, e.g. dev")
	_ = enable.MarkFlagRequired("template")
	disable := &cobra.Command{
		Use:               "disable APP",
		Short:             "Turn preview stages off (open ones stay until they close)",
		Example:           "  seedbed previews disable shop",
		Args:              positional("APP"),
		ValidArgsFunction: e.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			return setPreviews(cmd, e, args[0], "")
		},
	}

	var open apiv1.PreviewRequest
	openCmd := &cobra.Command{
		Use:   "open APP NUMBER (--commit SHA | --branch B) [--title T]",
		Short: "Open or update the preview stage of a pull request",
		Example: `  seedbed previews open shop 7 --branch feature/cart --title "New cart"
  seedbed previews open shop 7 --commit 3f2c1a9`,
		Args:              positional("APP", "NUMBER"),
		ValidArgsFunction: e.completeApps,
	}
	openCmd.Flags().StringVar(&open.Commit, "commit", "", "the commit to deploy")
	openCmd.Flags().StringVar(&open.HeadBranch, "branch", "", "the pull request's head branch (deployed when no --commit is given)")
	openCmd.Flags().StringVar(&open.Title, "title", "", "the pull request's title")
	openCmd.MarkFlagsOneRequired("commit", "branch")
	openOut := addOutputFlag(openCmd)
	openCmd.RunE = func(cmd *cobra.Command, args []string) error {
		n, err := prNumber(args[1])
		if err != nil {
			return err
		}
		c, err := e.client()
		if err != nil {
			return err
		}
		open.Number = n
		res, err := c.OpenPreview(cmd.Context(), args[0], open)
		if err != nil {
			return err
		}
		return openOut.print(cmd.OutOrStdout(), res, func(w io.Writer) error {
			verb := "Updating"
			if res.Created {
				verb = "Created"
			}
			_, err := fmt.Fprintf(w, "%s preview stage %s: build #%d, deploy #%d (%s).\nIt will serve at %s\n", verb, res.Preview.Stage, res.Build.ID, res.Deploy.ID, res.Deploy.URL, res.Preview.URL)
			return err
		})
	}

	var force bool
	closeCmd := &cobra.Command{
		Use:   "close APP NUMBER [--force]",
		Short: "Close the preview stage of a pull request; its history stays",
		Example: `  seedbed previews close shop 7
  seedbed previews close shop 7 --force   # without the remove hooks`,
		Args:              positional("APP", "NUMBER"),
		ValidArgsFunction: e.completeApps,
	}
	closeCmd.Flags().BoolVar(&force, "force", false, "close without running the remove hooks of the preview's live release")
	closeOut := addOutputFlag(closeCmd)
	closeCmd.RunE = func(cmd *cobra.Command, args []string) error {
		n, err := prNumber(args[1])
		if err != nil {
			return err
		}
		c, err := e.client()
		if err != nil {
			return err
		}
		p, err := c.ClosePreview(cmd.Context(), args[0], n, apiv1.RemoveOptions{Force: force})
		if err != nil {
			return err
		}
		return closeOut.print(cmd.OutOrStdout(), p, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Preview stage %s closed: its functions are stopped, its history is kept.\n", p.Stage)
			return err
		})
	}
	g := group("previews", "Preview stages per pull request: list, turn on and off, open and close",
		"  seedbed previews enable shop --template dev\n  seedbed previews list shop\n  seedbed previews open shop 7 --branch feature/cart\n  seedbed previews close shop 7",
		list, enable, disable, openCmd, closeCmd)
	g.Long = previewsLong
	return g
}

func prNumber(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, usageError(fmt.Sprintf("%q is not a pull request number; give e.g. 7", s))
	}
	return n, nil
}

// setPreviews turns preview stages on (template named) or off.
func setPreviews(cmd *cobra.Command, e cliEnv, app, template string) error {
	c, err := e.client()
	if err != nil {
		return err
	}
	p, err := c.SetPreviews(cmd.Context(), app, apiv1.PreviewSettings{TemplateStage: template})
	if err != nil {
		return err
	}
	if p.TemplateStage == "" {
		fmt.Fprintf(cmd.OutOrStdout(), "Preview stages of %s are off; existing ones stay until their pull requests close.\n", app)
		return nil
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Preview stages of %s are on, cloned from %s.\n", app, p.TemplateStage)
	return nil
}

func printPreviews(w io.Writer, app string, p apiv1.Previews) error {
	if p.TemplateStage == "" {
		fmt.Fprintf(w, "Preview stages of %s are off (`seedbed previews enable %s --template dev` turns them on).\n", app, app)
	} else {
		fmt.Fprintf(w, "Preview stages of %s are cloned from %s.\n", app, p.TemplateStage)
	}
	if len(p.Previews) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PR\tSTAGE\tSTATUS\tBRANCH\tLIVE\tURL\tTITLE")
	for _, pr := range p.Previews {
		live := "-"
		if pr.LiveRelease != nil {
			live = fmt.Sprintf("#%d %s", pr.LiveRelease.ID, shortSHA(pr.LiveRelease.Commit))
		}
		url := pr.URL
		if pr.Status != "open" {
			url = "-"
		}
		fmt.Fprintf(tw, "#%d\t%s\t%s\t%s\t%s\t%s\t%s\n", pr.Number, pr.Stage, pr.Status, orDash(pr.HeadBranch), live, url, orDash(pr.Title))
	}
	return tw.Flush()
}
