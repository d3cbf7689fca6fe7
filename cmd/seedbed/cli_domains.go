package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/seedbed/seedbed/web/apiv1"
)

const domainsUse = `seedbed domains list APP [--output json]
seedbed domains add APP --stage STAGE NAME [--output json]
seedbed domains check APP NAME [--output json]
seedbed domains remove APP NAME

A stage answers on its domains over HTTPS, with certificates Seedbed obtains
and renews through ACME once the name's DNS points at the server (see
docs/domains.md). check looks a name's DNS up again now.`

// domainsOptions is one domains command, parsed.
type domainsOptions struct {
	Action string // list, add, check, remove
	App    string
	Stage  string // add only
	Name   string // add, check, remove
	Output string // "" (a table) or json
}

// parseDomainsArgs reads a domains command line.
func parseDomainsArgs(args []string, stderr io.Writer) (domainsOptions, error) {
	if len(args) == 0 {
		return domainsOptions{}, usageError(domainsUse)
	}
	o := domainsOptions{Action: args[0]}
	fs := newFlagSet("domains "+o.Action, domainsUse, stderr)
	fs.StringVar(&o.Stage, "stage", "", "the stage the domain is for (add)")
	fs.StringVar(&o.Output, "output", "", "json to print data as JSON")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return o, err
	}
	if o.Output != "" && o.Output != "json" {
		return o, usageError("--output takes json, or nothing for a table")
	}
	want := 2
	switch o.Action {
	case "list", "ls":
		o.Action, want = "list", 1
	case "add":
		if o.Stage == "" {
			return o, usageError("seedbed domains add APP --stage STAGE NAME: name the stage with --stage")
		}
	case "check", "remove":
	case "rm", "delete":
		o.Action = "remove"
	default:
		return o, usageError(domainsUse)
	}
	if len(pos) != want {
		return o, usageError(domainsUse)
	}
	o.App = pos[0]
	if want == 2 {
		o.Name = pos[1]
	}
	return o, nil
}

// cmdDomains lists, adds, checks or removes an app's domains.
func cmdDomains(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseDomainsArgs(args, stderr)
	if err != nil {
		return err
	}
	c, err := client(getenv)
	if err != nil {
		return err
	}
	return runDomains(ctx, c, o, stdout)
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
	return usageError(domainsUse)
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

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
