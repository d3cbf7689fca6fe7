package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/seedbed/seedbed/web/apiv1"
)

// cmdPreviews manages an app's preview stages: one stage pr-N per pull
// request, cloned from a template stage.
func cmdPreviews(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const use = "seedbed previews list APP | enable APP --template STAGE | disable APP | open APP NUMBER (--commit SHA | --branch B) [--title T] | close APP NUMBER [--force]"
	if len(args) == 0 {
		return usageError(use)
	}
	fs := newFlagSet("previews "+args[0], use+"\n\nA preview stage pr-N is cloned from the template stage (variables, secrets, target) when pull request N opens, takes its later pushes, and stops when it closes; its history stays.", stderr)
	template := fs.String("template", "", "the stage preview stages are cloned from, e.g. dev")
	commit := fs.String("commit", "", "the commit to deploy")
	branch := fs.String("branch", "", "the pull request's head branch (deployed when no --commit is given)")
	title := fs.String("title", "", "the pull request's title")
	force := fs.Bool("force", false, "close without running the remove hooks of the preview's live release")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	c, err := client(getenv)
	if err != nil {
		return err
	}
	number := func() (int, error) {
		n, err := strconv.Atoi(pos[1])
		if err != nil || n <= 0 {
			return 0, usageError(fmt.Sprintf("%q is not a pull request number; give e.g. 7", pos[1]))
		}
		return n, nil
	}
	switch args[0] {
	case "list", "ls":
		if len(pos) != 1 {
			return usageError(use)
		}
		p, err := c.Previews(ctx, pos[0])
		if err != nil {
			return err
		}
		return printPreviews(stdout, pos[0], p)
	case "enable", "disable":
		if len(pos) != 1 || (args[0] == "enable" && *template == "") {
			return usageError(use)
		}
		if args[0] == "disable" {
			*template = ""
		}
		p, err := c.SetPreviews(ctx, pos[0], apiv1.PreviewSettings{TemplateStage: *template})
		if err != nil {
			return err
		}
		if p.TemplateStage == "" {
			fmt.Fprintf(stdout, "Preview stages of %s are off; existing ones stay until their pull requests close.\n", pos[0])
			return nil
		}
		fmt.Fprintf(stdout, "Preview stages of %s are on, cloned from %s.\n", pos[0], p.TemplateStage)
		return nil
	case "open":
		if len(pos) != 2 {
			return usageError(use)
		}
		n, err := number()
		if err != nil {
			return err
		}
		res, err := c.OpenPreview(ctx, pos[0], apiv1.PreviewRequest{Number: n, HeadBranch: *branch, Commit: *commit, Title: *title})
		if err != nil {
			return err
		}
		verb := "Updating"
		if res.Created {
			verb = "Created"
		}
		fmt.Fprintf(stdout, "%s preview stage %s: build #%d, deploy #%d (%s).\nIt will serve at %s\n", verb, res.Preview.Stage, res.Build.ID, res.Deploy.ID, res.Deploy.URL, res.Preview.URL)
		return nil
	case "close":
		if len(pos) != 2 {
			return usageError(use)
		}
		n, err := number()
		if err != nil {
			return err
		}
		p, err := c.ClosePreview(ctx, pos[0], n, apiv1.RemoveOptions{Force: *force})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Preview stage %s closed: its functions are stopped, its history is kept.\n", p.Stage)
		return nil
	}
	return usageError(use)
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
