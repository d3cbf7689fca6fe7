package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/seedbed/seedbed/web/gitremote"
)

const usage = `seedbed — from Git to running functions, on your own machines.

Server:
  seedbed serve            console, API, gateway and workers in one process
  seedbed worker           extra build workers (PostgreSQL + Redis setups)
  seedbed migrate          apply database migrations
  seedbed gc [--dry-run]   remove what retention does not keep (serve does it every --gc-interval)
  seedbed admin create     create an admin user (--email, --password)
  seedbed secrets rotate-key   re-seal every secret under a new key (serve stopped)

Client (talks to a server's API; SEEDBED_SERVER and SEEDBED_TOKEN override the saved login):
  seedbed login --server URL --email E --password P
  seedbed apps list
  seedbed apps create NAME [--repo URL] [--branch main]   (no --repo: push to the built-in remote)
  seedbed deploy APP [--stage dev] [--ref REF] [--wait]
  seedbed builds list APP [--status failed] [--ref main] [--trigger push] [--before ID]
  seedbed builds logs BUILD_ID [--follow]
  seedbed promote APP --from dev [--to staging] [--yes] [--wait]
  seedbed rollback APP --stage prod [--to RELEASE] [--wait]
  seedbed approve DEPLOY_ID [--wait] | seedbed reject DEPLOY_ID [--reason TEXT]
  seedbed cancel DEPLOY_ID | seedbed cancel --build BUILD_ID
  seedbed stages list|create|update|delete|order APP ...   (create APP NAME [--after STAGE])
  seedbed env list|set|unset APP --stage S [--secret] KEY[=VALUE]
  seedbed members list|set|remove APP [EMAIL --role viewer|deployer|owner]
  seedbed users create --email E --password P [--admin] [--approver]
  seedbed users invite EMAIL [--admin] [--approver]
  seedbed invites list|create EMAIL|revoke ID
  seedbed activity [--limit 50]
  seedbed tokens list|create NAME|revoke ID
  seedbed sessions list|revoke ID
  seedbed previews list|enable|disable|open|close APP ...
  seedbed schedules list|run|pause|resume APP STAGE [ID]
  seedbed invocations list|show|redrive APP STAGE [ID]
  seedbed queues list|send|dead|purge|redrive APP STAGE [QUEUE] [BODY]

Run "seedbed COMMAND --help" for a command's flags.
`

// errUsage marks a wrongly called command: the usage is printed, exit 2.
type errUsage struct{ msg string }

func (e errUsage) Error() string { return "usage: " + e.msg }

func usageError(msg string) error { return errUsage{msg} }

// exitError carries an exit code without a message, e.g. a failed deploy
// whose story was already printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// run is the whole program; main only passes in the process's world.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "git-hook":
		// Run by git inside a push to the built-in remote; not for people.
		return gitremote.RunHook(ctx, rest, stdin, stdout, stderr, getenv)
	case "serve":
		err = cmdServe(ctx, rest, getenv, stdout, stderr, true)
	case "worker":
		err = cmdServe(ctx, rest, getenv, stdout, stderr, false)
	case "migrate":
		err = cmdMigrate(ctx, rest, getenv, stdout, stderr)
	case "gc":
		err = cmdGC(ctx, rest, getenv, stdout, stderr)
	case "admin":
		err = cmdAdmin(ctx, rest, getenv, stdout, stderr)
	case "secrets":
		err = cmdSecrets(ctx, rest, getenv, stdout, stderr)
	case "login":
		err = cmdLogin(ctx, rest, getenv, stdout, stderr)
	case "apps":
		err = cmdApps(ctx, rest, getenv, stdout, stderr)
	case "deploy":
		err = cmdDeploy(ctx, rest, getenv, stdout, stderr)
	case "builds":
		err = cmdBuilds(ctx, rest, getenv, stdout, stderr)
	case "promote":
		err = cmdPromote(ctx, rest, getenv, stdin, stdout, stderr)
	case "rollback":
		err = cmdRollback(ctx, rest, getenv, stdout, stderr)
	case "approve", "reject", "cancel":
		err = cmdDecide(ctx, cmd, rest, getenv, stdout, stderr)
	case "stages":
		err = cmdStages(ctx, rest, getenv, stdout, stderr)
	case "env":
		err = cmdEnv(ctx, rest, getenv, stdin, stdout, stderr)
	case "members":
		err = cmdMembers(ctx, rest, getenv, stdout, stderr)
	case "users":
		err = cmdUsers(ctx, rest, getenv, stdout, stderr)
	case "invites":
		err = cmdInvites(ctx, rest, getenv, stdout, stderr)
	case "activity":
		err = cmdActivity(ctx, rest, getenv, stdout, stderr)
	case "tokens":
		err = cmdTokens(ctx, rest, getenv, stdout, stderr)
	case "sessions":
		err = cmdSessions(ctx, rest, getenv, stdout, stderr)
	case "previews":
		err = cmdPreviews(ctx, rest, getenv, stdout, stderr)
	case "schedules":
		err = cmdSchedules(ctx, rest, getenv, stdout, stderr)
	case "invocations":
		err = cmdInvocations(ctx, rest, getenv, stdout, stderr)
	case "queues":
		err = cmdQueues(ctx, rest, getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "seedbed: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	var ee exitError
	var ue errUsage
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "seedbed: %v\n", err)
		return 2
	}
	fmt.Fprintf(stderr, "seedbed %s: %v\n", cmd, err)
	return 1
}
