package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/seedbed/seedbed/web/apiv1"
)

const alertsLong = `Rules say what to watch, channels who hears of it. Rule kinds: build_failed,
deploy_failed, approval_awaiting (events); error_rate (threshold: percent),
latency_p95 (threshold: milliseconds) and crash_loop (threshold: crashes),
each over --window. A webhook channel signs every delivery
(X-Seedbed-Signature-256: sha256=HMAC of the body); its secret is printed once,
when it is made. Changing alerts needs the owner role; every member may list
them.`

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

// alertsCommand is "seedbed alerts": list, channel add|remove|test, rule
// add|remove. Each subcommand only fills alertsOptions; runAlerts acts.
func alertsCommand(e cliEnv) *cobra.Command {
	leaf := func(verb, use, short, example string, names ...string) (*cobra.Command, *alertsOptions, *outputFormat) {
		o := &alertsOptions{Verb: verb}
		cmd := &cobra.Command{Use: use, Short: short, Example: example, Args: positional(names...), ValidArgsFunction: e.completeApps}
		out := addOutputFlag(cmd)
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			o.App, o.JSON = args[0], out.json()
			if len(args) > 1 {
				o.Name = args[1]
				o.Channel.Name, o.Rule.Name = args[1], args[1]
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			return runAlerts(cmd.Context(), c, *o, cmd.OutOrStdout())
		}
		return cmd, o, out
	}
	list, _, _ := leaf("list", "list APP", "List an app's rules (firing or ok), channels and latest notifications",
		"  seedbed alerts list shop\n  seedbed alerts list shop -o json | jq '.deliveries[] | select(.status == \"failed\")'", "APP")
	list.Aliases = []string{"ls"}

	chAdd, chOpt, _ := leaf("channel-add", "add APP NAME --kind slack|webhook|email (--url URL | --to ADDRESSES)", "Add a channel: a Slack-compatible webhook, a signed webhook or email",
		`  seedbed alerts channel add shop ops --kind slack --url https://hooks.slack.com/services/T0/B0/XXXX
  seedbed alerts channel add shop hook --kind webhook --url https://ci.example.com/seedbed
  seedbed alerts channel add shop oncall --kind email --to ann@example.com,bob@example.com`, "APP", "NAME")
	chAdd.Flags().StringVar(&chOpt.Channel.Kind, "kind", "", "slack, webhook or email")
	chAdd.Flags().StringVar(&chOpt.Channel.URL, "url", "", "the URL a slack or webhook channel posts to (kept encrypted, shown only as a hint)")
	chAdd.Flags().StringVar(&chOpt.Channel.Addresses, "to", "", "an email channel's addresses, separated by commas (at most 10)")
	chAdd.Flags().StringVar(&chOpt.Channel.Secret, "secret", "", "the secret a webhook channel signs with (16 characters or more); empty: Seedbed makes one and prints it once")
	_ = chAdd.MarkFlagRequired("kind")
	chRemove, _, _ := leaf("channel-remove", "remove APP NAME", "Remove a channel no rule sends to", "  seedbed alerts channel remove shop ops", "APP", "NAME")
	chTest, _, _ := leaf("channel-test", "test APP NAME", "Send a test notification to a channel", "  seedbed alerts channel test shop ops\n  seedbed alerts list shop   # did it arrive?", "APP", "NAME")

	ruleAdd, ruleOpt, _ := leaf("rule-add", "add APP NAME --kind KIND --channel CHANNEL [--stage STAGE] [--function SERVICE/NAME] [--threshold N --window 5m]", "Add a rule: what to watch and which channel to tell",
		`  seedbed alerts rule add shop prod-deploys --kind deploy_failed --stage prod --channel ops
  seedbed alerts rule add shop prod-errors --kind error_rate --stage prod --threshold 5 --window 5m --channel oncall
  seedbed alerts rule add shop loops --kind crash_loop --threshold 3 --window 10m --channel ops`, "APP", "NAME")
	ruleAdd.Flags().StringVar(&ruleOpt.Rule.Kind, "kind", "", "build_failed, deploy_failed, approval_awaiting, error_rate, latency_p95 or crash_loop")
	ruleAdd.Flags().StringVar(&ruleOpt.Rule.Channel, "channel", "", "the channel the rule sends to")
	ruleAdd.Flags().StringVar(&ruleOpt.Rule.Stage, "stage", "", "the stage the rule watches; empty: every stage of the pipeline")
	ruleAdd.Flags().StringVar(&ruleOpt.Rule.Function, "function", "", "the function (service/name) a measured rule watches; empty: every function")
	ruleAdd.Flags().Float64Var(&ruleOpt.Rule.Threshold, "threshold", 0, "error_rate: percent; latency_p95: milliseconds; crash_loop: crashes")
	ruleAdd.Flags().StringVar(&ruleOpt.Rule.Window, "window", "", "how far back a measured rule looks, e.g. 5m (1m to 24h)")
	_ = ruleAdd.MarkFlagRequired("kind")
	_ = ruleAdd.MarkFlagRequired("channel")
	ruleRemove, _, _ := leaf("rule-remove", "remove APP NAME", "Remove a rule", "  seedbed alerts rule remove shop prod-errors", "APP", "NAME")

	g := group("alerts", "Alerts: rules and channels (Slack, signed webhooks, email) and the notifications sent",
		"  seedbed alerts list shop\n  seedbed alerts channel add shop ops --kind slack --url https://hooks.slack.com/services/…\n  seedbed alerts rule add shop prod-deploys --kind deploy_failed --stage prod --channel ops",
		list,
		group("channel", "Add, remove and test the channels notifications go to", "  seedbed alerts channel add shop hook --kind webhook --url https://ci.example.com/seedbed\n  seedbed alerts channel test shop hook", chAdd, chRemove, chTest),
		group("rule", "Add and remove the rules that notify", "  seedbed alerts rule add shop prod-deploys --kind deploy_failed --stage prod --channel ops", ruleAdd, ruleRemove),
	)
	g.Long = alertsLong
	return g
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
		return fmt.Errorf("unknown alerts command %q", o.Verb)
	}
	if o.JSON {
		return writeJSON(out, result)
	}
	_, err := io.WriteString(out, text)
	return err
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
