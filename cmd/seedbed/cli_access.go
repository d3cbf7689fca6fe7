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

// membersCommand lists and changes who holds which role on an app.
func membersCommand(e cliEnv) *cobra.Command {
	list := appDataCommand(e, &cobra.Command{
		Use:     "list APP",
		Aliases: []string{"ls"},
		Short:   "List who holds which role on an app",
		Example: "  seedbed members list shop\n  seedbed members list shop --output json",
	}, func(ctx context.Context, c *apiv1.Client, app string) ([]apiv1.Member, error) {
		return c.Members(ctx, app)
	}, func(w io.Writer, app string, ms []apiv1.Member) error {
		if len(ms) == 0 {
			fmt.Fprintf(w, "%s has no members; admins own it. Add one with: seedbed members set %s EMAIL --role deployer\n", app, app)
			return nil
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "EMAIL\tROLE\tSINCE")
		for _, m := range ms {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", m.Email, m.Role, m.Since.Local().Format(time.DateTime))
		}
		return tw.Flush()
	})
	var role string
	set := &cobra.Command{
		Use:               "set APP EMAIL --role viewer|deployer|owner",
		Short:             "Give a user a role on an app (owners only)",
		Example:           "  seedbed members set shop kim@example.com --role deployer",
		Args:              positional("APP", "EMAIL"),
		ValidArgsFunction: e.completeApps,
	}
	set.Flags().StringVar(&role, "role", "", "the role to give: viewer, deployer or owner")
	_ = set.MarkFlagRequired("role")
	_ = set.RegisterFlagCompletionFunc("role", cobra.FixedCompletions([]string{"viewer", "deployer", "owner"}, cobra.ShellCompDirectiveNoFileComp))
	setOut := addOutputFlag(set)
	set.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := e.client()
		if err != nil {
			return err
		}
		m, err := c.SetMember(cmd.Context(), args[0], args[1], role)
		if err != nil {
			return err
		}
		return setOut.print(cmd.OutOrStdout(), m, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "%s is now %s of %s.\n", m.Email, m.Role, args[0])
			return err
		})
	}
	remove := &cobra.Command{
		Use:               "remove APP EMAIL",
		Aliases:           []string{"rm"},
		Short:             "Take a user's role on an app away (owners only)",
		Example:           "  seedbed members remove shop kim@example.com",
		Args:              positional("APP", "EMAIL"),
		ValidArgsFunction: e.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			if err := c.RemoveMember(cmd.Context(), args[0], args[1]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s no longer has a role on %s.\n", args[1], args[0])
			return nil
		},
	}
	g := group("members", "List and change who holds which role on an app",
		"  seedbed members list shop\n  seedbed members set shop kim@example.com --role deployer\n  seedbed members remove shop kim@example.com",
		list, set, remove)
	g.Long = "A viewer reads the app; a deployer also deploys, promotes, rolls back and sets variables;\n" +
		"an owner also manages stages, settings and members. Admins own every app."
	return g
}

// usersCommand lists, adds, changes and invites users; only admins may.
func usersCommand(e cliEnv) *cobra.Command {
	list := dataCommand(e, &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List every user and what they may do (admins only)",
		Example: "  seedbed users list\n  seedbed users list --output json | jq -r '.[] | select(.is_admin) | .email'",
	}, func(ctx context.Context, c *apiv1.Client, _ []string) ([]apiv1.Account, error) {
		return c.Users(ctx)
	}, func(w io.Writer, _ []string, us []apiv1.Account) error {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "EMAIL\tADMIN\tAPPROVER\tCREATOR\tSINCE")
		for _, u := range us {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Email, yesNo(u.IsAdmin), yesNo(u.IsApprover), yesNo(u.IsCreator), u.CreatedAt.Local().Format(time.DateTime))
		}
		return tw.Flush()
	})
	invite := inviteCommand(e, "invite EMAIL [--admin] [--approver] [--creator]",
		"  seedbed users invite kim@example.com\n  seedbed users invite lee@example.com --creator --approver")
	return group("users", "List, add, change and invite users (admins only)",
		"  seedbed users list\n  seedbed users create --email kim@example.com --password 'first-password' --creator\n  seedbed users update kim@example.com --approver --no-creator\n  seedbed users invite lee@example.com",
		list, usersCreateCommand(e), usersUpdateCommand(e), invite)
}

func usersCreateCommand(e cliEnv) *cobra.Command {
	var req apiv1.CreateUserRequest
	cmd := &cobra.Command{
		Use:   "create --email E [--password P] [--admin] [--approver] [--creator]",
		Short: "Add a user (admins only)",
		Long: "Adds a user (admins only). Give them roles on apps with `seedbed members set`.\n" +
			"The first password comes from --password or SEEDBED_NEW_PASSWORD.",
		Example: `  seedbed users create --email kim@example.com --password 'first-password'
  SEEDBED_NEW_PASSWORD=… seedbed users create --email ops@example.com --admin`,
		Args: positional(),
	}
	cmd.Flags().StringVar(&req.Email, "email", "", "the new user's email")
	cmd.Flags().StringVar(&req.Password, "password", "", "their first password, 8 to 72 bytes (or SEEDBED_NEW_PASSWORD)")
	cmd.Flags().BoolVar(&req.Admin, "admin", false, "make them an admin: owner of every app, may add users")
	cmd.Flags().BoolVar(&req.Approver, "approver", false, "let them approve promotions into stages that need approval")
	cmd.Flags().BoolVar(&req.Creator, "creator", false, "let them create apps (and so own them); admins always may")
	_ = cmd.MarkFlagRequired("email")
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if req.Password == "" {
			req.Password = e.getenv("SEEDBED_NEW_PASSWORD")
		}
		if req.Password == "" {
			return usageError("missing --password (or SEEDBED_NEW_PASSWORD)")
		}
		c, err := e.client()
		if err != nil {
			return err
		}
		u, err := c.CreateUser(cmd.Context(), req)
		if err != nil {
			return err
		}
		return out.print(cmd.OutOrStdout(), u, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Created user %s (admin: %t, approver: %t, creator: %t). Give them a role with: seedbed members set APP %s --role deployer\n", u.Email, u.IsAdmin, u.IsApprover, u.IsCreator, u.Email)
			return err
		})
	}
	return cmd
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// usersUpdateCommand changes whether a user is a creator, an approver or
// an admin (admins only); what no flag names is kept.
func usersUpdateCommand(e cliEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "update EMAIL [--creator|--no-creator] [--approver|--no-approver] [--admin|--no-admin]",
		Short: "Change what a user may do beyond their app roles (admins only)",
		Long:  "Changes what a user may do beyond their roles on apps (admins only); what no flag names is kept.\nA creator may create apps; admins always may.",
		Example: `  seedbed users update kim@example.com --creator
  seedbed users update kim@example.com --approver --no-admin`,
		Args: positional("EMAIL"),
	}
	pairs := []struct{ name, what string }{
		{"creator", "a creator: may create apps"},
		{"approver", "an approver: may approve promotions"},
		{"admin", "an admin: owner of every app, may add users"},
	}
	for _, p := range pairs {
		cmd.Flags().Bool(p.name, false, "make them "+p.what)
		cmd.Flags().Bool("no-"+p.name, false, "stop them being "+p.what)
		cmd.MarkFlagsMutuallyExclusive(p.name, "no-"+p.name)
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		// A flag given sets the field; one not given leaves it as it is.
		pick := func(name string) *bool {
			switch {
			case cmd.Flags().Changed(name):
				v, _ := cmd.Flags().GetBool(name)
				return &v
			case cmd.Flags().Changed("no-" + name):
				v, _ := cmd.Flags().GetBool("no-" + name)
				v = !v
				return &v
			}
			return nil
		}
		req := apiv1.UpdateUserRequest{Creator: pick("creator"), Approver: pick("approver"), Admin: pick("admin")}
		if req.Creator == nil && req.Approver == nil && req.Admin == nil {
			return usageError("say what to change: --creator, --approver or --admin (or --no-…)")
		}
		c, err := e.client()
		if err != nil {
			return err
		}
		u, err := c.UpdateUser(cmd.Context(), args[0], req)
		if err != nil {
			return err
		}
		return out.print(cmd.OutOrStdout(), u, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "%s: admin: %t, approver: %t, creator: %t.\n", u.Email, u.IsAdmin, u.IsApprover, u.IsCreator)
			return err
		})
	}
	return cmd
}

// tokensCommand lists, makes and revokes the signed-in user's API tokens.
func tokensCommand(e cliEnv) *cobra.Command {
	list := dataCommand(e, &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List your API tokens",
		Example: "  seedbed tokens list\n  seedbed tokens list --output json",
	}, func(ctx context.Context, c *apiv1.Client, _ []string) ([]apiv1.Token, error) {
		return c.Tokens(ctx)
	}, func(w io.Writer, _ []string, ts []apiv1.Token) error {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
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
	})
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Make an API token (shown once)",
		Example: `  seedbed tokens create ci
  SEEDBED_TOKEN=$(seedbed tokens create ci --output json | jq -r .token)`,
		Args: positional("NAME"),
	}
	createOut := addOutputFlag(create)
	create.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := e.client()
		if err != nil {
			return err
		}
		resp, err := c.CreateToken(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		return createOut.print(cmd.OutOrStdout(), resp, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Token %s (#%d); copy it now, it is not shown again:\n%s\n", resp.Detail.Name, resp.Detail.ID, resp.Token)
			return err
		})
	}
	revoke := &cobra.Command{
		Use:     "revoke ID",
		Short:   "Revoke an API token; it stops working",
		Example: "  seedbed tokens revoke 4",
		Args:    positional("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0], "token")
			if err != nil {
				return err
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			if err := c.RevokeToken(cmd.Context(), id); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Token #%d revoked; it no longer works.\n", id)
			return nil
		},
	}
	return group("tokens", "List, make and revoke your API tokens",
		"  seedbed tokens list\n  seedbed tokens create ci\n  seedbed tokens revoke 4",
		list, create, revoke)
}

// sessionsCommand lists the signed-in user's browsers and signs them out.
func sessionsCommand(e cliEnv) *cobra.Command {
	list := dataCommand(e, &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the browsers signed in as you",
		Example: "  seedbed sessions list\n  seedbed sessions list --output json",
	}, func(ctx context.Context, c *apiv1.Client, _ []string) ([]apiv1.Session, error) {
		return c.Sessions(ctx)
	}, func(w io.Writer, _ []string, ss []apiv1.Session) error {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSIGNED IN\tEXPIRES\tBROWSER")
		for _, s := range ss {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.ID, s.CreatedAt.Local().Format(time.DateTime), s.ExpiresAt.Local().Format(time.DateTime), s.UserAgent)
		}
		return tw.Flush()
	})
	revoke := &cobra.Command{
		Use:     "revoke ID",
		Short:   "Sign a browser out",
		Example: "  seedbed sessions revoke 12",
		Args:    positional("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0], "session")
			if err != nil {
				return err
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			if err := c.RevokeSession(cmd.Context(), id); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Session #%d signed out.\n", id)
			return nil
		},
	}
	return group("sessions", "List the browsers signed in as you and sign them out",
		"  seedbed sessions list\n  seedbed sessions revoke 12", list, revoke)
}
