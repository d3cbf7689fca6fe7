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
	membersUse  = "seedbed members list APP | seedbed members set APP EMAIL --role viewer|deployer|owner | seedbed members remove APP EMAIL"
	usersUse    = "seedbed users list | seedbed users create --email E --password P [--admin] [--approver] [--creator] | seedbed users update EMAIL [--creator|--no-creator] [--approver|--no-approver] [--admin|--no-admin]"
	tokensUse   = "seedbed tokens list | seedbed tokens create NAME | seedbed tokens revoke ID"
	sessionsUse = "seedbed sessions list | seedbed sessions revoke ID"
)

// cmdMembers lists and changes who holds which role on an app.
func cmdMembers(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError(membersUse)
	}
	fs := newFlagSet("members "+args[0], membersUse+"\n\nA viewer reads the app; a deployer also deploys, promotes, rolls back and sets variables;\nan owner also manages stages, settings and members. Admins own every app.", stderr)
	role := fs.String("role", "", "the role to give: viewer, deployer or owner")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	c, err := client(getenv)
	if err != nil {
		return err
	}
	switch {
	case args[0] == "list" && len(pos) == 1:
		ms, err := c.Members(ctx, pos[0])
		if err != nil {
			return err
		}
		if len(ms) == 0 {
			fmt.Fprintf(stdout, "%s has no members; admins own it. Add one with: seedbed members set %s EMAIL --role deployer\n", pos[0], pos[0])
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "EMAIL\tROLE\tSINCE")
		for _, m := range ms {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", m.Email, m.Role, m.Since.Local().Format(time.DateTime))
		}
		return tw.Flush()
	case args[0] == "set" && len(pos) == 2:
		if *role == "" {
			return usageError(membersUse)
		}
		m, err := c.SetMember(ctx, pos[0], pos[1], *role)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s is now %s of %s.\n", m.Email, m.Role, pos[0])
		return nil
	case args[0] == "remove" && len(pos) == 2:
		if err := c.RemoveMember(ctx, pos[0], pos[1]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s no longer has a role on %s.\n", pos[1], pos[0])
		return nil
	}
	return usageError(membersUse)
}

// cmdUsers adds users; only admins may.
func cmdUsers(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "invite" {
		return cmdUsersInvite(ctx, args[1:], getenv, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "update" {
		return cmdUsersUpdate(ctx, args[1:], getenv, stdout, stderr)
	}
	if len(args) == 1 && args[0] == "list" {
		return cmdUsersList(ctx, getenv, stdout)
	}
	if len(args) == 0 || args[0] != "create" {
		return usageError(usersUse + "\n       " + usersInviteUse)
	}
	fs := newFlagSet("users create", usersUse+"\n\nAdds a user (admins only). Give them roles on apps with `seedbed members set`.", stderr)
	email := fs.String("email", "", "the new user's email")
	password := fs.String("password", getenv("SEEDBED_NEW_PASSWORD"), "their first password, 8 to 72 bytes (or SEEDBED_NEW_PASSWORD)")
	admin := fs.Bool("admin", false, "make them an admin: owner of every app, may add users")
	approver := fs.Bool("approver", false, "let them approve promotions into stages that need approval")
	creator := fs.Bool("creator", false, "let them create apps (and so own them); admins always may")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 0 || *email == "" || *password == "" {
		return usageError(usersUse)
	}
	c, err := client(getenv)
	if err != nil {
		return err
	}
	u, err := c.CreateUser(ctx, apiv1.CreateUserRequest{Email: *email, Password: *password, Admin: *admin, Approver: *approver, Creator: *creator})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Created user %s (admin: %t, approver: %t, creator: %t). Give them a role with: seedbed members set APP %s --role deployer\n", u.Email, u.IsAdmin, u.IsApprover, u.IsCreator, u.Email)
	return nil
}

// cmdUsersList lists every user with what they may do (admins only).
func cmdUsersList(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	c, err := client(getenv)
	if err != nil {
		return err
	}
	us, err := c.Users(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EMAIL\tADMIN\tAPPROVER\tCREATOR\tSINCE")
	for _, u := range us {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Email, yesNo(u.IsAdmin), yesNo(u.IsApprover), yesNo(u.IsCreator), u.CreatedAt.Local().Format(time.DateTime))
	}
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// cmdUsersUpdate changes whether a user is a creator, an approver or an
// admin (admins only); what no flag names is kept.
func cmdUsersUpdate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const use = "seedbed users update EMAIL [--creator|--no-creator] [--approver|--no-approver] [--admin|--no-admin]"
	fs := newFlagSet("users update", use+"\n\nChanges what a user may do beyond their roles on apps (admins only). A creator may create apps; admins always may.", stderr)
	var req apiv1.UpdateUserRequest
	pair := func(name, what string, dst **bool) {
		fs.BoolFunc(name, "make them "+what, func(string) error { v := true; *dst = &v; return nil })
		fs.BoolFunc("no-"+name, "stop them being "+what, func(string) error { v := false; *dst = &v; return nil })
	}
	pair("creator", "a creator: may create apps", &req.Creator)
	pair("approver", "an approver: may approve promotions", &req.Approver)
	pair("admin", "an admin: owner of every app, may add users", &req.Admin)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || (req.Creator == nil && req.Approver == nil && req.Admin == nil) {
		return usageError(use)
	}
	c, err := client(getenv)
	if err != nil {
		return err
	}
	u, err := c.UpdateUser(ctx, pos[0], req)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: admin: %t, approver: %t, creator: %t.\n", u.Email, u.IsAdmin, u.IsApprover, u.IsCreator)
	return nil
}

// cmdTokens lists, makes and revokes the signed-in user's API tokens.
func cmdTokens(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError(tokensUse)
	}
	c, err := client(getenv)
	if err != nil {
		return err
	}
	switch {
	case args[0] == "list" && len(args) == 1:
		ts, err := c.Tokens(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tTOKEN\tCREATED\tLAST USED\tSTATE")
		for _, t := range ts {
			used, state := "never", "active"
			if t.LastUsedAt != nil {
				used = t.LastUsedAt.Local().Format(time.DateTime)
			}
			if t.RevokedAt != nil {
				state = "revoked"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s…\t%s\t%s\t%s\n", t.ID, t.Name, t.Prefix, t.CreatedAt.Local().Format(time.DateTime), used, state)
		}
		return tw.Flush()
	case args[0] == "create" && len(args) == 2:
		resp, err := c.CreateToken(ctx, args[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Token %s (#%d); copy it now, it is not shown again:\n%s\n", resp.Detail.Name, resp.Detail.ID, resp.Token)
		return nil
	case args[0] == "revoke" && len(args) == 2:
		id, err := strconv.ParseUint(args[1], 10, 64)
		if err != nil {
			return usageError(tokensUse)
		}
		if err := c.RevokeToken(ctx, uint(id)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Token #%d revoked; it no longer works.\n", id)
		return nil
	}
	return usageError(tokensUse)
}

// cmdSessions lists the signed-in user's browsers and signs them out.
func cmdSessions(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError(sessionsUse)
	}
	c, err := client(getenv)
	if err != nil {
		return err
	}
	switch {
	case args[0] == "list" && len(args) == 1:
		ss, err := c.Sessions(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSIGNED IN\tEXPIRES\tBROWSER")
		for _, s := range ss {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.ID, s.CreatedAt.Local().Format(time.DateTime), s.ExpiresAt.Local().Format(time.DateTime), s.UserAgent)
		}
		return tw.Flush()
	case args[0] == "revoke" && len(args) == 2:
		id, err := strconv.ParseUint(args[1], 10, 64)
		if err != nil {
			return usageError(sessionsUse)
		}
		if err := c.RevokeSession(ctx, uint(id)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Session #%d signed out.\n", id)
		return nil
	}
	return usageError(sessionsUse)
}
