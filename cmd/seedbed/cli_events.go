package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/seedbed/seedbed/web/apiv1"
)

// eventsOptions names a stage and, for actions, a schedule or invocation.
type eventsOptions struct {
	App, Stage string
	ID         string // schedule or invocation id; "" for all dead letters on redrive
	Status     string // invocations list: only this status
	JSON       bool   // --output json
}

func runSchedulesList(ctx context.Context, c *apiv1.Client, o eventsOptions, out io.Writer) error {
	ev, err := c.StageEvents(ctx, o.App, o.Stage, "")
	if err != nil {
		return err
	}
	if o.JSON {
		return writeJSON(out, ev.Schedules)
	}
	if len(ev.Schedules) == 0 {
		fmt.Fprintf(out, "Stage %s of %s has no schedules. Add one to a function in seedbed.yml, e.g. events: [{schedule: \"rate(5 minutes)\"}]\n", o.Stage, o.App)
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tFUNCTION\tSCHEDULE\tSTATE\tNEXT RUN\tLAST RESULT")
	for _, s := range ev.Schedules {
		state := "on"
		switch {
		case s.Off:
			state = "off for this stage"
		case s.Paused:
			state = "paused"
		}
		next, last := "-", "never ran"
		if s.NextRun != nil {
			next = s.NextRun.Local().Format("2006-01-02 15:04:05")
		}
		if s.Last != nil {
			last = fmt.Sprintf("%s (%s, %d attempts)", s.Last.Status, s.Last.CreatedAt.Local().Format("15:04:05"), s.Last.Attempts)
		}
		sched := s.Schedule
		if s.TimeZone != "" {
			sched += " " + s.TimeZone
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Function, sched, state, next, last)
	}
	return tw.Flush()
}

func runScheduleNow(ctx context.Context, c *apiv1.Client, o eventsOptions, out io.Writer) error {
	q, err := c.RunSchedule(ctx, o.App, o.Stage, o.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Queued invocation %s. Follow it with: seedbed invocations show %s %s %s\n", q.InvocationID, o.App, o.Stage, q.InvocationID)
	return nil
}

func runSchedulePause(ctx context.Context, c *apiv1.Client, o eventsOptions, paused bool, out io.Writer) error {
	if err := c.PauseSchedule(ctx, o.App, o.Stage, o.ID, paused); err != nil {
		return err
	}
	if paused {
		fmt.Fprintf(out, "Paused schedule %s on %s/%s; ticks that fall due meanwhile are skipped.\n", o.ID, o.App, o.Stage)
	} else {
		fmt.Fprintf(out, "Resumed schedule %s on %s/%s; it fires from its next tick.\n", o.ID, o.App, o.Stage)
	}
	return nil
}

// cmdInvocations parses an invocations command and runs it.
func runInvocationsList(ctx context.Context, c *apiv1.Client, o eventsOptions, out io.Writer) error {
	ev, err := c.StageEvents(ctx, o.App, o.Stage, o.Status)
	if err != nil {
		return err
	}
	if o.JSON {
		return writeJSON(out, ev.Invocations)
	}
	if len(ev.Invocations) == 0 {
		fmt.Fprintf(out, "No invocations of %s/%s match.\n", o.App, o.Stage)
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tFUNCTION\tSOURCE\tSTATUS\tATTEMPTS\tDURATION\tCREATED\tERROR")
	for _, i := range ev.Invocations {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", i.ID, i.Function, i.Source, i.Status, i.Attempts,
			time.Duration(i.DurationMS)*time.Millisecond, i.CreatedAt.Local().Format("2006-01-02 15:04:05"), firstLineOf(i.Error))
	}
	return tw.Flush()
}

func runInvocationShow(ctx context.Context, c *apiv1.Client, o eventsOptions, out io.Writer) error {
	inv, err := c.Invocation(ctx, o.App, o.Stage, o.ID)
	if err != nil {
		return err
	}
	if o.JSON {
		return writeJSON(out, inv)
	}
	fmt.Fprintf(out, "Invocation %s of %s (%s)\nStatus:   %s after %d of %d attempts\nDuration: %s\nCreated:  %s\n",
		inv.ID, inv.Function, inv.Source, inv.Status, inv.Attempts, inv.MaxAttempts,
		time.Duration(inv.DurationMS)*time.Millisecond, inv.CreatedAt.Local().Format(time.RFC3339))
	if inv.OnFailure != "" {
		fmt.Fprintf(out, "On failure: %s\n", inv.OnFailure)
	}
	if inv.Error != "" {
		fmt.Fprintf(out, "Error:    %s\n", inv.Error)
	}
	if inv.LogExcerpt != "" {
		fmt.Fprintf(out, "\n%s\n", inv.LogExcerpt)
	}
	return nil
}

func runRedrive(ctx context.Context, c *apiv1.Client, o eventsOptions, out io.Writer) error {
	r, err := c.Redrive(ctx, o.App, o.Stage, o.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Queued %d dead invocation(s) of %s/%s again.\n", r.Queued, o.App, o.Stage)
	return nil
}

func firstLineOf(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}

// queuesOptions names a queue of a stage and, for send, the message.
type queuesOptions struct {
	App, Stage, Queue string
	Body              string
	JSON              bool
}

// runQueueAction sends a message to a queue, or purges or redrives it.
func runQueueAction(ctx context.Context, c *apiv1.Client, verb string, o queuesOptions, out io.Writer) error {
	switch verb {
	case "send":
		sent, err := c.SendMessage(ctx, o.App, o.Stage, o.Queue, o.Body)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "Sent message %s to %s on %s/%s.\n", sent.MessageID, o.Queue, o.App, o.Stage)
		return nil
	case "purge", "redrive":
		var n apiv1.QueueCount
		var err error
		if verb == "purge" {
			n, err = c.PurgeQueue(ctx, o.App, o.Stage, o.Queue)
		} else {
			n, err = c.RedriveQueue(ctx, o.App, o.Stage, o.Queue)
		}
		if err != nil {
			return err
		}
		what := "Deleted %d waiting message(s) of %s.\n"
		if verb == "redrive" {
			what = "Put %d dead letter(s) back on %s.\n"
		}
		fmt.Fprintf(out, what, n.Count, o.Queue)
		return nil
	}
	return fmt.Errorf("unknown queue action %q", verb)
}

// runQueueToken prints the stage's queue send token: alone, so that
// TOKEN=$(seedbed queues token shop prod) works, or with where to send it.
func runQueueToken(ctx context.Context, c *apiv1.Client, o queuesOptions, out io.Writer) error {
	creds, err := c.QueueCredentials(ctx, o.App, o.Stage)
	if err != nil {
		return err
	}
	if o.JSON {
		return writeJSON(out, creds)
	}
	fmt.Fprintln(out, creds.Token)
	return nil
}

func runQueuesList(ctx context.Context, c *apiv1.Client, o queuesOptions, out io.Writer) error {
	qs, err := c.Queues(ctx, o.App, o.Stage)
	if err != nil {
		return err
	}
	if o.JSON {
		return writeJSON(out, qs)
	}
	if len(qs) == 0 {
		fmt.Fprintf(out, "Stage %s of %s has no queues. Declare one in seedbed.yml, e.g. queues: {orders: {max_receives: 5}}\n", o.Stage, o.App)
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tSUBSCRIBER\tWAITING\tIN FLIGHT\tDEAD\tOLDEST\tVISIBILITY\tMAX RECEIVES")
	for _, q := range qs {
		sub := q.Subscriber
		if sub == "" {
			sub = "(none)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t%d\n", q.Name, sub, q.Depth, q.InFlight, q.DeadLetters,
			(time.Duration(q.OldestAgeSeconds * float64(time.Second))).Round(time.Second), time.Duration(q.VisibilityTimeoutS*float64(time.Second)), q.MaxReceives)
	}
	return tw.Flush()
}

func runDeadMessages(ctx context.Context, c *apiv1.Client, o queuesOptions, out io.Writer) error {
	dead, err := c.DeadMessages(ctx, o.App, o.Stage, o.Queue)
	if err != nil {
		return err
	}
	if o.JSON {
		return writeJSON(out, dead)
	}
	if len(dead) == 0 {
		fmt.Fprintf(out, "Queue %s has no dead letters.\n", o.Queue)
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MESSAGE\tRECEIVES\tBODY")
	for _, d := range dead {
		fmt.Fprintf(tw, "%s\t%d\t%.80s\n", d.ID, d.Receives, d.Body)
	}
	return tw.Flush()
}

// eventsCommands are the schedules, invocations and queues groups: what
// starts a stage's functions besides its routes (see docs/events.md).
func eventsCommands(e cliEnv) []*cobra.Command {
	// sub makes one command of a group; args names its positional
	// arguments after APP STAGE, optional ones in brackets.
	type runFn func(ctx context.Context, c *apiv1.Client, args []string, out *outputFormat, w io.Writer) error
	sub := func(use, short, example string, output bool, args []string, run runFn) *cobra.Command {
		cmd := &cobra.Command{Use: use, Short: short, Example: example, ValidArgsFunction: e.completeApps}
		// --stage S stands for STAGE, as in seedbed logs and map.
		var stage string
		cmd.Flags().StringVar(&stage, "stage", "", "the stage, instead of STAGE after APP")
		withoutStage := slices.DeleteFunc(slices.Clone(args), func(a string) bool { return a == "STAGE" })
		cmd.Args = func(cmd *cobra.Command, got []string) error {
			if stage != "" {
				return positional(withoutStage...)(cmd, got)
			}
			return positional(args...)(cmd, got)
		}
		var out *outputFormat
		if output {
			out = addOutputFlag(cmd)
		} else {
			text := outputFormat("text")
			out = &text
		}
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			if stage != "" {
				args = slices.Insert(args, 1, stage)
			}
			return run(cmd.Context(), c, args, out, cmd.OutOrStdout())
		}
		return cmd
	}
	ev := func(args []string, out *outputFormat) eventsOptions {
		o := eventsOptions{App: args[0], Stage: args[1], JSON: out.json()}
		if len(args) > 2 {
			o.ID = args[2]
		}
		return o
	}
	schedules := group("schedules", "List a stage's schedules, run one now, pause or resume it",
		"  seedbed schedules list shop prod\n  seedbed schedules run shop prod 3",
		sub("list APP STAGE", "List a stage's schedules with their next run and last result",
			"  seedbed schedules list shop prod\n  seedbed schedules list shop --stage prod --output json", true, []string{"APP", "STAGE"},
			func(ctx context.Context, c *apiv1.Client, args []string, out *outputFormat, w io.Writer) error {
				return runSchedulesList(ctx, c, ev(args, out), w)
			}),
		sub("run APP STAGE SCHEDULE_ID", "Run a schedule now, outside its ticks",
			"  seedbed schedules run shop prod 3", false, []string{"APP", "STAGE", "SCHEDULE_ID"},
			func(ctx context.Context, c *apiv1.Client, args []string, out *outputFormat, w io.Writer) error {
				return runScheduleNow(ctx, c, ev(args, out), w)
			}),
		sub("pause APP STAGE SCHEDULE_ID", "Pause a schedule: its ticks are skipped until it is resumed",
			"  seedbed schedules pause shop prod 3", false, []string{"APP", "STAGE", "SCHEDULE_ID"},
			func(ctx context.Context, c *apiv1.Client, args []string, out *outputFormat, w io.Writer) error {
				return runSchedulePause(ctx, c, ev(args, out), true, w)
			}),
		sub("resume APP STAGE SCHEDULE_ID", "Resume a paused schedule",
			"  seedbed schedules resume shop prod 3", false, []string{"APP", "STAGE", "SCHEDULE_ID"},
			func(ctx context.Context, c *apiv1.Client, args []string, out *outputFormat, w io.Writer) error {
				return runSchedulePause(ctx, c, ev(args, out), false, w)
			}),
	)
	schedules.Long = "Schedules come from events: [{schedule: ...}] in seedbed.yml; list shows their ids."

	var status string
	invList := sub("list APP STAGE", "List a stage's recent invocations (async calls, schedule ticks, on-failure deliveries)",
		"  seedbed invocations list shop prod\n  seedbed invocations list shop --stage prod --status dead --output json", true, []string{"APP", "STAGE"},
		func(ctx context.Context, c *apiv1.Client, args []string, out *outputFormat, w io.Writer) error {
			o := ev(args, out)
			o.Status = status
			return runInvocationsList(ctx, c, o, w)
		})
	invList.Flags().StringVar(&status, "status", "", "only invocations with this status: queued, running, retrying, succeeded, dead, skipped")
	invocations := group("invocations", "List, show or redrive the runs nobody waited for",
		"  seedbed invocations list shop prod --status dead\n  seedbed invocations redrive shop prod",
		invList,
		sub("show APP STAGE ID", "Show one invocation: status, attempts, duration and log excerpt",
			"  seedbed invocations show shop prod 01J9Z...", true, []string{"APP", "STAGE", "ID"},
			func(ctx context.Context, c *apiv1.Client, args []string, out *outputFormat, w io.Writer) error {
				return runInvocationShow(ctx, c, ev(args, out), w)
			}),
		sub("redrive APP STAGE [ID]", "Run dead invocations again: one, or every dead letter of the stage",
			"  seedbed invocations redrive shop prod\n  seedbed invocations redrive shop prod 01J9Z...", true, []string{"APP", "STAGE", "[ID]"},
			func(ctx context.Context, c *apiv1.Client, args []string, out *outputFormat, w io.Writer) error {
				return runRedrive(ctx, c, ev(args, out), w)
			}),
	)
	invocations.Long = "Invocations are the runs nobody waited for: async calls, schedule ticks and on-failure deliveries."

	q := func(args []string, out *outputFormat) queuesOptions {
		o := queuesOptions{App: args[0], Stage: args[1], JSON: out.json()}
		if len(args) > 2 {
			o.Queue = args[2]
		}
		if len(args) > 3 {
			o.Body = args[3]
		}
		return o
	}
	action := func(verb string) runFn {
		return func(ctx context.Context, c *apiv1.Client, args []string, out *outputFormat, w io.Writer) error {
			return runQueueAction(ctx, c, verb, q(args, out), w)
		}
	}
	queues := group("queues", "List a stage's queues, send a message, look at, purge or redrive dead letters",
		"  seedbed queues list shop prod\n  seedbed queues send shop prod orders '{\"id\": 7}'",
		sub("list APP STAGE", "List a stage's queues: waiting, in flight, dead letters, oldest message",
			"  seedbed queues list shop prod\n  seedbed queues list shop --stage prod --output json", true, []string{"APP", "STAGE"},
			func(ctx context.Context, c *apiv1.Client, args []string, out *outputFormat, w io.Writer) error {
				return runQueuesList(ctx, c, q(args, out), w)
			}),
		sub("send APP STAGE QUEUE BODY", "Send a message to a queue",
			"  seedbed queues send shop prod orders '{\"id\": 7}'", false, []string{"APP", "STAGE", "QUEUE", "BODY"}, action("send")),
		sub("token APP STAGE", "Print the stage's queue send token, for senders outside its functions",
			"  seedbed queues token shop prod --output json\n"+
				"  curl -H \"Authorization: Bearer $(seedbed queues token shop prod)\" -d '{\"id\": 7}' https://gw.example/shop/prod/_seedbed/queues/orders", true, []string{"APP", "STAGE"},
			func(ctx context.Context, c *apiv1.Client, args []string, out *outputFormat, w io.Writer) error {
				return runQueueToken(ctx, c, q(args, out), w)
			}),
		sub("dead APP STAGE QUEUE", "List a queue's dead letters",
			"  seedbed queues dead shop prod orders", true, []string{"APP", "STAGE", "QUEUE"},
			func(ctx context.Context, c *apiv1.Client, args []string, out *outputFormat, w io.Writer) error {
				return runDeadMessages(ctx, c, q(args, out), w)
			}),
		sub("purge APP STAGE QUEUE", "Delete a queue's waiting messages",
			"  seedbed queues purge shop prod orders", false, []string{"APP", "STAGE", "QUEUE"}, action("purge")),
		sub("redrive APP STAGE QUEUE", "Put a queue's dead letters back on it",
			"  seedbed queues redrive shop prod orders", false, []string{"APP", "STAGE", "QUEUE"}, action("redrive")),
	)
	queues.Long = "Queues are declared under queues: in seedbed.yml; functions take them with events: [{queue: NAME}]."
	for _, g := range []*cobra.Command{schedules, invocations, queues} {
		for _, c := range g.Commands() {
			if c.Name() == "list" {
				c.Aliases = []string{"ls"}
			}
		}
	}
	return []*cobra.Command{schedules, invocations, queues}
}
