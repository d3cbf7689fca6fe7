package pipelines

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/seedbed/seedbed/pipelines/forge"
	"github.com/seedbed/seedbed/store"
)

// forgeStore is what forge settings, commit statuses and polling need from
// the database.
type forgeStore interface {
	SaveForgeSettings(ctx context.Context, appID uint, fs store.ForgeSettings) error
	PolledRefs(ctx context.Context, appID uint) (map[string]string, error)
	ReplacePolledRefs(ctx context.Context, appID uint, refs map[string]string) error
}

// MinPollInterval is the shortest polling interval an app may have: a
// ref listing per app every few seconds would look like abuse to a forge.
const MinPollInterval = 10 * time.Second

// ForgeSettings are an app's forge settings as users see them: the token
// is never shown, only whether one is set.
type ForgeSettings struct {
	// Forge is github, gitlab, gitea or bitbucket; empty means none.
	Forge string
	// APIURL is the forge's API base URL; empty means the public
	// service's (api.github.com, gitlab.com).
	APIURL string
	// Repo is the repository's path on the forge ("owner/name"); empty
	// means RepoDerived, read from the app's repository URL.
	Repo        string
	RepoDerived string
	TokenSet    bool
	// PollInterval is how often Seedbed lists the repository's refs to
	// find pushes; 0 means never.
	PollInterval time.Duration
}

// ForgeSettingsUpdate changes an app's forge settings; nil fields are kept.
// An empty Token removes the token.
type ForgeSettingsUpdate struct {
	Forge        *string
	APIURL       *string
	Repo         *string
	Token        *string
	PollInterval *time.Duration
}

func tokenAAD(appID uint) string { return fmt.Sprintf("forge-token:app:%d", appID) }

func forgeSettingsOf(app store.App) ForgeSettings {
	return ForgeSettings{Forge: app.Forge, APIURL: app.ForgeAPIURL, Repo: app.ForgeRepo, RepoDerived: RepoFullName(app.RepoURL),
		TokenSet: app.ForgeToken != "", PollInterval: time.Duration(app.PollSeconds) * time.Second}
}

// ForgeSettings returns an app's forge settings.
func (s *Service) ForgeSettings(ctx context.Context, appName string) (ForgeSettings, error) {
	app, err := s.cfg.Store.AppByName(ctx, appName)
	if err != nil {
		return ForgeSettings{}, notFoundf("No app named %q. `seedbed apps list` shows the apps.", appName)
	}
	return forgeSettingsOf(app), nil
}

// SaveForgeSettings checks and stores an app's forge settings; the token
// is sealed first. Every problem is listed in one invalid error.
func (s *Service) SaveForgeSettings(ctx context.Context, appName string, upd ForgeSettingsUpdate) (ForgeSettings, error) {
	app, err := s.cfg.Store.AppByName(ctx, appName)
	if err != nil {
		return ForgeSettings{}, notFoundf("No app named %q. `seedbed apps list` shows the apps.", appName)
	}
	fs := store.ForgeSettings{Forge: app.Forge, APIURL: app.ForgeAPIURL, Repo: app.ForgeRepo, Token: app.ForgeToken, PollSeconds: app.PollSeconds}
	var problems []string
	if upd.Forge != nil {
		switch k := strings.ToLower(strings.TrimSpace(*upd.Forge)); k {
		case "", "none":
			fs.Forge = ""
		default:
			kind, err := forge.ParseKind(k)
			if err != nil {
				problems = append(problems, fmt.Sprintf("forge: %q is not a forge Seedbed knows; use github, gitlab, gitea (also for Forgejo), bitbucket or none.", *upd.Forge))
			}
			fs.Forge = string(kind)
		}
	}
	if upd.APIURL != nil {
		fs.APIURL = strings.TrimRight(strings.TrimSpace(*upd.APIURL), "/")
		if u, err := url.Parse(fs.APIURL); fs.APIURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
			problems = append(problems, "api_url: give the forge's address as an http(s) URL, e.g. https://gitlab.example.com or https://github.example.com/api/v3; leave it empty for github.com or gitlab.com.")
		} else if fs.APIURL != "" {
			// Seedbed posts statuses there: the same rule as repositories
			// (the client that posts checks again after resolution).
			if err := s.cfg.Network.CheckHost(ctx, nil, u.Hostname()); err != nil {
				problems = append(problems, "api_url: "+err.Error()+".")
			}
		}
	}
	if upd.Repo != nil {
		fs.Repo = strings.Trim(strings.TrimSpace(*upd.Repo), "/")
		fs.Repo = strings.TrimSuffix(fs.Repo, ".git")
		if fs.Repo != "" && (!strings.Contains(fs.Repo, "/") || strings.ContainsAny(fs.Repo, " ?#")) {
			problems = append(problems, "repo: give the repository's path on the forge as owner/name (GitLab: group/subgroup/project).")
		}
	}
	if upd.Token != nil {
		tok := strings.TrimSpace(*upd.Token)
		switch {
		case tok == "":
			fs.Token = ""
		case len(tok) > 4096:
			problems = append(problems, "token: that is longer than any forge's access token; paste only the token.")
		case s.cfg.Sealer == nil:
			return ForgeSettings{}, fmt.Errorf("save forge token of %s: no secret key configured", app.Name)
		default:
			if fs.Token, err = s.cfg.Sealer.Seal(tok, tokenAAD(app.ID)); err != nil {
				return ForgeSettings{}, fmt.Errorf("save forge token of %s: %w", app.Name, err)
			}
		}
	}
	if upd.PollInterval != nil {
		d := *upd.PollInterval
		switch {
		case d == 0:
			fs.PollSeconds = 0
		case d < MinPollInterval:
			problems = append(problems, fmt.Sprintf("poll: poll at most every %s (e.g. 1m), or 0 to turn polling off.", MinPollInterval))
		case d > 24*time.Hour:
			problems = append(problems, "poll: poll at least once a day (e.g. 5m), or 0 to turn polling off.")
		default:
			fs.PollSeconds = int(d.Round(time.Second) / time.Second)
		}
	}
	if fs.Forge == string(forge.Gitea) && fs.APIURL == "" {
		problems = append(problems, "api_url: Gitea and Forgejo are self-hosted; give the server's address, e.g. https://gitea.example.com.")
	}
	if fs.PollSeconds > 0 && app.RepoURL == "" {
		problems = append(problems, "poll: this app gets its code by git push to Seedbed's built-in remote, so there is nothing to poll; set 0.")
	}
	if len(problems) > 0 {
		return ForgeSettings{}, invalidf("%s", strings.Join(problems, " "))
	}
	if err := s.cfg.Store.SaveForgeSettings(ctx, app.ID, fs); err != nil {
		return ForgeSettings{}, err
	}
	app.Forge, app.ForgeAPIURL, app.ForgeRepo, app.ForgeToken, app.PollSeconds = fs.Forge, fs.APIURL, fs.Repo, fs.Token, fs.PollSeconds
	return forgeSettingsOf(app), nil
}

// RepoFullName reads a repository's path on its forge ("owner/name", or
// GitLab's "group/sub/project") from its clone URL: https://host/owner/name.git,
// ssh://git@host/owner/name.git or git@host:owner/name.git. A local path or
// file:// URL has none: "".
func RepoFullName(repoURL string) string {
	raw := strings.TrimSpace(repoURL)
	var p string
	switch {
	case raw == "" || strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, "file:"):
		return ""
	case !strings.Contains(raw, "://"):
		_, after, ok := strings.Cut(raw, ":") // git@host:owner/name.git
		if !ok {
			return ""
		}
		p = after
	default:
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return ""
		}
		p = u.Path
	}
	p = strings.TrimSuffix(strings.Trim(p, "/"), ".git")
	if !strings.Contains(p, "/") {
		return ""
	}
	return p
}
