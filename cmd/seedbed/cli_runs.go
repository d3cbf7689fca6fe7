package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/seedbed/seedbed/web/apiv1"
)

const (
	buildsListUse  = "seedbed builds list APP [--status failed] [--ref main] [--trigger push] [--before ID] [--limit 50]"
	usersInviteUse = "seedbed users invite EMAIL [--admin] [--approver] [--creator]"
	invitesUse     = "seedbed invites list | seedbed invites create EMAIL [--admin] [--approver] | seedbed invites revoke ID"
	activityUse    = "seedbed activity [--limit 50]"
)

// cmdBuildsList lists an app's builds, newest first, filtered.
func cmdBuildsList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("builds list", buildsListUse+"\n\nLists an app's builds, newest first. For the next page pass --before with the last ID shown.", stderr)
	status := fs.String("status", "", "only builds with this status: queued, running, succeeded, failed, cancelled")
	ref := fs.String("ref", "", "only builds of this ref (branch, tag or commit as requested)")
	trigger := fs.String("trigger", "", "only builds started this way: console, cli, api, push, webhook, poll, preview")
	before := fs.Uint("before", 0, "only builds older than this build ID (the next page)")
	limit := fs.Int("limit", 0, "how many to show, 1 to 200 (default 50)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError(buildsListUse)
	}
	c, err := client(getenv)
	if err != nil {
		return err
	}
	app := pos[0]
	bs, err := c.ListBuilds(ctx, app, apiv1.BuildsQuery{Ref: *ref, Status: *status, Trigger: *trigger, Before: *before, Limit: *limit})
	if err != nil {
		return err
	}
	if len(bs) == 0 {
		if *status != "" || *ref != "" || *trigger != "" || *before != 0 {
			fmt.Fprintf(stdout, "No builds of %s match. Drop a filter to see more.\n", app)
			return nil
		}
		fmt.Fprintf(stdout, "No builds of %s yet. Start one with: seedbed deploy %s --stage dev\n", app, app)
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tREF\tCOMMIT\tTRIGGER\tSTARTED\tMESSAGE")
	for _, b := range bs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", b.ID, b.Status, b.Ref, shortSHA(b.Commit), b.Trigger, b.CreatedAt.Local().Format("2006-01-02 15:04:05"), b.CommitMessage)
	}
	return tw.Flush()
}

// cmdUsersInvite makes a one-time sign-up link (admins only).
func cmdUsersInvite(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("users invite", usersInviteUse+"\n\nMakes a one-time link, valid 7 days, with which EMAIL chooses a password. Send it to them.", stderr)
	admin := fs.Bool("admin", false, "make them an admin: owner of every app, may add users")
	approver := fs.Bool("approver", false, "let them approve promotions into stages that need approval")
	creator := fs.Bool("creator", false, "let them create apps (and so own them)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError(usersInviteUse)
	}
	c, err := client(getenv)
	if err != nil {
		return err
	}
	inv, err := c.CreateInvite(ctx, apiv1.CreateInviteRequest{Email: pos[0], Admin: *admin, Approver: *approver, Creator: *creator})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Invite #%d for %s (admin: %t, approver: %t), valid until %s. Send them this link; it works once:\n%s\n",
		inv.ID, inv.Email, inv.IsAdmin, inv.IsApprover, inv.ExpiresAt.Local().Format("2006-01-02 15:04"), inv.URL)
	return nil
}

// cmdInvites lists the pending invites, makes one, or revokes one (admins
// only).
func cmdInvites(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "create" {
		return cmdUsersInvite(ctx, args[1:], getenv, stdout, stderr)
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		return usageError(invitesUse)
	}
	c, err := client(getenv)
	if err != nil {
		return err
	}
	switch {
	case args[0] == "list" && len(args) == 1:
		invs, err := c.Invites(ctx)
		if err != nil {
			return err
		}
		if len(invs) == 0 {
			fmt.Fprintln(stdout, "No pending invites. Invite someone with: seedbed invites create EMAIL")
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEMAIL\tJOINS AS\tINVITED BY\tCREATED\tEXPIRES")
		for _, inv := range invs {
			by := inv.CreatedBy
			if by == "" {
				by = "-"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", inv.ID, inv.Email, joinsAs(inv), by,
				inv.CreatedAt.Local().Format("2006-01-02 15:04"), inv.ExpiresAt.Local().Format("2006-01-02 15:04"))
		}
		return tw.Flush()
	case args[0] == "revoke" && len(args) == 2:
		id, err := strconv.ParseUint(args[1], 10, 64)
		if err != nil {
			return usageError(invitesUse)
		}
		if err := c.RevokeInvite(ctx, uint(id)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Invite #%d revoked; its link no longer works.\n", id)
		return nil
	}
	return usageError(invitesUse)
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

// cmdActivity prints who did what on the apps the user sees.
func cmdActivity(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("activity", activityUse+"\n\nBuilds and deploys on the apps you hold a role on, newest first; for admins also the invites revoked.", stderr)
	limit := fs.Int("limit", 0, "how many to show, 1 to 200 (default 50)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError(activityUse)
	}
	c, err := client(getenv)
	if err != nil {
		return err
	}
	entries, err := c.Activity(ctx, time.Time{}, *limit)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		fmt.Fprintln(stdout, "Nothing yet. Deploy a stage with: seedbed deploy APP --stage dev")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WHEN\tWHO\tWHAT\tAPP\tSTAGE/REF\tTRIGGER\tSTATUS\tDECIDED BY")
	for _, e := range entries {
		if e.Kind == "invite" {
			fmt.Fprintf(tw, "%s\t%s\tinvite #%d\t-\t%s\t-\t%s\t-\n", e.CreatedAt.Local().Format("2006-01-02 15:04:05"), orDash(e.TriggeredBy), e.ID,
				e.Email, e.Status)
			continue
		}
		who, where := e.TriggeredBy, e.Ref
		if who == "" {
			who = "-"
		}
		if e.Kind == "deploy" {
			where = e.Stage
		}
		decided := e.DecidedBy
		if decided == "" {
			decided = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s #%d\t%s\t%s\t%s\t%s\t%s\n", e.CreatedAt.Local().Format("2006-01-02 15:04:05"), who, e.Kind, e.ID,
			e.App, where, e.Trigger, e.Status, decided)
	}
	return tw.Flush()
}
