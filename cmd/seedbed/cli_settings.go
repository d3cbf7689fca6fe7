package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/seedbed/seedbed/web/apiv1"
)

const appSettingsUsage = `seedbed apps settings APP [--forge github|gitlab|gitea|bitbucket|none] [--api-url URL] [--repo OWNER/NAME] [--token-file FILE | --clear-token] [--poll 1m|0]

Shows an app's forge settings, or changes those given: where commit statuses
go (the forge, its API URL for self-hosted servers, the repository's path
there, an access token read from a file) and how often Seedbed polls the
repository for pushes (0 turns polling off). The token is never shown.`

// cmdAppSettings shows or changes an app's forge settings.
func cmdAppSettings(ctx context.Context, c *apiv1.Client, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("apps settings", appSettingsUsage, stderr)
	forgeKind := fs.String("forge", "", "the forge hosting the repository: github, gitlab, gitea (also Forgejo), bitbucket or none")
	apiURL := fs.String("api-url", "", "the forge's API base URL, for self-hosted servers")
	repo := fs.String("repo", "", "the repository's path on the forge (owner/name); empty: read from the repository URL")
	tokenFile := fs.String("token-file", "", "file holding an access token that may set commit statuses")
	clearToken := fs.Bool("clear-token", false, "remove the access token")
	poll := fs.String("poll", "", "how often to poll the repository for pushes (e.g. 1m); 0: never")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError(appSettingsUsage)
	}
	var req apiv1.AppSettingsRequest
	changed := false
	var readErr error
	fs.Visit(func(f *flag.Flag) {
		changed = true
		switch f.Name {
		case "forge":
			req.Forge = forgeKind
		case "api-url":
			req.APIURL = apiURL
		case "repo":
			req.Repo = repo
		case "poll":
			req.Poll = poll
		case "token-file":
			b, err := os.ReadFile(*tokenFile)
			if err != nil {
				readErr = fmt.Errorf("read the token file: %w", err)
				return
			}
			tok := strings.TrimSpace(string(b))
			if tok == "" {
				readErr = fmt.Errorf("the token file %s is empty; use --clear-token to remove the token", *tokenFile)
				return
			}
			req.Token = &tok
		case "clear-token":
			if *clearToken {
				empty := ""
				req.Token = &empty
			}
		}
	})
	if readErr != nil {
		return readErr
	}
	if *clearToken && *tokenFile != "" {
		return usageError("give --token-file or --clear-token, not both")
	}
	var st apiv1.AppSettings
	if changed {
		st, err = c.UpdateAppSettings(ctx, pos[0], req)
		if err == nil {
			fmt.Fprintf(stdout, "Saved the settings of %s.\n", pos[0])
		}
	} else {
		st, err = c.AppSettings(ctx, pos[0])
	}
	if err != nil {
		return err
	}
	printAppSettings(stdout, st)
	return nil
}

func printAppSettings(w io.Writer, st apiv1.AppSettings) {
	or := func(v, none string) string {
		if v == "" {
			return none
		}
		return v
	}
	repo := st.Repo
	if repo == "" && st.RepoDerived != "" {
		repo = st.RepoDerived + " (from the repository URL)"
	}
	poll := "off"
	if st.PollSeconds > 0 {
		poll = "every " + st.Poll
	}
	fmt.Fprintf(w, "forge:    %s\n", or(st.Forge, "none"))
	fmt.Fprintf(w, "api url:  %s\n", or(st.APIURL, "default"))
	fmt.Fprintf(w, "repo:     %s\n", or(repo, "unknown"))
	fmt.Fprintf(w, "token:    %s\n", st.Token)
	fmt.Fprintf(w, "polling:  %s\n", poll)
}
