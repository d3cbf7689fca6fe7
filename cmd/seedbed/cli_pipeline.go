package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

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

// promoteOptions are the flags of promote.
type promoteOptions struct {
	app, from, to string
	yes, wait     bool
}

func promoteCommand(e cliEnv) *cobra.Command {
	var o promoteOptions
	cmd := &cobra.Command{
		Use:   "promote APP --from STAGE [--to STAGE] [--yes] [--wait]",
		Short: "Deploy the release live in one stage to the next, without building",
		Long: "Deploys the release live in one stage to the next, without building: same artifacts, the next stage's env.\n" +
			"It shows what changes and asks first (--yes does not ask). It deploys the release the preview\n" +
			"shows, or nothing: if the source stage serves another one by the time you answer, the promotion\n" +
			"is refused; run it again to review the new one. With --output json the preview and the\n" +
			"question go to stderr and the deploy is printed as JSON.",
		Example: `  seedbed promote shop --from dev
  seedbed promote shop --from staging --to prod --yes --wait
  seedbed promote shop --from dev --yes --output json | jq .id`,
		Args:              positional("APP"),
		ValidArgsFunction: e.completeApps,
	}
	cmd.Flags().StringVar(&o.from, "from", "", "the stage whose live release is promoted")
	cmd.Flags().StringVar(&o.to, "to", "", "the stage to promote into; default the next one in the pipeline")
	cmd.Flags().BoolVar(&o.yes, "yes", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&o.wait, "wait", false, "follow the deploy (and its approval); exit non-zero if it fails")
	_ = cmd.MarkFlagRequired("from")
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := e.client()
		if err != nil {
			return err
		}
		o.app = args[0]
		return runPromote(cmd.Context(), c, o, out, cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
	}
	return cmd
}

func runPromote(ctx context.Context, c *apiv1.Client, o promoteOptions, out *outputFormat, stdin io.Reader, stdout, stderr io.Writer) error {
	human := stdout
	if out.json() {
		human = stderr
	}
	plan, err := c.PlanPromotion(ctx, o.app, apiv1.PromoteRequest{From: o.from, To: o.to})
	if err != nil {
		return err
	}
	fmt.Fprintf(human, "Promote %s: %s → %s, release #%d (build #%d, %s %s)\n", o.app, plan.From, plan.To, plan.Release.ID, plan.Release.BuildID, shortSHA(plan.Release.Commit), plan.Release.Message)
	printChangeSet(human, plan.ChangeSet)
	switch {
	case plan.CommitsError != "":
		fmt.Fprintln(human, plan.CommitsError)
	case len(plan.Commits) > 0:
		fmt.Fprintf(human, "Commits (%d):\n", len(plan.Commits))
		for _, cm := range plan.Commits {
			fmt.Fprintf(human, "  %s %s (%s)\n", shortSHA(cm.SHA), cm.Message, cm.Author)
		}
	}
	if plan.NeedsApproval {
		fmt.Fprintf(human, "%s needs approval: the deploy waits until an approver approves it.\n", plan.To)
	}
	if !o.yes {
		fmt.Fprintf(human, "Promote to %s? [y/N] ", plan.To)
		answer, _ := bufio.NewReader(stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			fmt.Fprintln(human, "Nothing was promoted.")
			return exitError{1}
		}
	}
	// Name what was shown: if the source moved meanwhile, the server refuses.
	d, err := c.Promote(ctx, o.app, apiv1.PromoteRequest{From: plan.From, To: plan.To, ReleaseID: plan.Release.ID})
	if err != nil {
		return err
	}
	fmt.Fprintf(human, "Deploy #%d to %s is %s.\n  %s%s\n", d.ID, d.Stage, strings.ReplaceAll(d.Status, "_", " "), c.BaseURL, d.URL)
	return finishDeploy(ctx, c, out, o.wait, d, stdout, stderr)
}

// finishDeploy ends the commands that start a deploy (promote, rollback,
// approve): with wait it follows the deploy to its end (waitForDeploy),
// and with --output json it prints the deploy, as it ended if waited for.
func finishDeploy(ctx context.Context, c *apiv1.Client, out *outputFormat, wait bool, d apiv1.Deploy, stdout, stderr io.Writer) error {
	if !wait {
		return printJSON(out, stdout, d)
	}
	human := stdout
	if out.json() {
		human = stderr
	}
	werr := waitForDeploy(ctx, c, human, stderr, d.App, d.ID)
	if out.json() {
		end, err := c.GetDeploy(ctx, d.ID)
		if err != nil {
			return err
		}
		if err := printJSON(out, stdout, end); err != nil {
			return err
		}
	}
	return werr
}

// rollbackOptions are the flags of rollback.
type rollbackOptions struct {
	app, stage string
	to         uint
	wait       bool
}

func rollbackCommand(e cliEnv) *cobra.Command {
	var o rollbackOptions
	cmd := &cobra.Command{
		Use:   "rollback APP --stage STAGE [--to RELEASE] [--wait]",
		Short: "Deploy an earlier release of a stage again",
		Long:  "Deploys an earlier release of the stage again (default: the one before the current).",
		Example: `  seedbed rollback shop --stage prod --wait
  seedbed rollback shop --stage prod --to 17`,
		Args:              positional("APP"),
		ValidArgsFunction: e.completeApps,
	}
	cmd.Flags().StringVar(&o.stage, "stage", "", "the stage to roll back")
	cmd.Flags().UintVar(&o.to, "to", 0, "the release id to go back to")
	cmd.Flags().BoolVar(&o.wait, "wait", false, "follow the deploy; exit non-zero if it fails")
	_ = cmd.MarkFlagRequired("stage")
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := e.client()
		if err != nil {
			return err
		}
		o.app = args[0]
		d, err := c.Rollback(cmd.Context(), o.app, o.stage, apiv1.RollbackRequest{ReleaseID: o.to})
		if err != nil {
			return err
		}
		if d.App == "" {
			d.App = o.app
		}
		fmt.Fprintf(out.human(cmd), "Rolling %s back to release #%d: deploy #%d.\n  %s%s\n", d.Stage, d.ReleaseID, d.ID, c.BaseURL, d.URL)
		return finishDeploy(cmd.Context(), c, out, o.wait, d, cmd.OutOrStdout(), cmd.ErrOrStderr())
	}
	return cmd
}

func approveCommand(e cliEnv) *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "approve DEPLOY_ID [--wait]",
		Short: "Approve a promotion awaiting approval (approvers only)",
		Long:  "Approves a deploy into a stage that needs approval; it starts right away.",
		Example: `  seedbed approve 31
  seedbed approve 31 --wait`,
		Args: positional("DEPLOY_ID"),
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the approved deploy; exit non-zero if it fails")
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return decide(cmd, e, args[0], out, func(ctx context.Context, c *apiv1.Client, id uint) (apiv1.Deploy, error) {
			return c.Approve(ctx, id)
		}, wait)
	}
	return cmd
}

func rejectCommand(e cliEnv) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:     "reject DEPLOY_ID [--reason TEXT]",
		Short:   "Reject a promotion awaiting approval (approvers only)",
		Example: `  seedbed reject 31 --reason "wait for the migration"`,
		Args:    positional("DEPLOY_ID"),
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why; shown with the deploy")
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return decide(cmd, e, args[0], out, func(ctx context.Context, c *apiv1.Client, id uint) (apiv1.Deploy, error) {
			return c.Reject(ctx, id, reason)
		}, false)
	}
	return cmd
}

func cancelCommand(e cliEnv) *cobra.Command {
	var build bool
	cmd := &cobra.Command{
		Use:   "cancel DEPLOY_ID | cancel --build BUILD_ID",
		Short: "Cancel a deploy, or with --build a build",
		Long: "Cancels a deploy that has not finished (queued, awaiting approval or running), or with\n" +
			"--build a build: the build stops and its deploys do not happen.",
		Example: `  seedbed cancel 31            # deploy #31
  seedbed cancel --build 42    # build #42`,
		Args: positional("ID"),
	}
	cmd.Flags().BoolVar(&build, "build", false, "the id is a build's, not a deploy's")
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if !build {
			return decide(cmd, e, args[0], out, func(ctx context.Context, c *apiv1.Client, id uint) (apiv1.Deploy, error) {
				return c.CancelDeploy(ctx, id)
			}, false)
		}
		id, err := parseID(args[0], "build")
		if err != nil {
			return err
		}
		c, err := e.client()
		if err != nil {
			return err
		}
		b, err := c.CancelBuild(cmd.Context(), id)
		if err != nil {
			return err
		}
		return out.print(cmd.OutOrStdout(), b, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Build #%d is being cancelled.\n", b.ID)
			return err
		})
	}
	return cmd
}

// decide approves, rejects or cancels a deploy and says where it stands.
func decide(cmd *cobra.Command, e cliEnv, arg string, out *outputFormat, act func(context.Context, *apiv1.Client, uint) (apiv1.Deploy, error), wait bool) error {
	id, err := parseID(arg, "deploy")
	if err != nil {
		return err
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	d, err := act(cmd.Context(), c, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(out.human(cmd), "Deploy #%d to %s is %s.\n", d.ID, d.Stage, strings.ReplaceAll(d.Status, "_", " "))
	return finishDeploy(cmd.Context(), c, out, wait, d, cmd.OutOrStdout(), cmd.ErrOrStderr())
}

// stageOptions are the flags of stages create and update.
type stageOptions struct {
	app, after string
	req        apiv1.StageRequest
}

func stagesCommand(e cliEnv) *cobra.Command {
	list := appDataCommand(e, &cobra.Command{
		Use:     "list APP",
		Aliases: []string{"ls"},
		Short:   "List an app's stages in pipeline order",
		Example: "  seedbed stages list shop\n  seedbed stages list shop --output json | jq -r '.[] | .name + \" \" + .url'",
	}, func(ctx context.Context, c *apiv1.Client, app string) ([]apiv1.Stage, error) {
		return c.Stages(ctx, app)
	}, func(w io.Writer, _ string, stages []apiv1.Stage) error {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "STAGE\tBRANCH\tAPPROVAL\tPROTECTED\tLIVE\tURL")
		for _, st := range stages {
			live := "-"
			if st.LiveRelease != nil {
				live = fmt.Sprintf("#%d %s", st.LiveRelease.ID, shortSHA(st.LiveRelease.Commit))
			}
			fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t%s\t%s\n", st.Name, orDash(st.Branch), st.Approval, st.Protected, live, st.URL)
		}
		return tw.Flush()
	})
	return group("stages", "List, create, change, delete and order an app's stages",
		"  seedbed stages list shop\n  seedbed stages create shop qa --after staging --approval\n  seedbed stages order shop dev qa staging prod",
		list, stageWriteCommand(e, true), stageWriteCommand(e, false), stagesDeleteCommand(e), stagesOrderCommand(e))
}

// stageWriteCommand is stages create (create true) or stages update.
func stageWriteCommand(e cliEnv, create bool) *cobra.Command {
	var o stageOptions
	cmd := &cobra.Command{
		Use:   "update APP NAME [--branch B] [--approval] [--protected]",
		Short: "Change a stage's branch, approval and protection",
		Long:  "Changes a stage's branch, approval and protection. To move a stage use seedbed stages order.",
		Example: `  seedbed stages update shop prod --approval --protected
  seedbed stages update shop dev --branch 'feature/*'`,
		Args:              positional("APP", "NAME"),
		ValidArgsFunction: e.completeApps,
	}
	if create {
		cmd.Use = "create APP NAME [--after STAGE] [--branch B] [--approval] [--protected]"
		cmd.Short = "Add a stage to an app's pipeline"
		cmd.Long = "Adds a stage, last in the pipeline or right after --after."
		cmd.Example = `  seedbed stages create shop qa --after staging
  seedbed stages create shop canary --approval --protected`
		cmd.Flags().StringVar(&o.after, "after", "", "put the new stage right after this one (default: last)")
	} else {
		// Accepted only to say what to use instead.
		cmd.Flags().StringVar(&o.after, "after", "", "")
		_ = cmd.Flags().MarkHidden("after")
	}
	cmd.Flags().StringVar(&o.req.Branch, "branch", "", "branch (or glob) whose pushes deploy here")
	cmd.Flags().BoolVar(&o.req.Approval, "approval", false, "promotions into the stage wait for approval")
	cmd.Flags().BoolVar(&o.req.Protected, "protected", false, "only promotions and rollbacks, no direct deploys")
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := e.client()
		if err != nil {
			return err
		}
		ctx, app := cmd.Context(), args[0]
		o.req.Name = args[1]
		var st apiv1.Stage
		if create {
			o.req.After = o.after
			st, err = c.CreateStage(ctx, app, o.req)
		} else if o.after != "" {
			return fmt.Errorf("--after places a new stage; to move %s, use: seedbed stages order %s STAGE...", args[1], app)
		} else {
			st, err = c.UpdateStage(ctx, app, args[1], o.req)
		}
		if err != nil {
			return err
		}
		return out.print(cmd.OutOrStdout(), st, func(w io.Writer) error {
			fmt.Fprintf(w, "Stage %s: branch %s, approval %v, protected %v.\n", st.Name, orDash(st.Branch), st.Approval, st.Protected)
			if create {
				if stages, err := c.Stages(ctx, app); err == nil {
					fmt.Fprintf(w, "Pipeline of %s: %s\n", app, stageNames(stages))
				}
			}
			return nil
		})
	}
	return cmd
}

func stageNames(stages []apiv1.Stage) string {
	names := make([]string, 0, len(stages))
	for _, st := range stages {
		names = append(names, st.Name)
	}
	return strings.Join(names, " → ")
}

func stagesDeleteCommand(e cliEnv) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "delete APP NAME [--force]",
		Aliases: []string{"rm"},
		Short:   "Delete a stage and stop its functions",
		Long:    "Deletes a stage: the remove hooks of its live release run, then its functions stop.",
		Example: `  seedbed stages delete shop qa
  seedbed stages delete shop qa --force   # without the remove hooks`,
		Args:              positional("APP", "NAME"),
		ValidArgsFunction: e.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			if err := c.DeleteStage(cmd.Context(), args[0], args[1], apiv1.RemoveOptions{Force: force}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Stage %s deleted; its functions are stopped.\n", args[1])
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "delete without running the remove hooks of the stage's live release")
	return cmd
}

func stagesOrderCommand(e cliEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:               "order APP STAGE...",
		Short:             "Put an app's stages in a new pipeline order",
		Long:              "Puts the stages in the order given; promotions go from each to the next.",
		Example:           "  seedbed stages order shop dev qa staging prod",
		Args:              positional("APP", "STAGE..."),
		ValidArgsFunction: e.completeApps,
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := e.client()
		if err != nil {
			return err
		}
		stages, err := c.ReorderStages(cmd.Context(), args[0], args[1:])
		if err != nil {
			return err
		}
		return out.print(cmd.OutOrStdout(), stages, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Pipeline of %s: %s\n", args[0], stageNames(stages))
			return err
		})
	}
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// envOptions are the flags and arguments of env set and unset.
type envOptions struct {
	app, stage string
	secret     bool
	args       []string
}

func envCommand(e cliEnv) *cobra.Command {
	var listStage string
	list := appDataCommand(e, &cobra.Command{
		Use:     "list APP --stage STAGE",
		Aliases: []string{"ls"},
		Short:   "List a stage's variables (secrets masked)",
		Example: "  seedbed env list shop --stage prod\n  seedbed env list shop --stage prod --output json",
	}, func(ctx context.Context, c *apiv1.Client, app string) ([]apiv1.Var, error) {
		return c.Vars(ctx, app, listStage)
	}, func(w io.Writer, app string, vars []apiv1.Var) error {
		if len(vars) == 0 {
			fmt.Fprintf(w, "Stage %s has no variables. Set one with: seedbed env set %s --stage %s KEY=VALUE\n", listStage, app, listStage)
			return nil
		}
		for _, v := range vars {
			if v.Secret {
				fmt.Fprintf(w, "%s=•••••• (secret)\n", v.Key)
			} else {
				fmt.Fprintf(w, "%s=%s\n", v.Key, v.Value)
			}
		}
		return nil
	})
	list.Flags().StringVar(&listStage, "stage", "", "the stage")
	_ = list.MarkFlagRequired("stage")

	var set envOptions
	setCmd := &cobra.Command{
		Use:   "set APP --stage STAGE [--secret] KEY=VALUE...",
		Short: "Set variables or secrets of a stage (next deploy on)",
		Long: "Sets variables of a stage; they take effect with the next deploy. A secret's value is\n" +
			"encrypted, masked in logs and never shown again. `set --secret KEY` with no =VALUE reads\n" +
			"the value from standard input.",
		Example: `  seedbed env set shop --stage prod GREETING=hello LOG_LEVEL=info
  seedbed env set shop --stage prod --secret DATABASE_PASSWORD < password.txt`,
		Args:              positional("APP", "KEY=VALUE..."),
		ValidArgsFunction: e.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			set.app, set.args = args[0], args[1:]
			return runEnvSet(cmd.Context(), c, set, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	setCmd.Flags().StringVar(&set.stage, "stage", "", "the stage")
	setCmd.Flags().BoolVar(&set.secret, "secret", false, "store the values as secrets")
	_ = setCmd.MarkFlagRequired("stage")

	var unset envOptions
	unsetCmd := &cobra.Command{
		Use:               "unset APP --stage STAGE KEY...",
		Short:             "Remove variables of a stage (next deploy on)",
		Example:           "  seedbed env unset shop --stage prod GREETING LOG_LEVEL",
		Args:              positional("APP", "KEY..."),
		ValidArgsFunction: e.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			for _, key := range args[1:] {
				if err := c.UnsetVar(cmd.Context(), args[0], unset.stage, key); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Unset %s on %s.\n", key, unset.stage)
			}
			return nil
		},
	}
	unsetCmd.Flags().StringVar(&unset.stage, "stage", "", "the stage")
	_ = unsetCmd.MarkFlagRequired("stage")
	return group("env", "List, set and unset a stage's variables and secrets",
		"  seedbed env list shop --stage prod\n  seedbed env set shop --stage prod GREETING=hello\n  seedbed env set shop --stage prod --secret API_KEY < key.txt\n  seedbed env unset shop --stage prod GREETING",
		list, setCmd, unsetCmd)
}

func runEnvSet(ctx context.Context, c *apiv1.Client, o envOptions, stdin io.Reader, stdout io.Writer) error {
	for _, kv := range o.args {
		key, value, ok := strings.Cut(kv, "=")
		if !ok {
			if !o.secret {
				return fmt.Errorf("%q has no =VALUE; write KEY=VALUE (or --secret KEY to read the value from standard input)", kv)
			}
			b, err := io.ReadAll(io.LimitReader(stdin, 64<<10))
			if err != nil {
				return fmt.Errorf("read the value of %s: %w", key, err)
			}
			value = strings.TrimRight(string(b), "\r\n")
		}
		if err := c.SetVar(ctx, o.app, o.stage, key, apiv1.SetVarRequest{Value: value, Secret: o.secret}); err != nil {
			return err
		}
		kind := "variable"
		if o.secret {
			kind = "secret"
		}
		fmt.Fprintf(stdout, "Set %s %s on %s; it takes effect with the next deploy.\n", kind, key, o.stage)
	}
	return nil
}
