package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/seedbed/seedbed/web/apiv1"
)

const alertsUsage = `seedbed alerts list APP [--output json]
seedbed alerts channel add APP NAME --kind slack|webhook --url URL [--secret S]
seedbed alerts channel add APP NAME --kind email --to a@example.com,b@example.com
seedbed alerts channel remove|test APP NAME
seedbed alerts rule add APP NAME --kind KIND --channel CHANNEL [--stage STAGE] [--function SERVICE/NAME] [--threshold N --window 5m]
seedbed alerts rule remove APP NAME

Rules say what to watch, channels who hears of it. Kinds: build_failed,
deploy_failed, approval_awaiting (events); error_rate (threshold: percent),
latency_p95 (threshold: milliseconds), crash_loop (threshold: crashes), each
over --window. A webhook channel's signing secret is printed once, when it
is made. Changing alerts needs the owner role; every member may list them.`

// alertsOptions is one alerts command, parsed: what to do (Verb: list,
// channel-add, channel-remove, channel-test, rule-add, rule-remove), on
// which app, and its settings.
type alertsOptions struct {
	Verb    string
	App     string
	Name    string
	JSON    bool
	Channel apiv1.CreateAlertChannelRequest
	Rule    apiv1.CreateAlertRuleRequest
}

// cmdAlerts parses an alerts command the way the other commands do and
// runs it.
func cmdAlerts(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseAlertsArgs(args, stderr)
	if err != nil {
		return err
	}
	c, err := client(getenv)
	if err != nil {
		return err
	}
	return runAlerts(ctx, c, o, stdout)
}

// parseAlertsArgs reads the command line of an alerts command.
func parseAlertsArgs(args []string, stderr io.Writer) (alertsOptions, error) {
	var o alertsOptions
	if len(args) == 0 {
		return o, usageError(alertsUsage)
	}
	verb := args[0]
	rest := args[1:]
	if verb == "channel" || verb == "rule" {
		if len(rest) == 0 {
			return o, usageError(alertsUsage)
		}
		verb, rest = verb+"-"+rest[0], rest[1:]
	}
	fs := newFlagSet("alerts "+strings.ReplaceAll(verb, "-", " "), alertsUsage, stderr)
	output := fs.String("output", "text", "text or json")
	kind := fs.String("kind", "", "channel: slack, webhook or email; rule: build_failed, deploy_failed, approval_awaiting, error_rate, latency_p95 or crash_loop")
	urlFlag := fs.String("url", "", "the URL a slack or webhook channel posts to")
	secret := fs.String("secret", "", "the secret a webhook channel signs with (at least 16 characters); empty: Seedbed makes one")
	to := fs.String("to", "", "an email channel's addresses, separated by commas")
	channel := fs.String("channel", "", "the channel a rule sends to")
	stage := fs.String("stage", "", "the stage a rule watches; empty: every stage")
	function := fs.String("function", "", "the function (service/name) a measured rule watches; empty: every function")
	threshold := fs.String("threshold", "", "error_rate: percent; latency_p95: milliseconds; crash_loop: crashes")
	window := fs.String("window", "", "how far back a measured rule looks, e.g. 5m")
	pos, err := parseArgs(fs, rest)
	if err != nil {
		return o, err
	}
	switch *output {
	case "text":
	case "json":
		o.JSON = true
	default:
		return o, usageError(fmt.Sprintf("--output %q: want text or json", *output))
	}
	want := 2
	if verb == "list" {
		want = 1
	}
	switch verb {
	case "list", "channel-add", "channel-remove", "channel-test", "rule-add", "rule-remove":
	default:
		return o, usageError(alertsUsage)
	}
	if len(pos) != want {
		return o, usageError(alertsUsage)
	}
	o.Verb, o.App = verb, pos[0]
	if want == 2 {
		o.Name = pos[1]
	}
	switch verb {
	case "channel-add":
		if *kind == "" {
			return o, usageError("give the channel's --kind: slack, webhook or email")
		}
		o.Channel = apiv1.CreateAlertChannelRequest{Name: o.Name, Kind: *kind, URL: *urlFlag, Addresses: *to, Secret: *secret}
	case "rule-add":
		if *kind == "" || *channel == "" {
			return o, usageError("give the rule's --kind and the --channel it sends to")
		}
		o.Rule = apiv1.CreateAlertRuleRequest{Name: o.Name, Kind: *kind, Channel: *channel, Stage: *stage, Function: *function, Window: *window}
		if *threshold != "" {
			if o.Rule.Threshold, err = strconv.ParseFloat(*threshold, 64); err != nil {
				return o, usageError(fmt.Sprintf("--threshold %q is not a number; write e.g. 5 or 250", *threshold))
			}
		}
	}
	return o, nil
}

// runAlerts does what o says through the API and prints the outcome.
func runAlerts(ctx context.Context, c *apiv1.Client, o alertsOptions, out io.Writer) error {
	var result any
	var text string
	switch o.Verb {
	case "list":
		a, err := c.Alerts(ctx, o.App)
		if err != nil {
			return err
		}
		if o.JSON {
			return writeJSON(out, a)
		}
		return printAlerts(out, a)
	case "channel-add":
		res, err := c.CreateAlertChannel(ctx, o.App, o.Channel)
		if err != nil {
			return err
		}
		result = res
		text = fmt.Sprintf("Added channel %s (%s, %s).\n", res.Channel.Name, res.Channel.Kind, res.Channel.Hint)
		if res.Secret != "" {
			text += fmt.Sprintf("It signs every delivery (X-Seedbed-Signature-256: sha256=HMAC of the body) with this secret, shown only now:\n%s\n", res.Secret)
		}
	case "channel-remove":
		if err := c.DeleteAlertChannel(ctx, o.App, o.Name); err != nil {
			return err
		}
		result, text = map[string]string{"removed": o.Name}, fmt.Sprintf("Removed channel %s.\n", o.Name)
	case "channel-test":
		d, err := c.TestAlertChannel(ctx, o.App, o.Name)
		if err != nil {
			return err
		}
		result = d
		text = fmt.Sprintf("Queued test notification %s to %s; `seedbed alerts list %s` shows whether it arrived.\n", d.DeliveryID, o.Name, o.App)
	case "rule-add":
		r, err := c.CreateAlertRule(ctx, o.App, o.Rule)
		if err != nil {
			return err
		}
		result, text = r, fmt.Sprintf("Added rule %s (%s) sending to %s.\n", r.Name, r.Kind, r.Channel)
	case "rule-remove":
		if err := c.DeleteAlertRule(ctx, o.App, o.Name); err != nil {
			return err
		}
		result, text = map[string]string{"removed": o.Name}, fmt.Sprintf("Removed rule %s.\n", o.Name)
	default:
		return usageError(alertsUsage)
	}
	if o.JSON {
		return writeJSON(out, result)
	}
	_, err := io.WriteString(out, text)
	return err
}

func writeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printAlerts(out io.Writer, a apiv1.Alerts) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "RULE\tKIND\tSTAGE\tCHANNEL\tSTATE")
	for _, r := range a.Rules {
		stage, state := r.Stage, "ok"
		if stage == "" {
			stage = "(every)"
		}
		if r.Firing {
			state = "FIRING"
			if r.FiringFor != "" {
				state += " on " + r.FiringFor
			}
		}
		kind := r.Kind
		if r.Window != "" {
			kind += fmt.Sprintf(" > %g over %s", r.Threshold, r.Window)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.Name, kind, stage, r.Channel, state)
	}
	fmt.Fprintln(w, "\nCHANNEL\tKIND\tTARGET")
	for _, ch := range a.Channels {
		fmt.Fprintf(w, "%s\t%s\t%s\n", ch.Name, ch.Kind, ch.Hint)
	}
	fmt.Fprintln(w, "\nSENT\tCHANNEL\tEVENT\tSTATUS\tATTEMPTS\tCODE\tTITLE")
	for _, d := range a.Deliveries {
		code := ""
		if d.ResponseCode != 0 {
			code = strconv.Itoa(d.ResponseCode)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.CreatedAt.Local().Format("2006-01-02 15:04:05"), d.Channel, d.Event, d.Status, d.Attempts, code, d.Title)
	}
	return w.Flush()
}
