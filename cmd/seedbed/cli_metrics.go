package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/seedbed/seedbed/web/apiv1"
)

// metricsCommand is `seedbed metrics`: each function of a stage over a
// window, one row each, as the console's stage metrics page sums them.
func metricsCommand(e cliEnv) *cobra.Command {
	var stage, function, since string
	cmd := appDataCommand(e, &cobra.Command{
		Use:   "metrics APP --stage STAGE [--function SERVICE/NAME] [--since 1h]",
		Short: "Print each function's requests, errors and p50/p95/p99 latency over a window",
		Long: "Prints what the gateway counted for each function of a stage over --since: requests, those\n" +
			"answered 5xx (by the function, or by the gateway for it: a crash, a timeout), the error rate\n" +
			"and latency percentiles estimated from the window's histogram. Counts include requests of\n" +
			"the current minute.",
		Example: `  seedbed metrics shop --stage prod
  seedbed metrics shop --stage prod --function api/hello --since 24h
  seedbed metrics shop --stage prod --output json | jq '.functions[] | select(.error_rate > 0.01)'`,
	}, func(ctx context.Context, c *apiv1.Client, app string) (apiv1.MetricsSummary, error) {
		return c.MetricsSummary(ctx, app, stage, function, since)
	}, printMetricsSummary)
	f := cmd.Flags()
	f.StringVar(&stage, "stage", "", "the stage whose functions to sum")
	_ = cmd.MarkFlagRequired("stage")
	f.StringVar(&function, "function", "", "only this function, as SERVICE/NAME")
	f.StringVar(&since, "since", "1h", "the window: a duration back from now (15m, 1h, 7d, at most 14d)")
	return cmd
}

func printMetricsSummary(w io.Writer, app string, m apiv1.MetricsSummary) error {
	if len(m.Functions) == 0 {
		_, err := fmt.Fprintf(w, "No requests to %s/%s since %s.\n", app, m.Stage, m.From.Local().Format(time.DateTime))
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "FUNCTION\tREQUESTS\tERRORS\tERROR %\tP50 MS\tP95 MS\tP99 MS\tCOLD STARTS\t")
	for _, f := range m.Functions {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%s\t%s\t%s\t%d\t\n", f.Function, f.Requests, f.Errors, 100*f.ErrorRate,
			millis(f.P50MS), millis(f.P95MS), millis(f.P99MS), f.ColdStarts)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "since %s (%s)\n", m.From.Local().Format(time.DateTime), m.Since)
	return err
}

// millis prints a latency in milliseconds, "-" when nothing was measured.
func millis(v float64) string {
	if v == 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// requestsCommand is `seedbed requests`: a stage's request log, newest
// first, searched by status and path.
func requestsCommand(e cliEnv) *cobra.Command {
	var stage string
	var q apiv1.RequestLogQuery
	cmd := appDataCommand(e, &cobra.Command{
		Use:   "requests APP --stage STAGE [--status 5xx] [--path /x] [--function SERVICE/NAME] [--limit N]",
		Short: "Search a stage's request log by status and path, newest first",
		Long: "Prints the requests the gateway logged for a stage, newest first. Every request answered\n" +
			"5xx is logged; successful ones are sampled (--request-log-sample, --request-log-rate on\n" +
			"the server). --before ID pages back from an earlier answer's last id.",
		Example: `  seedbed requests shop --stage prod --status 5xx
  seedbed requests shop --stage prod --path /api/orders --limit 1000
  seedbed requests shop --stage prod --status 503 --output json | jq -r '.[].path'`,
	}, func(ctx context.Context, c *apiv1.Client, app string) ([]apiv1.RequestLogEntry, error) {
		return c.RequestLog(ctx, app, stage, q)
	}, func(w io.Writer, app string, logs []apiv1.RequestLogEntry) error {
		if len(logs) == 0 {
			_, err := fmt.Fprintf(w, "No request of %s/%s matches.\n", app, stage)
			return err
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTIME\tSTATUS\tMS\tBYTES\tFUNCTION\tMETHOD\tPATH\tCLIENT")
		for _, l := range logs {
			fmt.Fprintf(tw, "%d\t%s\t%d\t%.1f\t%d\t%s\t%s\t%s\t%s\n", l.ID, l.At.Local().Format("2006-01-02 15:04:05.000"), l.Status, l.DurationMS,
				l.Bytes, l.Function, forTerminal(l.Method), forTerminal(l.Path), forTerminal(l.Client))
		}
		return tw.Flush()
	})
	f := cmd.Flags()
	f.StringVar(&stage, "stage", "", "the stage whose request log to search")
	_ = cmd.MarkFlagRequired("stage")
	f.StringVar(&q.Status, "status", "", "only this status (503) or class (5xx)")
	f.StringVar(&q.Path, "path", "", "only paths starting with this")
	f.StringVar(&q.Function, "function", "", "only this function, as SERVICE/NAME")
	f.UintVar(&q.Before, "before", 0, "only requests logged before this id (to page back)")
	f.IntVar(&q.Limit, "limit", 0, "how many to print, 1 to 1000 (default 100)")
	return cmd
}

// errorsCommand is `seedbed errors`: an app's error groups (the console's
// Issues), and resolve/reopen to act on one.
func errorsCommand(e cliEnv) *cobra.Command {
	var q apiv1.IssueQuery
	cmd := appDataCommand(e, &cobra.Command{
		Use:     "errors APP [--stage STAGE] [--function SERVICE/NAME] [--all]",
		Aliases: []string{"issues"},
		Short:   "List an app's error groups (Issues): failures grouped by function and signature",
		Long: "Lists failed invocations (5xx, crashes, timeouts, out-of-memory kills, Lambda handler\n" +
			"errors) grouped by function and error signature, most recently seen first, open ones only\n" +
			"unless --all. A resolved group reopens when it happens again. Resolving and reopening\n" +
			"need the deployer role; every member may list them.",
		Example: `  seedbed errors shop --stage prod
  seedbed errors shop --stage prod --output json | jq '.[] | {id, function, error_type, count}'
  seedbed errors resolve shop 12`,
	}, func(ctx context.Context, c *apiv1.Client, app string) ([]apiv1.Issue, error) {
		return c.FindIssues(ctx, app, q)
	}, printIssues)
	f := cmd.Flags()
	f.StringVar(&q.Stage, "stage", "", "only this stage; empty: every stage")
	f.StringVar(&q.Function, "function", "", "only this function, as SERVICE/NAME")
	f.BoolVar(&q.Resolved, "all", false, "resolved groups too")
	cmd.AddCommand(issueActionCommand(e, false), issueActionCommand(e, true))
	// It lists and holds subcommands: show its own usage line too, which
	// the root's template leaves out for groups.
	cmd.SetUsageTemplate((&cobra.Command{}).UsageTemplate())
	return cmd
}

// issueActionCommand is `seedbed errors resolve` (or reopen).
func issueActionCommand(e cliEnv, reopen bool) *cobra.Command {
	verb, short := "resolve", "Mark an error group resolved; it reopens when it happens again"
	if reopen {
		verb, short = "reopen", "Open a resolved error group again"
	}
	return dataCommand(e, &cobra.Command{
		Use:     verb + " APP ID",
		Short:   short,
		Example: "  seedbed errors " + verb + " shop 12",
		Args:    positional("APP", "ID"),
	}, func(ctx context.Context, c *apiv1.Client, args []string) (apiv1.Issue, error) {
		id, err := strconv.ParseUint(args[1], 10, 0)
		if err != nil || id == 0 {
			return apiv1.Issue{}, usageError(fmt.Sprintf("ID must be an error group's number (see seedbed errors %s), not %q", args[0], args[1]))
		}
		return c.ResolveIssue(ctx, args[0], uint(id), reopen)
	}, func(w io.Writer, args []string, g apiv1.Issue) error {
		state := "resolved; it reopens if it happens again"
		if reopen {
			state = "open again"
		}
		_, err := fmt.Fprintf(w, "Error group %d (%s in %s/%s, %d times) is %s.\n", g.ID, forTerminal(g.ErrorType), g.Stage, g.Function, g.Count, state)
		return err
	})
}

func printIssues(w io.Writer, app string, groups []apiv1.Issue) error {
	if len(groups) == 0 {
		_, err := fmt.Fprintf(w, "No open error groups in %s.\n", app)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTAGE\tFUNCTION\tKIND\tERROR\tCOUNT\tFIRST SEEN\tLAST SEEN\tSTATE")
	for _, g := range groups {
		state := "open"
		if g.ResolvedAt != nil {
			state = "resolved by " + g.ResolvedBy
		} else if g.Reopened > 0 {
			state = fmt.Sprintf("reopened ×%d", g.Reopened)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", g.ID, g.Stage, g.Function, g.Kind, cell(g.ErrorType+": "+g.Message, 60), g.Count,
			g.FirstSeen.Local().Format(time.DateTime), g.LastSeen.Local().Format(time.DateTime), state)
	}
	return tw.Flush()
}

// cell makes untrusted text (what a function printed) one short,
// harmless cell: its first line, cut at n runes, control characters shown.
func cell(s string, n int) string {
	s, _, _ = strings.Cut(strings.TrimSuffix(s, ": "), "\n")
	if r := []rune(s); len(r) > n {
		s = string(r[:n-1]) + "…"
	}
	return forTerminal(s)
}
