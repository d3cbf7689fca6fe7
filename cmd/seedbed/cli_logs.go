package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/seedbed/seedbed/web/apiv1"
)

// logsOptions is what `seedbed logs` was asked.
type logsOptions struct {
	App, Stage string
	Query      apiv1.FunctionLogQuery
	Follow     bool
	JSON       bool
	// Retry is how long Follow waits before it reconnects after the
	// server ended the stream (a restart); 0 means 1s.
	Retry time.Duration
}

// logsClient is the part of the API client runLogs uses.
type logsClient interface {
	FunctionLogs(ctx context.Context, app, stage string, q apiv1.FunctionLogQuery) (apiv1.FunctionLogPage, error)
	FollowFunctionLogs(ctx context.Context, app, stage, cursor string, q apiv1.FunctionLogQuery, emit func(apiv1.FunctionLogLine) error) error
}

// logsCommand is `seedbed logs`: a stage's function logs.
func logsCommand(e cliEnv) *cobra.Command {
	var o logsOptions
	cmd := &cobra.Command{
		Use:   "logs APP --stage STAGE [--function SERVICE/NAME] [--since 1h] [--until T] [--grep TEXT] [--limit N] [-f]",
		Short: "Print what a stage's functions wrote",
		Long: "Prints what a stage's functions wrote (stdout, stderr, Lambda runtime errors, Seedbed's notes\n" +
			"on crashes), newest last, with secret values masked. -f keeps printing new lines as they come,\n" +
			"and goes on where it was when the server restarts. --output json prints the API's answer\n" +
			"({\"lines\": [...], \"cursor\", \"more\"}); with -f, one JSON object a line as they come.",
		Example: `  seedbed logs shop --stage dev
  seedbed logs shop --stage prod --function api/hello --since 1h --grep timeout
  seedbed logs shop --stage prod -f
  seedbed logs shop --stage dev --since 2026-12-06T10:00:00Z --until 2026-12-06T11:00:00Z
  seedbed logs shop --stage dev --output json | jq -r '.lines[] | select(.level == "error") | .text'
  seedbed logs shop --stage prod -f --output json | jq -r .text`,
		Args: positional("APP"),
	}
	f := cmd.Flags()
	f.StringVar(&o.Stage, "stage", "", "the stage whose functions' logs to print")
	_ = cmd.MarkFlagRequired("stage")
	f.StringVar(&o.Query.Function, "function", "", "only this function, as SERVICE/NAME")
	f.StringVar(&o.Query.Since, "since", "", "only lines since: a duration back from now (15m, 2h, 7d) or a time (2026-12-06T10:00:00Z)")
	f.StringVar(&o.Query.Until, "until", "", "only lines until: a duration back from now or a time")
	f.StringVar(&o.Query.Grep, "grep", "", "only lines containing this text (exact, case-sensitive)")
	f.IntVar(&o.Query.Limit, "limit", 0, "how many of the newest matching lines to print, 1 to 10000 (default 500)")
	f.BoolVarP(&o.Follow, "follow", "f", false, "keep printing new lines until interrupted")
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if o.Follow && o.Query.Until != "" {
			return usageError("--follow prints lines as they come, so it takes no --until: give one of them")
		}
		c, err := e.client()
		if err != nil {
			return err
		}
		o.App, o.JSON = args[0], out.json()
		return runLogs(cmd.Context(), c, o, cmd.OutOrStdout())
	}
	return cmd
}

// runLogs prints the newest matching lines, then, with Follow, the lines
// written afterwards, reconnecting where it left off when the server
// ends the stream (a restart), until ctx ends.
func runLogs(ctx context.Context, c logsClient, o logsOptions, out io.Writer) error {
	page, err := c.FunctionLogs(ctx, o.App, o.Stage, o.Query)
	if err != nil {
		return err
	}
	if o.JSON && !o.Follow {
		// The API's answer as one JSON value, as every command prints.
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(page)
	}
	for _, l := range page.Lines {
		if err := printLogLine(out, l, o.JSON); err != nil {
			return err
		}
	}
	if !o.Follow {
		if len(page.Lines) == 0 && !o.JSON {
			fmt.Fprintf(out, "No lines of %s/%s match. Widen --since or drop a filter.\n", o.App, o.Stage)
		}
		return nil
	}
	cursor := page.Cursor
	retry := o.Retry
	if retry <= 0 {
		retry = time.Second
	}
	for {
		err := c.FollowFunctionLogs(ctx, o.App, o.Stage, cursor, o.Query, func(l apiv1.FunctionLogLine) error {
			cursor = l.Cursor
			return printLogLine(out, l, o.JSON)
		})
		var apiErr *apiv1.APIError
		if errors.As(err, &apiErr) && apiErr.Status < 500 {
			return err // refused: no use trying again
		}
		if ctx.Err() != nil {
			return nil
		}
		// The stream ended (Seedbed restarted, a proxy cut it): go on
		// from the last line printed.
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(retry):
		}
	}
}

// printLogLine writes one line: "TIME FUNCTION [LEVEL] TEXT", or its JSON.
func printLogLine(w io.Writer, l apiv1.FunctionLogLine, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(l)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	_, err := fmt.Fprintf(w, "%s %s %-5s %s\n", l.Time.Local().Format("2006-01-02 15:04:05.000"), l.Function, strings.ToUpper(l.Level), forTerminal(l.Text))
	return err
}

// forTerminal keeps a line's colours (SGR sequences, ESC [ digits ; m)
// and shows every other control character as ^X or \xNN: a function logs
// what its callers send, and escape sequences could retitle, rewrite or
// worse the terminal of whoever reads the log.
func forTerminal(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f || r >= 0x80 && r < 0xa0 }) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == 0x1b && isSGR(s[i:]):
			end := strings.IndexByte(s[i:], 'm') + 1
			b.WriteString(s[i : i+end])
			i += end
			continue
		case r < 0x20 && r != '\t', r == 0x7f:
			b.WriteByte('^')
			b.WriteByte(byte(r) ^ 0x40)
		case r >= 0x80 && r < 0xa0:
			fmt.Fprintf(&b, "\\x%02x", r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// isSGR tells whether s starts with a colour sequence: ESC [ digits and
// semicolons, m.
func isSGR(s string) bool {
	if len(s) < 3 || s[1] != '[' {
		return false
	}
	for j := 2; j < len(s) && j < 32; j++ {
		switch c := s[j]; {
		case c == 'm':
			return true
		case c >= '0' && c <= '9', c == ';':
		default:
			return false
		}
	}
	return false
}
