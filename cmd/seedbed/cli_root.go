package main

// The seedbed command tree, on cobra.
//
// How a command is registered: write a constructor that returns a
// *cobra.Command with Use, Short, Example (every command has examples;
// TestCLIHelp checks it) and a RunE that reads its flags and calls the
// command's logic, then add one line to the list in newRootCmd (a
// subcommand goes in its group's constructor, e.g. appsCommand).
//
//	func logsCommand(e cliEnv) *cobra.Command {
//		var o logsOptions
//		cmd := &cobra.Command{
//			Use:     "logs APP --stage STAGE",
//			Short:   "Print a stage's function logs",
//			Example: "  seedbed logs shop --stage prod --since 10m",
//			Args:    positional("APP"),
//		}
//		cmd.Flags().StringVar(&o.stage, "stage", "", "the stage")
//		_ = cmd.MarkFlagRequired("stage") // a missing flag is named
//		out := addOutputFlag(cmd)         // --output text|json
//		cmd.RunE = func(cmd *cobra.Command, args []string) error {
//			c, err := e.client()
//			if err != nil {
//				return err
//			}
//			o.app = args[0]
//			return runLogs(cmd.Context(), c, o, out, cmd.OutOrStdout())
//		}
//		return cmd
//	}
//
// A command that takes an APP and prints what one API call returns is one
// call to appDataCommand (stages list, members list); with other
// arguments, dataCommand. Both add --output json, which prints the API's
// JSON shape (web/apiv1). Errors: return usageError(...) for a wrongly
// called command (exit 2, usage printed), exitError{n} for a failure whose
// story was already printed, any other error for exit 1 with the message.
// A command still written in the old flag-package style ports as
// legacyCommand(e, use, short, fn) until it is rewritten.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/seedbed/seedbed/web/apiv1"
)

// cliEnv is what commands take from the process besides their arguments
// and standard streams (those come from the cobra command): the
// environment, for the server settings and SEEDBED_SERVER/SEEDBED_TOKEN.
type cliEnv struct {
	getenv func(string) string
}

// client makes an API client from the saved login and the environment.
func (e cliEnv) client() (*apiv1.Client, error) { return client(e.getenv) }

const rootLong = `seedbed — from Git to running functions, on your own machines.

The server commands run Seedbed; the client commands talk to a server's API
as the user ` + "`seedbed login`" + ` saved (SEEDBED_SERVER and SEEDBED_TOKEN override it).
Commands that print data take --output json for scripts.`

// newRootCmd builds the whole command tree. It keeps no state outside the
// tree: run builds a new one per call.
func newRootCmd(e cliEnv, stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "seedbed",
		Short: "From Git to running functions, on your own machines",
		Long:  rootLong,
		Example: `  seedbed serve
  seedbed login --server http://127.0.0.1:8080 --email you@example.com
  seedbed apps create shop --repo https://github.com/acme/shop.git
  seedbed deploy shop --stage dev --wait
  seedbed promote shop --from dev --yes --wait
  seedbed completion bash > /etc/bash_completion.d/seedbed`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	// A group runs only to say it needs a subcommand: its usage is its
	// subcommands, without a "seedbed apps" line of its own.
	root.SetUsageTemplate(strings.Replace(root.UsageTemplate(), "{{if .Runnable}}", "{{if and .Runnable (not .HasAvailableSubCommands)}}", 1))
	// Before the completion command is made: it keeps the writer it sees.
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddGroup(
		&cobra.Group{ID: "server", Title: "Server commands:"},
		&cobra.Group{ID: "client", Title: "Client commands (talk to a server's API):"},
	)
	server := []*cobra.Command{
		serveCommand(e, true),
		serveCommand(e, false),
		migrateCommand(e),
		gcCommand(e),
		adminCommand(e),
		secretsCommand(e),
	}
	clientCmds := []*cobra.Command{
		loginCommand(e),
		appsCommand(e),
		deployCommand(e),
		buildsCommand(e),
		promoteCommand(e),
		rollbackCommand(e),
		approveCommand(e),
		rejectCommand(e),
		cancelCommand(e),
		stagesCommand(e),
		envCommand(e),
		membersCommand(e),
		usersCommand(e),
		invitesCommand(e),
		activityCommand(e),
		tokensCommand(e),
		sessionsCommand(e),
		previewsCommand(e),
		alertsCommand(e),
		domainsCommand(e),
		logsCommand(e),
		mapCommand(e),
		driftCommand(e),
		metricsCommand(e),
		requestsCommand(e),
		errorsCommand(e),
		targetCommand(e),
	}
	clientCmds = append(clientCmds, eventsCommands(e)...)
	for _, c := range server {
		c.GroupID = "server"
		root.AddCommand(c)
	}
	for _, c := range clientCmds {
		c.GroupID = "client"
		root.AddCommand(c)
	}
	root.AddCommand(gitHookCommand(e))
	root.AddCommand(runFunctionCommand(e))

	// help and completion are cobra's; made here, not at Execute, so
	// they get examples like every other command.
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		switch c.Name() {
		case "help":
			c.Example = "  seedbed help deploy\n  seedbed help stages create"
		case "completion":
			c.Example = `  seedbed completion bash > /etc/bash_completion.d/seedbed
  seedbed completion zsh > "${fpath[1]}/_seedbed"
  seedbed completion fish > ~/.config/fish/completions/seedbed.fish`
			examples := map[string]string{
				"bash":       "  seedbed completion bash > /etc/bash_completion.d/seedbed\n  source <(seedbed completion bash)",
				"zsh":        "  seedbed completion zsh > \"${fpath[1]}/_seedbed\"",
				"fish":       "  seedbed completion fish > ~/.config/fish/completions/seedbed.fish",
				"powershell": "  seedbed completion powershell | Out-String | Invoke-Expression",
			}
			for _, sh := range c.Commands() {
				sh.Example = examples[sh.Name()]
			}
		}
	}
	finishTree(root)
	return root
}

// runError marks an error returned by a command's own RunE, as opposed to
// one cobra returns while parsing (unknown flag, missing argument or
// required flag), which is the caller's mistake: exit 2 and the usage.
type runError struct{ err error }

func (e runError) Error() string { return e.err.Error() }
func (e runError) Unwrap() error { return e.err }

// finishTree marks the errors of every RunE as runErrors and leaves
// " [flags]" off usage lines that already name their flags.
func finishTree(c *cobra.Command) {
	if strings.Contains(c.Use, "--") {
		c.DisableFlagsInUseLine = true
	}
	if f := c.RunE; f != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if err := f(cmd, args); err != nil {
				return runError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		finishTree(sub)
	}
}

// group makes a command that only holds subcommands. Called bare or with
// an unknown subcommand it is a usage error (exit 2) that lists them.
func group(use, short, example string, subs ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{
		Use:                        use,
		Short:                      short,
		Example:                    example,
		DisableFlagsInUseLine:      true,
		SuggestionsMinimumDistance: 2,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError("name a command")
			}
			msg := fmt.Sprintf("unknown command %q", args[0])
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += " (did you mean " + strings.Join(s, " or ") + "?)"
			}
			return usageError(msg)
		},
	}
	g.AddCommand(subs...)
	return g
}

// positional checks a command's arguments by name, so a missing one is
// named ("missing APP"). A last name ending in "..." takes one or more;
// names in brackets ("[ID]") at the end may be left out.
func positional(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		variadic := len(names) > 0 && strings.HasSuffix(names[len(names)-1], "...")
		required := len(names)
		for required > 0 && strings.HasPrefix(names[required-1], "[") { // optional, "[ID]"
			required--
		}
		if len(args) < required {
			return usageError("missing " + strings.Join(names[len(args):required], " "))
		}
		if !variadic && len(args) > len(names) {
			return usageError(fmt.Sprintf("unexpected argument %q", args[len(names)]))
		}
		return nil
	}
}

// outputFormat is --output: text for people, json for scripts.
type outputFormat string

func (o *outputFormat) String() string { return string(*o) }

// Set refuses a format other than text and json while flags are parsed.
func (o *outputFormat) Set(s string) error {
	switch s {
	case "text", "json":
		*o = outputFormat(s)
		return nil
	}
	return fmt.Errorf("want text or json")
}

// Type names the value in help.
func (o *outputFormat) Type() string { return "format" }

// json says whether the user asked for JSON.
func (o *outputFormat) json() bool { return *o == "json" }

// addOutputFlag adds --output (-o) to a command that prints data.
func addOutputFlag(cmd *cobra.Command) *outputFormat {
	o := outputFormat("text")
	cmd.Flags().VarP(&o, "output", "o", "text, or json: the API's JSON shape, for scripts")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return &o
}

// human is where texts for people go: stdout, or stderr when stdout is
// for JSON.
func (o *outputFormat) human(cmd *cobra.Command) io.Writer {
	if o.json() {
		return cmd.ErrOrStderr()
	}
	return cmd.OutOrStdout()
}

// print writes v as indented JSON, or calls text. A nil slice is printed
// as [] so scripts can iterate over it.
func (o *outputFormat) print(w io.Writer, v any, text func(io.Writer) error) error {
	if !o.json() {
		return text(w)
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice && rv.IsNil() {
		v = []struct{}{}
	}
	return writeJSON(w, v)
}

// writeJSON writes v as indented JSON, the CLI's one JSON shape.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// dataCommand completes cmd (Use, Short, Example, Args set by the caller)
// as a command that fetches one value with the arguments and prints it as
// text or, with --output json, as JSON.
func dataCommand[T any](e cliEnv, cmd *cobra.Command, fetch func(ctx context.Context, c *apiv1.Client, args []string) (T, error), text func(w io.Writer, args []string, v T) error) *cobra.Command {
	out := addOutputFlag(cmd)
	if cmd.Args == nil {
		cmd.Args = positional()
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := e.client()
		if err != nil {
			return err
		}
		v, err := fetch(cmd.Context(), c, args)
		if err != nil {
			return err
		}
		return out.print(cmd.OutOrStdout(), v, func(w io.Writer) error { return text(w, args, v) })
	}
	return cmd
}

// appDataCommand is dataCommand for the common case: one APP argument.
func appDataCommand[T any](e cliEnv, cmd *cobra.Command, fetch func(ctx context.Context, c *apiv1.Client, app string) (T, error), text func(w io.Writer, app string, v T) error) *cobra.Command {
	cmd.Args = positional("APP")
	cmd.ValidArgsFunction = e.completeApps
	return dataCommand(e, cmd,
		func(ctx context.Context, c *apiv1.Client, args []string) (T, error) { return fetch(ctx, c, args[0]) },
		func(w io.Writer, args []string, v T) error { return text(w, args[0], v) })
}

// completeApps completes an APP argument with the apps the signed-in user
// sees; without a login it offers nothing.
func (e cliEnv) completeApps(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	c, err := e.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	apps, err := c.Apps(cmd.Context())
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	names := make([]string, 0, len(apps))
	for _, a := range apps {
		names = append(names, a.Name)
	}
	sort.Strings(names)
	return names, cobra.ShellCompDirectiveNoFileComp
}

// legacyCommand registers a command that still parses its own flags with
// the flag package (newFlagSet, parseArgs): cobra passes it every
// argument, --help included. Port it to flags on the cobra command when
// you can: only then does it get examples, named missing flags and
// completion.
func legacyCommand(e cliEnv, use, short string, fn func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error) *cobra.Command {
	return &cobra.Command{
		Use:                   use,
		Short:                 short,
		DisableFlagParsing:    true,
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Marked here, not by finishTree: it may be added after
			// newRootCmd. usageError still means exit 2, other errors 1.
			if err := fn(cmd.Context(), args, e.getenv, cmd.OutOrStdout(), cmd.ErrOrStderr()); err != nil {
				return runError{err}
			}
			return nil
		},
	}
}

// printUsageError tells how a command is called after a usage error: the
// mistake, the usage line (each subcommand's for a group) and where the
// examples are.
func printUsageError(w io.Writer, cmd *cobra.Command, err error) {
	msg := err.Error()
	var ue errUsage
	if errors.As(err, &ue) {
		msg = ue.msg
	}
	fmt.Fprintf(w, "%s: %s\n", cmd.CommandPath(), msg)
	if cmd.HasAvailableSubCommands() && cmd.HasParent() {
		fmt.Fprintln(w, "usage:")
		for _, sub := range cmd.Commands() {
			if sub.IsAvailableCommand() {
				fmt.Fprintf(w, "  %s\n", sub.UseLine())
			}
		}
	} else if cmd.HasParent() {
		fmt.Fprintf(w, "usage: %s\n", cmd.UseLine())
	}
	fmt.Fprintf(w, "Run %q for examples and flags.\n", cmd.CommandPath()+" --help")
}
