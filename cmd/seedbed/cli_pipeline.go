package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/seedbed/seedbed/web/apiv1"
)

// printChangeSet writes a change set the way the console groups it.
func printChangeSet(w io.Writer, cs apiv1.ChangeSet) {
	fmt.Fprintln(w, cs.Summary)
	groups := []struct {
		title string
		keep  func(apiv1.FunctionChange) bool
	}{
		{"Major changes", func(f apiv1.FunctionChange) bool { return f.Kind != "keep" && f.Major }},
		{"Minor changes", func(f apiv1.FunctionChange) bool { return f.Kind != "keep" && !f.Major }},
	}
	marks := map[string]string{"add": "+", "change": "~", "remove": "-"}
	for _, g := range groups {
		first := true
		for _, f := range cs.Functions {
			if !g.keep(f) {
				continue
			}
			if first {
				fmt.Fprintf(w, "%s:\n", g.title)
				first = false
			}
			fmt.Fprintf(w, "  %s %s\n", marks[f.Kind], f.Key)
			for _, d := range f.Detail {
				fmt.Fprintf(w, "      %s\n", d)
			}
		}
	}
}

func cmdPromote(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	const use = "seedbed promote APP --from STAGE [--to STAGE] [--yes] [--wait]"
	fs := newFlagSet("promote", use+"\n\nDeploys the release live in one stage to the next, without building: same artifacts, the next stage's env.\nIt deploys the release the preview shows, or nothing: if the source stage serves another one\nby the time you answer, the promotion is refused; run it again to review the new one.", stderr)
	from := fs.String("from", "", "the stage whose live release is promoted")
	to := fs.String("to", "", "the stage to promote into; default the next one in the pipeline")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	wait := fs.Bool("wait", false, "follow the deploy (and its approval); exit non-zero if it fails")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *from == "" {
		return usageError(use)
	}
	c, err := client(getenv)
	if err != nil {
		return err
	}
	req := apiv1.PromoteRequest{From: *from, To: *to}
	plan, err := c.PlanPromotion(ctx, pos[0], req)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Promote %s: %s → %s, release #%d (build #%d, %s %s)\n", pos[0], plan.From, plan.To, plan.Release.ID, plan.Release.BuildID, shortSHA(plan.Release.Commit), plan.Release.Message)
	printChangeSet(stdout, plan.ChangeSet)
	switch {
	case plan.CommitsError != "":
		fmt.Fprintln(stdout, plan.CommitsError)
	case len(plan.Commits) > 0:
		fmt.Fprintf(stdout, "Commits (%d):\n", len(plan.Commits))
		for _, cm := range plan.Commits {
			fmt.Fprintf(stdout, "  %s %s (%s)\n", shortSHA(cm.SHA), cm.Message, cm.Author)
		}
	}
	if plan.NeedsApproval {
		fmt.Fprintf(stdout, "%s needs approval: the deploy waits until an approver approves it.\n", plan.To)
	}
	if !*yes {
		fmt.Fprintf(stdout, "Promote to %s? [y/N] ", plan.To)
		answer, _ := bufio.NewReader(stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			fmt.Fprintln(stdout, "Nothing was promoted.")
			return exitError{1}
		}
	}
	// Name what was shown: if the source moved meanwhile, the server refuses.
	d, err := c.Promote(ctx, pos[0], apiv1.PromoteRequest{From: plan.From, To: plan.To, ReleaseID: plan.Release.ID})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Deploy #%d to %s is %s.\n  %s%s\n", d.ID, d.Stage, strings.ReplaceAll(d.Status, "_", " "), c.BaseURL, d.URL)
	if !*wait {
		return nil
	}
	return waitForDeploy(ctx, c, stdout, stderr, pos[0], d.ID)
}

func cmdRollback(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const use = "seedbed rollback APP --stage STAGE [--to RELEASE] [--wait]"
	fs := newFlagSet("rollback", use+"\n\nDeploys an earlier release of the stage again (default: the one before the current).", stderr)
	stage := fs.String("stage", "", "the stage to roll back")
	to := fs.Uint("to", 0, "the release id to go back to")
	wait := fs.Bool("wait", false, "follow the deploy; exit non-zero if it fails")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *stage == "" {
		return usageError(use)
	}
	c, err := client(getenv)
	if err != nil {
		return err
	}
	d, err := c.Rollback(ctx, pos[0], *stage, apiv1.RollbackRequest{ReleaseID: *to})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Rolling %s back to release #%d: deploy #%d.\n  %s%s\n", d.Stage, d.ReleaseID, d.ID, c.BaseURL, d.URL)
	if !*wait {
		return nil
	}
	return waitForDeploy(ctx, c, stdout, stderr, pos[0], d.ID)
}

// cmdDecide approves, rejects or cancels.
func cmdDecide(ctx context.Context, verb string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	use := "seedbed " + verb + " DEPLOY_ID"
	if verb == "approve" {
		use += " [--wait]"
	}
	fs := newFlagSet(verb, use, stderr)
	reason := fs.String("reason", "", "why (reject only)")
	build := fs.Bool("build", false, "the id is a build's (cancel only)")
	wait := fs.Bool("wait", false, "follow the approved deploy; exit non-zero if it fails (approve only)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError(use)
	}
	if *wait && verb != "approve" {
		return fmt.Errorf("--wait goes with approve only (and deploy, promote, rollback)")
	}
	id, err := strconv.ParseUint(pos[0], 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not an id", pos[0])
	}
	c, err := client(getenv)
	if err != nil {
		return err
	}
	if verb == "cancel" && *build {
		b, err := c.CancelBuild(ctx, uint(id))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Build #%d is being cancelled.\n", b.ID)
		return nil
	}
	var d apiv1.Deploy
	switch verb {
	case "approve":
		d, err = c.Approve(ctx, uint(id))
	case "reject":
		d, err = c.Reject(ctx, uint(id), *reason)
	default:
		d, err = c.CancelDeploy(ctx, uint(id))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Deploy #%d to %s is %s.\n", d.ID, d.Stage, strings.ReplaceAll(d.Status, "_", " "))
	if !*wait {
		return nil
	}
	return waitForDeploy(ctx, c, stdout, stderr, d.App, d.ID)
}

func cmdStages(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const use = "seedbed stages list APP | create APP NAME [--after STAGE] [--branch B] [--approval] [--protected] | update APP NAME [...] | delete APP NAME [--force] | order APP STAGE..."
	if len(args) == 0 {
		return usageError(use)
	}
	c, err := client(getenv)
	if err != nil {
		return err
	}
	fs := newFlagSet("stages "+args[0], use, stderr)
	branch := fs.String("branch", "", "branch (or glob) whose pushes deploy here")
	approval := fs.Bool("approval", false, "promotions into the stage wait for approval")
	protected := fs.Bool("protected", false, "only promotions and rollbacks, no direct deploys")
	force := fs.Bool("force", false, "delete without running the remove hooks of the stage's live release")
	after := fs.String("after", "", "create only: put the new stage right after this one (default: last)")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	switch args[0] {
	case "list", "ls":
		if len(pos) != 1 {
			return usageError(use)
		}
		stages, err := c.Stages(ctx, pos[0])
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "STAGE\tBRANCH\tAPPROVAL\tPROTECTED\tLIVE\tURL")
		for _, st := range stages {
			live := "-"
			if st.LiveRelease != nil {
				live = fmt.Sprintf("#%d %s", st.LiveRelease.ID, shortSHA(st.LiveRelease.Commit))
			}
			fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t%s\t%s\n", st.Name, orDash(st.Branch), st.Approval, st.Protected, live, st.URL)
		}
		return tw.Flush()
	case "create", "update":
		if len(pos) != 2 {
			return usageError(use)
		}
		req := apiv1.StageRequest{Name: pos[1], Branch: *branch, Approval: *approval, Protected: *protected}
		var st apiv1.Stage
		if args[0] == "create" {
			req.After = *after
			st, err = c.CreateStage(ctx, pos[0], req)
		} else if *after != "" {
			return fmt.Errorf("--after places a new stage; to move %s, use: seedbed stages order %s STAGE...", pos[1], pos[0])
		} else {
			st, err = c.UpdateStage(ctx, pos[0], pos[1], req)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Stage %s: branch %s, approval %v, protected %v.\n", st.Name, orDash(st.Branch), st.Approval, st.Protected)
		if args[0] == "create" {
			if stages, err := c.Stages(ctx, pos[0]); err == nil {
				var names []string
				for _, s := range stages {
					names = append(names, s.Name)
				}
				fmt.Fprintf(stdout, "Pipeline of %s: %s\n", pos[0], strings.Join(names, " → "))
			}
		}
		return nil
	case "delete", "rm":
		if len(pos) != 2 {
			return usageError(use)
		}
		if err := c.DeleteStage(ctx, pos[0], pos[1], apiv1.RemoveOptions{Force: *force}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Stage %s deleted; its functions are stopped.\n", pos[1])
		return nil
	case "order":
		if len(pos) < 2 {
			return usageError(use)
		}
		stages, err := c.ReorderStages(ctx, pos[0], pos[1:])
		if err != nil {
			return err
		}
		var names []string
		for _, st := range stages {
			names = append(names, st.Name)
		}
		fmt.Fprintf(stdout, "Pipeline of %s: %s\n", pos[0], strings.Join(names, " → "))
		return nil
	}
	return usageError(use)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func cmdEnv(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	const use = "seedbed env list APP --stage S | set APP --stage S [--secret] KEY=VALUE... | unset APP --stage S KEY..."
	if len(args) == 0 {
		return usageError(use)
	}
	fs := newFlagSet("env "+args[0], use+"\n\nA secret's value is encrypted, masked in logs and never shown again. `set --secret KEY` with no =VALUE reads the value from standard input.", stderr)
	stage := fs.String("stage", "", "the stage")
	secret := fs.Bool("secret", false, "store the values as secrets")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) < 1 || *stage == "" {
		return usageError(use)
	}
	c, err := client(getenv)
	if err != nil {
		return err
	}
	app := pos[0]
	switch args[0] {
	case "list", "ls":
		vars, err := c.Vars(ctx, app, *stage)
		if err != nil {
			return err
		}
		if len(vars) == 0 {
			fmt.Fprintf(stdout, "Stage %s has no variables. Set one with: seedbed env set %s --stage %s KEY=VALUE\n", *stage, app, *stage)
			return nil
		}
		for _, v := range vars {
			if v.Secret {
				fmt.Fprintf(stdout, "%s=•••••• (secret)\n", v.Key)
			} else {
				fmt.Fprintf(stdout, "%s=%s\n", v.Key, v.Value)
			}
		}
		return nil
	case "set":
		if len(pos) < 2 {
			return usageError(use)
		}
		for _, kv := range pos[1:] {
			key, value, ok := strings.Cut(kv, "=")
			if !ok {
				if !*secret {
					return fmt.Errorf("%q has no =VALUE; write KEY=VALUE (or --secret KEY to read the value from standard input)", kv)
				}
				b, err := io.ReadAll(io.LimitReader(stdin, 64<<10))
				if err != nil {
					return fmt.Errorf("read the value of %s: %w", key, err)
				}
				value = strings.TrimRight(string(b), "\r\n")
			}
			if err := c.SetVar(ctx, app, *stage, key, apiv1.SetVarRequest{Value: value, Secret: *secret}); err != nil {
				return err
			}
			kind := "variable"
			if *secret {
				kind = "secret"
			}
			fmt.Fprintf(stdout, "Set %s %s on %s; it takes effect with the next deploy.\n", kind, key, *stage)
		}
		return nil
	case "unset":
		if len(pos) < 2 {
			return usageError(use)
		}
		for _, key := range pos[1:] {
			if err := c.UnsetVar(ctx, app, *stage, key); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "Unset %s on %s.\n", key, *stage)
		}
		return nil
	}
	return usageError(use)
}
