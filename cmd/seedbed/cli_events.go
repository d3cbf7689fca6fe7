package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/seedbed/seedbed/web/apiv1"
)

const (
	schedulesUse   = "seedbed schedules list APP STAGE [--output json] | run|pause|resume APP STAGE SCHEDULE_ID"
	invocationsUse = "seedbed invocations list APP STAGE [--status dead] [--output json] | show APP STAGE ID [--output json] | redrive APP STAGE [ID]"
)

// eventsOptions names a stage and, for actions, a schedule or invocation.
type eventsOptions struct {
	App, Stage string
	ID         string // schedule or invocation id; "" for all dead letters on redrive
	Status     string // invocations list: only this status
	JSON       bool   // --output json
}

// parseEventsArgs reads "VERB APP STAGE [ID]" and the flags the way the
// rest of the CLI does.
func parseEventsArgs(name, use string, args []string, stderr io.Writer, minPos, maxPos int) (eventsOptions, error) {
	fs := newFlagSet(name, use, stderr)
	output := fs.String("output", "", "json for machine-readable output")
	status := fs.String("status", "", "only invocations with this status: queued, running, retrying, succeeded, dead, skipped")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return eventsOptions{}, err
	}
	if len(pos) < minPos || len(pos) > maxPos {
		return eventsOptions{}, usageError(use)
	}
	if *output != "" && *output != "json" {
		return eventsOptions{}, usageError("--output takes json; leave it out for a table")
	}
	o := eventsOptions{App: pos[0], Stage: pos[1], Status: *status, JSON: *output == "json"}
	if len(pos) > 2 {
		o.ID = pos[2]
	}
	return o, nil
}

// cmdSchedules parses a schedules command and runs it.
func cmdSchedules(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError(schedulesUse)
	}
	verb := args[0]
	minPos, maxPos := 3, 3
	if verb == "list" || verb == "ls" {
		minPos, maxPos = 2, 2
	}
	o, err := parseEventsArgs("schedules "+verb, schedulesUse+"\n\nSchedules come from events: [{schedule: ...}] in seedbed.yml; ids are shown by list.", args[1:], stderr, minPos, maxPos)
	if err != nil {
		return err
	}
	c, err := client(getenv)
	if err != nil {
		return err
	}
	switch verb {
	case "list", "ls":
		return runSchedulesList(ctx, c, o, stdout)
	case "run":
		return runScheduleNow(ctx, c, o, stdout)
	case "pause", "resume":
		return runSchedulePause(ctx, c, o, verb == "pause", stdout)
	}
	return usageError(schedulesUse)
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
func cmdInvocations(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError(invocationsUse)
	}
	verb := args[0]
	minPos, maxPos := 2, 2
	switch verb {
	case "show":
		minPos, maxPos = 3, 3
	case "redrive":
		minPos, maxPos = 2, 3
	}
	o, err := parseEventsArgs("invocations "+verb, invocationsUse+"\n\nInvocations are the runs nobody waited for: async calls, schedule ticks and on-failure deliveries.", args[1:], stderr, minPos, maxPos)
	if err != nil {
		return err
	}
	c, err := client(getenv)
	if err != nil {
		return err
	}
	switch verb {
	case "list", "ls":
		return runInvocationsList(ctx, c, o, stdout)
	case "show":
		return runInvocationShow(ctx, c, o, stdout)
	case "redrive":
		return runRedrive(ctx, c, o, stdout)
	}
	return usageError(invocationsUse)
}

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

func writeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func firstLineOf(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}

const queuesUse = "seedbed queues list APP STAGE [--output json] | send APP STAGE QUEUE BODY | dead|purge|redrive APP STAGE QUEUE [--output json]"

// queuesOptions names a queue of a stage and, for send, the message.
type queuesOptions struct {
	App, Stage, Queue string
	Body              string
	JSON              bool
}

// cmdQueues parses a queues command and runs it.
func cmdQueues(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError(queuesUse)
	}
	verb := args[0]
	fs := newFlagSet("queues "+verb, queuesUse+"\n\nQueues are declared under queues: in seedbed.yml; functions take them with events: [{queue: NAME}].", stderr)
	output := fs.String("output", "", "json for machine-readable output")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	want := map[string]int{"list": 2, "ls": 2, "send": 4, "dead": 3, "purge": 3, "redrive": 3}[verb]
	if want == 0 || len(pos) != want {
		return usageError(queuesUse)
	}
	if *output != "" && *output != "json" {
		return usageError("--output takes json; leave it out for a table")
	}
	o := queuesOptions{App: pos[0], Stage: pos[1], JSON: *output == "json"}
	if want >= 3 {
		o.Queue = pos[2]
	}
	if want == 4 {
		o.Body = pos[3]
	}
	c, err := client(getenv)
	if err != nil {
		return err
	}
	switch verb {
	case "list", "ls":
		return runQueuesList(ctx, c, o, stdout)
	case "send":
		sent, err := c.SendMessage(ctx, o.App, o.Stage, o.Queue, o.Body)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Sent message %s to %s on %s/%s.\n", sent.MessageID, o.Queue, o.App, o.Stage)
		return nil
	case "dead":
		return runDeadMessages(ctx, c, o, stdout)
	case "purge", "redrive":
		var n apiv1.QueueCount
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
		fmt.Fprintf(stdout, what, n.Count, o.Queue)
		return nil
	}
	return usageError(queuesUse)
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
	fmt.Fprintln(tw, "QUEUE\tSUBSCRIBER\tWAITING\tDEAD\tOLDEST\tVISIBILITY\tMAX RECEIVES")
	for _, q := range qs {
		sub := q.Subscriber
		if sub == "" {
			sub = "(none)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%d\n", q.Name, sub, q.Depth, q.DeadLetters,
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
