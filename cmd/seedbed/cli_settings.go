package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/seedbed/seedbed/web/apiv1"
)

const appSettingsLong = `Shows an app's forge settings, or changes those given: where commit statuses
go (the forge, its API URL for self-hosted servers, the repository's path
there, an access token read from a file) and how often Seedbed polls the
repository for pushes (0 turns polling off). The token is never shown.`

// appSettingsCommand shows or changes an app's forge settings.
func appSettingsCommand(e cliEnv) *cobra.Command {
	var forgeKind, apiURL, repo, tokenFile, poll string
	var clearToken bool
	cmd := &cobra.Command{
		Use:   "settings APP [--forge github|gitlab|gitea|bitbucket|none] [--api-url URL] [--repo OWNER/NAME] [--token-file FILE | --clear-token] [--poll 1m|0]",
		Short: "Show or change an app's forge settings and polling",
		Long:  appSettingsLong,
		Example: `  seedbed apps settings shop
  seedbed apps settings shop --forge github --token-file gh.token
  seedbed apps settings shop --forge gitea --api-url https://git.example.com/api/v1 --repo acme/shop
  seedbed apps settings shop --poll 0 --clear-token
  seedbed apps settings shop --output json`,
		Args:              positional("APP"),
		ValidArgsFunction: e.completeApps,
	}
	f := cmd.Flags()
	f.StringVar(&forgeKind, "forge", "", "the forge hosting the repository: github, gitlab, gitea (also Forgejo), bitbucket or none")
	f.StringVar(&apiURL, "api-url", "", "the forge's API base URL, for self-hosted servers")
	f.StringVar(&repo, "repo", "", "the repository's path on the forge (owner/name); empty: read from the repository URL")
	f.StringVar(&tokenFile, "token-file", "", "file holding an access token that may set commit statuses")
	f.BoolVar(&clearToken, "clear-token", false, "remove the access token")
	f.StringVar(&poll, "poll", "", "how often to poll the repository for pushes (e.g. 1m); 0: never")
	cmd.MarkFlagsMutuallyExclusive("token-file", "clear-token")
	_ = cmd.RegisterFlagCompletionFunc("forge", cobra.FixedCompletions([]string{"github", "gitlab", "gitea", "bitbucket", "none"}, cobra.ShellCompDirectiveNoFileComp))
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		// Only the flags given change; the others keep their value.
		var req apiv1.AppSettingsRequest
		changed := false
		for name, dst := range map[string]**string{"forge": &req.Forge, "api-url": &req.APIURL, "repo": &req.Repo, "poll": &req.Poll} {
			if f.Changed(name) {
				v, _ := f.GetString(name)
				*dst = &v
				changed = true
			}
		}
		if f.Changed("token-file") {
			b, err := os.ReadFile(tokenFile)
			if err != nil {
				return fmt.Errorf("read the token file: %w", err)
			}
			tok := strings.TrimSpace(string(b))
			if tok == "" {
				return fmt.Errorf("the token file %s is empty; use --clear-token to remove the token", tokenFile)
			}
			req.Token = &tok
			changed = true
		}
		if f.Changed("clear-token") {
			changed = true
			if clearToken {
				empty := ""
				req.Token = &empty
			}
		}
		c, err := e.client()
		if err != nil {
			return err
		}
		app := args[0]
		var st apiv1.AppSettings
		if changed {
			st, err = c.UpdateAppSettings(cmd.Context(), app, req)
		} else {
			st, err = c.AppSettings(cmd.Context(), app)
		}
		if err != nil {
			return err
		}
		return out.print(cmd.OutOrStdout(), st, func(w io.Writer) error {
			if changed {
				fmt.Fprintf(w, "Saved the settings of %s.\n", app)
			}
			printAppSettings(w, st)
			return nil
		})
	}
	return cmd
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
