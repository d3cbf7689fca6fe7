package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/seedbed/seedbed/web/apiv1"
)

const domainsLong = `A stage answers on its domains over HTTPS, with certificates Seedbed obtains
and renews through ACME once the name's DNS points at the server (serve needs
--https-addr; see docs/domains.md). A domain belongs to one stage only.`

// domainsOptions is one domains command, parsed.
type domainsOptions struct {
	Action string // list, add, check, remove
	App    string
	Stage  string // add only
	Name   string // add, check, remove
	Output string // "text" or "json"
}

// domainsCommand lists, adds, checks and removes an app's domains.
func domainsCommand(e cliEnv) *cobra.Command {
	sub := func(action, use, short, example string, args ...string) *cobra.Command {
		o := domainsOptions{Action: action}
		cmd := &cobra.Command{
			Use: use, Short: short, Example: example,
			Args: positional(args...), ValidArgsFunction: e.completeApps,
		}
		if action == "add" {
			cmd.Flags().StringVar(&o.Stage, "stage", "", "the stage the domain is for")
			_ = cmd.MarkFlagRequired("stage")
		}
		var out *outputFormat
		if action != "remove" {
			out = addOutputFlag(cmd)
		}
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			o.App = args[0]
			if len(args) > 1 {
				o.Name = args[1]
			}
			if out != nil {
				o.Output = string(*out)
			}
			return runDomains(cmd.Context(), c, o, cmd.OutOrStdout())
		}
		return cmd
	}
	g := group("domains", "List, add, check or remove a stage's own domains (HTTPS)",
		"  seedbed domains add shop --stage prod api.example.com\n  seedbed domains list shop",
		sub("list", "list APP", "List an app's domains with their DNS and certificate states",
			"  seedbed domains list shop\n  seedbed domains list shop --output json | jq '.domains[] | {name, status, expires_at}'", "APP"),
		sub("add", "add APP --stage STAGE NAME", "Add a host name to a stage; its certificate is obtained once its DNS points here",
			"  seedbed domains add shop --stage prod api.example.com", "APP", "NAME"),
		sub("check", "check APP NAME", "Look a domain's DNS up again now",
			"  seedbed domains check shop api.example.com", "APP", "NAME"),
		sub("remove", "remove APP NAME", "Remove a domain from its stage",
			"  seedbed domains remove shop api.example.com", "APP", "NAME"),
	)
	g.Long = domainsLong
	for _, c := range g.Commands() {
		switch c.Name() {
		case "list":
			c.Aliases = []string{"ls"}
		case "remove":
			c.Aliases = []string{"rm"}
		}
	}
	return g
}

// runDomains does what o asks and prints the outcome.
func runDomains(ctx context.Context, c *apiv1.Client, o domainsOptions, out io.Writer) error {
	switch o.Action {
	case "list":
		ds, err := c.Domains(ctx, o.App)
		if err != nil {
			return err
		}
		if o.Output == "json" {
			return writeJSON(out, ds)
		}
		if len(ds.Domains) == 0 {
			fmt.Fprintf(out, "%s has no domains. Add one with: seedbed domains add %s --stage prod api.example.com\n", o.App, o.App)
			return nil
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DOMAIN\tSTAGE\tSTATE\tLAST ERROR")
		for _, d := range ds.Domains {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.Display, d.Stage, domainState(d), oneLine(d.LastError))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if len(ds.PublicIPs) > 0 {
			fmt.Fprintf(out, "DNS must point at: %s\n", strings.Join(ds.PublicIPs, ", "))
		}
		return nil
	case "add":
		d, err := c.AddDomain(ctx, o.App, apiv1.AddDomainRequest{Stage: o.Stage, Name: o.Name})
		if err != nil {
			return err
		}
		if o.Output == "json" {
			return writeJSON(out, d)
		}
		fmt.Fprintf(out, "Added %s to %s of %s. Point its DNS (an A or AAAA record) at this server; the certificate is obtained once it does.\n  %s\nSee its state with: seedbed domains list %s\n", d.Display, d.Stage, o.App, d.URL, o.App)
		return nil
	case "check":
		d, err := c.CheckDomain(ctx, o.App, o.Name)
		if err != nil {
			return err
		}
		if o.Output == "json" {
			return writeJSON(out, d)
		}
		fmt.Fprintf(out, "%s (%s): %s\n", d.Display, d.Stage, domainState(d))
		if d.LastError != "" {
			fmt.Fprintf(out, "last error: %s\n", oneLine(d.LastError))
		}
		return nil
	case "remove":
		if err := c.RemoveDomain(ctx, o.App, o.Name); err != nil {
			return err
		}
		fmt.Fprintf(out, "Removed %s from %s.\n", o.Name, o.App)
		return nil
	}
	return usageError("seedbed domains list|add|check|remove APP ...")
}

// domainState says in words where a domain stands.
func domainState(d apiv1.Domain) string {
	if d.Status != "issued" {
		switch d.DNS {
		case "elsewhere":
			return "DNS not pointing here (resolves to " + strings.Join(d.DNSAddrs, ", ") + ")"
		case "missing":
			return "DNS not pointing here (the name does not resolve)"
		}
	}
	switch d.Status {
	case "issued":
		if d.ExpiresAt != nil {
			return "issued, expires on " + d.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC")
		}
		return "issued"
	case "failed":
		return "failed"
	}
	return "pending"
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

