// Command seedbed is Seedbed's single binary: the server (serve), extra
// build workers (worker), schema migrations (migrate), server-side admin
// tasks (admin) and the user CLI that talks to a server's API.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}
