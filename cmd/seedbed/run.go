package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// errUsage marks a wrongly called command: the usage is printed, exit 2.
type errUsage struct{ msg string }

func (e errUsage) Error() string { return "usage: " + e.msg }

func usageError(msg string) error { return errUsage{msg} }

// exitError carries an exit code without a message, e.g. a failed deploy
// whose story was already printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// run is the whole program; main only passes in the process's world. It
// returns the exit code: 0 done (help included), 1 failed, 2 wrongly
// called.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(cliEnv{getenv: getenv}, stdin, stdout, stderr)
	if len(args) == 0 {
		// A bare seedbed is a wrongly called command: help on stderr, exit 2.
		root.SetOut(stderr)
		_ = root.Help()
		return 2
	}
	return execute(ctx, root, args, stderr)
}

// execute runs the command args name and turns its error into an exit
// code, printing the error or the usage on stderr.
func execute(ctx context.Context, root *cobra.Command, args []string, stderr io.Writer) int {
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	var ee exitError
	var ue errUsage
	var re runError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, flag.ErrHelp):
		// A legacyCommand's flag set printed its usage for --help.
		return 0
	case errors.As(err, &ue) || !errors.As(err, &re):
		// Wrongly called: cobra refused the flags or arguments, or the
		// command said so.
		printUsageError(stderr, cmd, err)
		return 2
	}
	fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), err)
	return 1
}
