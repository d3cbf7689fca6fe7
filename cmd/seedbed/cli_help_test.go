package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// runQuiet runs seedbed with an empty environment and no input.
func runQuiet(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(context.Background(), args, func(string) string { return "" }, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// commandPaths lists every command people may call, groups included, as
// argument lists: [] for seedbed itself, ["apps", "list"], ...
func commandPaths(c *cobra.Command, prefix []string) [][]string {
	paths := [][]string{prefix}
	for _, sub := range c.Commands() {
		if sub.Hidden {
			continue
		}
		paths = append(paths, commandPaths(sub, append(append([]string{}, prefix...), sub.Name()))...)
	}
	return paths
}

// Every command and group answers --help with exit 0 on stdout, with
// examples; a group lists its commands.
func TestCLIHelp(t *testing.T) {
	paths := commandPaths(newRootCmd(cliEnv{getenv: func(string) string { return "" }}, nil, io.Discard, io.Discard), nil)
	if len(paths) < 60 {
		t.Fatalf("only %d commands found; the walk misses some", len(paths))
	}
	for _, path := range paths {
		t.Run("seedbed "+strings.Join(path, " "), func(t *testing.T) {
			code, out, errOut := runQuiet(append(path, "--help")...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			for _, want := range []string{"Usage:", "Examples:\n  seedbed"} {
				if !strings.Contains(out, want) {
					t.Errorf("help lacks %q:\n%s", want, out)
				}
			}
		})
	}
	// The forms and flags people asked about are in the help.
	for _, tt := range []struct{ args, want []string }{
		{[]string{"cancel", "--help"}, []string{"--build", "seedbed cancel --build 42"}},
		{[]string{"apps", "--help"}, []string{"Available Commands:", "create", "settings"}},
		{[]string{"stages", "create", "--help"}, []string{"--after"}},
		{[]string{"apps", "create", "--help"}, []string{"--no-check"}},
		{[]string{"deploy", "--help"}, []string{"--wait", "--output"}},
		{[]string{"help", "deploy"}, []string{"seedbed deploy APP"}},
	} {
		code, out, _ := runQuiet(tt.args...)
		for _, want := range tt.want {
			if code != 0 || !strings.Contains(out, want) {
				t.Errorf("seedbed %s: exit %d, lacks %q:\n%s", strings.Join(tt.args, " "), code, want, out)
			}
		}
	}
}

// A wrongly called command exits 2 and says what is wrong by name: the
// missing flag or argument, the unknown command; nothing is sent to a
// server (none is configured here, which would exit 1).
func TestCLIUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"bare seedbed", nil, []string{"Usage:", "Server commands:"}},
		{"unknown command", []string{"deplyo"}, []string{`unknown command "deplyo"`}},
		{"bare group", []string{"apps"}, []string{"seedbed apps: name a command", "seedbed apps create NAME", "seedbed apps list"}},
		{"unknown subcommand", []string{"stages", "lst"}, []string{`unknown command "lst"`, "did you mean list?"}},
		{"bare secrets", []string{"secrets"}, []string{"seedbed secrets rotate-key"}},
		{"missing argument", []string{"deploy"}, []string{"seedbed deploy: missing APP", "usage: seedbed deploy APP"}},
		{"missing second argument", []string{"stages", "create", "shop"}, []string{"missing NAME"}},
		{"extra argument", []string{"apps", "list", "shop"}, []string{`unexpected argument "shop"`}},
		{"promote without --from", []string{"promote", "shop"}, []string{`required flag(s) "from" not set`}},
		{"rollback without --stage", []string{"rollback", "shop"}, []string{`required flag(s) "stage" not set`}},
		{"env list without --stage", []string{"env", "list", "shop"}, []string{`required flag(s) "stage" not set`}},
		{"env set without --stage", []string{"env", "set", "shop", "A=1"}, []string{`required flag(s) "stage" not set`}},
		{"members set without --role", []string{"members", "set", "shop", "kim@example.com"}, []string{`required flag(s) "role" not set`}},
		{"previews enable without --template", []string{"previews", "enable", "shop"}, []string{`required flag(s) "template" not set`}},
		{"previews open without commit or branch", []string{"previews", "open", "shop", "7"}, []string{"commit", "branch"}},
		{"previews open with a bad number", []string{"previews", "open", "shop", "seven", "--branch", "b"}, []string{`"seven" is not a pull request number`}},
		{"login without --email", []string{"login", "--server", "http://127.0.0.1:1"}, []string{`required flag(s) "email" not set`}},
		{"login without a password", []string{"login", "--server", "http://127.0.0.1:1", "--email", "a@example.com"}, []string{"missing --password (or SEEDBED_PASSWORD)"}},
		{"login without a server", []string{"login", "--email", "a@example.com", "--password", "x"}, []string{"missing --server URL (or SEEDBED_SERVER)"}},
		{"users create without a password", []string{"users", "create", "--email", "a@example.com"}, []string{"SEEDBED_NEW_PASSWORD"}},
		{"users update with nothing to change", []string{"users", "update", "a@example.com"}, []string{"say what to change"}},
		{"users update both ways", []string{"users", "update", "a@example.com", "--creator", "--no-creator"}, []string{"creator", "no-creator"}},
		{"admin create without flags", []string{"admin", "create"}, []string{`required flag(s) "email", "password" not set`}},
		{"settings token both ways", []string{"apps", "settings", "shop", "--token-file", "f", "--clear-token"}, []string{"clear-token", "token-file"}},
		{"unknown flag", []string{"deploy", "shop", "--stag", "dev"}, []string{"unknown flag: --stag"}},
		{"events with --stage, missing an argument", []string{"schedules", "run", "shop", "--stage", "prod"}, []string{"missing SCHEDULE_ID"}},
		{"events with --stage and STAGE too", []string{"queues", "list", "shop", "prod", "--stage", "prod"}, []string{`unexpected argument "prod"`}},
		{"wait on reject", []string{"reject", "4", "--wait"}, []string{"unknown flag: --wait"}},
		{"bad output format", []string{"apps", "list", "--output", "yaml"}, []string{"want text or json"}},
		{"bad id", []string{"tokens", "revoke", "four"}, []string{`"four" is not a token id`}},
		{"builds logs --follow with json", []string{"builds", "logs", "4", "--follow", "-o", "json"}, []string{"give one of them"}},
		{"gc with an argument", []string{"gc", "now"}, []string{"usage: seedbed gc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runQuiet(tt.args...)
			if code != 2 {
				t.Fatalf("seedbed %s: exit %d, want 2\nstdout:\n%s\nstderr:\n%s", strings.Join(tt.args, " "), code, out, errOut)
			}
			for _, want := range tt.want {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr lacks %q:\n%s", want, errOut)
				}
			}
		})
	}
}

// completion writes a script for each shell, and the hidden __complete
// command that scripts call answers with commands and flag values.
func TestCLICompletion(t *testing.T) {
	for _, tt := range []struct{ shell, marker string }{
		{"bash", "__start_seedbed"},
		{"zsh", "#compdef seedbed"},
		{"fish", "complete -c seedbed"},
	} {
		t.Run(tt.shell, func(t *testing.T) {
			code, out, errOut := runQuiet("completion", tt.shell)
			if code != 0 || !strings.Contains(out, tt.marker) || len(out) < 1000 {
				t.Fatalf("completion %s: exit %d, %d bytes, stderr %q; want a script with %q", tt.shell, code, len(out), errOut, tt.marker)
			}
		})
	}
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"__complete", "st"}, []string{"stages"}},
		{[]string{"__complete", "stages", ""}, []string{"list", "create", "update", "delete", "order"}},
		{[]string{"__complete", "apps", "list", "--output", ""}, []string{"text", "json"}},
		{[]string{"__complete", "members", "set", "shop", "kim@example.com", "--role", ""}, []string{"viewer", "deployer", "owner"}},
	} {
		code, out, errOut := runQuiet(tt.args...)
		for _, want := range tt.want {
			if code != 0 || !strings.Contains(out, want+"\t") && !strings.Contains(out, want+"\n") {
				t.Errorf("seedbed %s: exit %d, lacks %q:\n%s%s", strings.Join(tt.args, " "), code, want, out, errOut)
			}
		}
	}
}

// git runs `seedbed git-hook pre-receive` and reads its exit code: its
// arguments, --help included, go to the hook as they are.
func TestCLIGitHook(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"outside a push", []string{"git-hook", "pre-receive"}, 1, "takes pushes only through Seedbed's git remote"},
		{"no hook name", []string{"git-hook"}, 2, "usage: seedbed git-hook pre-receive"},
		{"help is an argument", []string{"git-hook", "--help"}, 2, "usage: seedbed git-hook pre-receive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runQuiet(tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errOut, tt.code, tt.want)
			}
			if strings.Contains(errOut, "Run \"seedbed") {
				t.Errorf("the hook's own message is all git should show, got:\n%s", errOut)
			}
		})
	}
	if _, out, _ := runQuiet("--help"); strings.Contains(out, "git-hook") {
		t.Errorf("seedbed --help lists the hidden git-hook:\n%s", out)
	}
}

// Help shows the server flags' built-in defaults, never the environment's
// values (a database URL holds a password), while the environment still
// sets them.
func TestServerFlagsFromEnvironment(t *testing.T) {
	env := map[string]string{"SEEDBED_DATABASE_URL": "postgres://seedbed:hunter2-secret@db/seedbed", "SEEDBED_WORKERS": "7"}
	getenv := func(k string) string { return env[k] }
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--help"}, getenv, nil, &out, &errOut); code != 0 {
		t.Fatalf("serve --help: exit %d, %s", code, errOut.String())
	}
	if strings.Contains(out.String(), "hunter2") || !strings.Contains(out.String(), "(default 4)") {
		t.Errorf("serve --help shows the environment's values:\n%s", out.String())
	}
	cmd := &cobra.Command{Use: "serve"}
	cfg := serverFlags(cmd, getenv)
	if err := cmd.ParseFlags([]string{"--addr", "127.0.0.1:9"}); err != nil {
		t.Fatal(err)
	}
	if cfg.DatabaseURL != env["SEEDBED_DATABASE_URL"] || cfg.Workers != 7 || cfg.Addr != "127.0.0.1:9" {
		t.Errorf("config = %q, %d workers, %q; want the environment's database and workers, the flag's addr", cfg.DatabaseURL, cfg.Workers, cfg.Addr)
	}
}

// A command still written against the flag package runs under cobra as a
// legacyCommand: it parses its own flags (--help included) and its errors
// keep their exit codes.
func TestLegacyCommand(t *testing.T) {
	legacy := func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
		fs := newFlagSet("oldlogs", "seedbed oldlogs APP [--stage dev]", stderr)
		stage := fs.String("stage", "dev", "the stage")
		pos, err := parseArgs(fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usageError("seedbed oldlogs APP [--stage dev]")
		}
		if pos[0] == "broken" {
			return errors.New("no such app")
		}
		fmt.Fprintf(stdout, "logs of %s on %s (%s)\n", pos[0], *stage, getenv("SEEDBED_SERVER"))
		return nil
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"flags after the argument", []string{"oldlogs", "shop", "--stage", "prod"}, 0, "logs of shop on prod (http://seedbed)", ""},
		{"flags before it", []string{"oldlogs", "-stage", "qa", "shop"}, 0, "logs of shop on qa", ""},
		{"help", []string{"oldlogs", "--help"}, 0, "", "Usage: seedbed oldlogs APP"},
		{"missing argument", []string{"oldlogs"}, 2, "", "usage: seedbed oldlogs APP"},
		{"unknown flag, as before cobra", []string{"oldlogs", "shop", "--stag", "x"}, 1, "", "flag provided but not defined: -stag"},
		{"failure", []string{"oldlogs", "broken"}, 1, "", "seedbed oldlogs: no such app"},
	}
	// "oldlogs": a name no real command has, or cobra would find that one.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			e := cliEnv{getenv: func(string) string { return "http://seedbed" }}
			root := newRootCmd(e, nil, &out, &errOut)
			root.AddCommand(legacyCommand(e, "oldlogs APP [--stage dev]", "Print logs", legacy))
			code := execute(context.Background(), root, tt.args, &errOut)
			if code != tt.code || !strings.Contains(out.String(), tt.stdout) || !strings.Contains(errOut.String(), tt.stderr) {
				t.Fatalf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s\nwant %q / %q", code, tt.code, out.String(), errOut.String(), tt.stdout, tt.stderr)
			}
		})
	}
}
