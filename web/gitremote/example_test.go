package gitremote_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"

	"github.com/seedbed/seedbed/web/gitremote"
)

// Example shows the wiring: the remote mounted at /git/ next to the rest of
// the server, and the hidden `seedbed git-hook` subcommand that the
// repositories' pre-receive hooks run.
func Example() {
	if len(os.Args) > 1 && os.Args[1] == "git-hook" {
		os.Exit(gitremote.RunHook(context.Background(), os.Args[2:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
	}
	remote, err := gitremote.New(gitremote.Config{
		ReposDir: "/var/lib/seedbed/git",
		Authenticate: func(ctx context.Context, user, token string) (string, error) {
			return "", errors.New("look the token up in the store")
		},
		Authorize: func(ctx context.Context, user, app string) (gitremote.Access, error) { return gitremote.NoAccess, nil },
		OnPush: func(ctx context.Context, push gitremote.Push, progress io.Writer) error {
			fmt.Fprintf(progress, "Seedbed: %d ref(s) of %s received\n", len(push.Updates), push.App)
			return nil // an error here refuses the push
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/git/", remote) // not behind a body-size limit or a write timeout
	_ = mux
}
