package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/seedbed/seedbed/web/apiv1"
)

func buildsListCommand(e cliEnv) *cobra.Command {
	var q apiv1.BuildsQuery
	cmd := appDataCommand(e, &cobra.Command{
		Use:     "list APP [--status failed] [--ref main] [--trigger push] [--before ID] [--limit 50]",
		Aliases: []string{"ls"},
		Short:   "List an app's builds, newest first",
		Long:    "Lists an app's builds, newest first. For the next page pass --before with the last ID shown.",
		Example: `  seedbed builds list shop
  seedbed builds list shop --status failed --ref main
  seedbed builds list shop --trigger push --limit 10
  seedbed builds list shop --before 120          # the next page
  seedbed builds list shop --output json | jq '.[0].id'`,
	}, func(ctx context.Context, c *apiv1.Client, app string) ([]apiv1.Build, error) {
		return c.ListBuilds(ctx, app, q)
	}, func(w io.Writer, app string, bs []apiv1.Build) error {
		return printBuilds(w, app, q, bs)
	})
	cmd.Flags().StringVar(&q.Status, "status", "", "only builds with this status: queued, running, succeeded, failed, cancelled")
	cmd.Flags().StringVar(&q.Ref, "ref", "", "only builds of this ref (branch, tag or commit as requested)")
	cmd.Flags().StringVar(&q.Trigger, "trigger", "", "only builds started this way: console, cli, api, push, webhook, poll, preview")
	cmd.Flags().UintVar(&q.Before, "before", 0, "only builds older than this build ID (the next page)")
	cmd.Flags().IntVar(&q.Limit, "limit", 0, "how many to show, 1 to 200 (default 50)")
	_ = cmd.RegisterFlagCompletionFunc("status", cobra.FixedCompletions([]string{"queued", "running", "succeeded", "failed", "cancelled"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("trigger", cobra.FixedCompletions([]string{"console", "cli", "api", "push", "webhook", "poll", "preview"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func printBuilds(w io.Writer, app string, q apiv1.BuildsQuery, bs []apiv1.Build) error {
	if len(bs) == 0 {
		if q.Status != "" || q.Ref != "" || q.Trigger != "" || q.Before != 0 {
			fmt.Fprintf(w, "No builds of %s match. Drop a filter to see more.\n", app)
			return nil
		}
		fmt.Fprintf(w, "No builds of %s yet. Start one with: seedbed deploy %s --stage dev\n", app, app)
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tREF\tCOMMIT\tTRIGGER\tSTARTED\tMESSAGE")
	for _, b := range bs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", b.ID, b.Status, b.Ref, shortSHA(b.Commit), b.Trigger, b.CreatedAt.Local().Format("2006-01-02 15:04:05"), b.CommitMessage)
	}
	return tw.Flush()
}

// inviteCommand makes a one-time sign-up link (admins only); it is both
// `users invite` and `invites create`.
func inviteCommand(e cliEnv, use, example string) *cobra.Command {
	var req apiv1.CreateInviteRequest
	cmd := &cobra.Command{
		Use:     use,
		Short:   "Make a one-time sign-up link for someone (admins only)",
		Long:    "Makes a one-time link, valid 7 days, with which EMAIL chooses a password. Send it to them.",
		Example: example,
		Args:    positional("EMAIL"),
	}
	cmd.Flags().BoolVar(&req.Admin, "admin", false, "make them an admin: owner of every app, may add users")
	cmd.Flags().BoolVar(&req.Approver, "approver", false, "let them approve promotions into stages that need approval")
	cmd.Flags().BoolVar(&req.Creator, "creator", false, "let them create apps (and so own them)")
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := e.client()
		if err != nil {
			return err
		}
		req.Email = args[0]
		inv, err := c.CreateInvite(cmd.Context(), req)
		if err != nil {
			return err
		}
		return out.print(cmd.OutOrStdout(), inv, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Invite #%d for %s (admin: %t, approver: %t), valid until %s. Send them this link; it works once:\n%s\n",
				inv.ID, inv.Email, inv.IsAdmin, inv.IsApprover, inv.ExpiresAt.Local().Format("2006-01-02 15:04"), inv.URL)
			return err
		})
	}
	return cmd
}

// invitesCommand lists the pending invites, makes one, or revokes one
// (admins only).
func invitesCommand(e cliEnv) *cobra.Command {
	list := dataCommand(e, &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the pending invites",
		Example: "  seedbed invites list\n  seedbed invites list --output json",
	}, func(ctx context.Context, c *apiv1.Client, _ []string) ([]apiv1.Invite, error) {
		return c.Invites(ctx)
	}, func(w io.Writer, _ []string, invs []apiv1.Invite) error {
		if len(invs) == 0 {
			fmt.Fprintln(w, "No pending invites. Invite someone with: seedbed invites create EMAIL")
			return nil
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEMAIL\tJOINS AS\tINVITED BY\tCREATED\tEXPIRES")
		for _, inv := range invs {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", inv.ID, inv.Email, joinsAs(inv), orDash(inv.CreatedBy),
				inv.CreatedAt.Local().Format("2006-01-02 15:04"), inv.ExpiresAt.Local().Format("2006-01-02 15:04"))
		}
		return tw.Flush()
	})
	revoke := &cobra.Command{
		Use:     "revoke ID",
		Short:   "Revoke a pending invite; its link stops working",
		Example: "  seedbed invites revoke 3",
		Args:    positional("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0], "invite")
			if err != nil {
				return err
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			if err := c.RevokeInvite(cmd.Context(), id); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Invite #%d revoked; its link no longer works.\n", id)
			return nil
		},
	}
	create := inviteCommand(e, "create EMAIL [--admin] [--approver] [--creator]",
		"  seedbed invites create kim@example.com\n  seedbed invites create ops@example.com --approver")
	return group("invites", "List, make and revoke sign-up invites (admins only)",
		"  seedbed invites list\n  seedbed invites create kim@example.com --creator\n  seedbed invites revoke 3",
		list, create, revoke)
}

// joinsAs says what an invite makes its user.
func joinsAs(inv apiv1.Invite) string {
	switch {
	case inv.IsAdmin && inv.IsApprover:
		return "admin,approver"
	case inv.IsAdmin:
		return "admin"
	case inv.IsApprover:
		return "approver"
	}
	return "user"
}

// activityCommand prints who did what on the apps the user sees.
func activityCommand(e cliEnv) *cobra.Command {
	var limit int
	cmd := dataCommand(e, &cobra.Command{
		Use:   "activity [--limit 50]",
		Short: "Show recent builds and deploys on your apps, newest first",
		Long:  "Builds and deploys on the apps you hold a role on, newest first; for admins also the invites revoked.",
		Example: `  seedbed activity
  seedbed activity --limit 200
  seedbed activity --output json | jq '.[] | select(.status == "failed")'`,
	}, func(ctx context.Context, c *apiv1.Client, _ []string) ([]apiv1.ActivityEntry, error) {
		return c.Activity(ctx, time.Time{}, limit)
	}, func(w io.Writer, _ []string, entries []apiv1.ActivityEntry) error {
		return printActivity(w, entries)
	})
	cmd.Flags().IntVar(&limit, "limit", 0, "how many to show, 1 to 200 (default 50)")
	return cmd
}

func printActivity(w io.Writer, entries []apiv1.ActivityEntry) error {
	if len(entries) == 0 {
		fmt.Fprintln(w, "Nothing yet. Deploy a stage with: seedbed deploy APP --stage dev")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WHEN\tWHO\tWHAT\tAPP\tSTAGE/REF\tTRIGGER\tSTATUS\tDECIDED BY")
	for _, e := range entries {
		if e.Kind == "invite" {
			fmt.Fprintf(tw, "%s\t%s\tinvite #%d\t-\t%s\t-\t%s\t-\n", e.CreatedAt.Local().Format("2006-01-02 15:04:05"), orDash(e.TriggeredBy), e.ID,
				e.Email, e.Status)
			continue
		}
		where := e.Ref
		if e.Kind == "deploy" {
			where = e.Stage
		}
		fmt.Fprintf(tw, "%s\t%s\t%s #%d\t%s\t%s\t%s\t%s\t%s\n", e.CreatedAt.Local().Format("2006-01-02 15:04:05"), orDash(e.TriggeredBy), e.Kind, e.ID,
			e.App, where, e.Trigger, e.Status, orDash(e.DecidedBy))
	}
	return tw.Flush()
}
