package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/pipelines/forge"
	"github.com/seedbed/seedbed/web/views"
)

// appSettingsPage shows how to connect the app's forge and its settings.
func (s *Server) appSettingsPage(c echo.Context) error {
	m, err := s.appSettingsModel(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.AppSettingsPage(m))
}

// saveAppSettings stores the forge form; a mistake shows the page again
// with the message by its field and what the user typed.
func (s *Server) saveAppSettings(c echo.Context) error {
	forgeKind, apiURL, repo, poll := c.FormValue("forge"), c.FormValue("api_url"), c.FormValue("repo"), c.FormValue("poll")
	upd := pipelines.ForgeSettingsUpdate{Forge: &forgeKind, APIURL: &apiURL, Repo: &repo}
	if tok := c.FormValue("token"); tok != "" || c.FormValue("clear_token") == "on" {
		upd.Token = &tok
	}
	err := error(nil)
	if d, perr := parsePoll(poll); perr != nil {
		err = perr
	} else {
		upd.PollInterval = &d
		_, err = s.cfg.Pipelines.SaveForgeSettings(c.Request().Context(), c.Param("app"), upd)
	}
	if err != nil {
		status, _, msg := statusOf(err)
		if status >= 500 {
			return err
		}
		m, lerr := s.appSettingsModel(c)
		if lerr != nil {
			return lerr
		}
		m.Form.Forge, m.Form.APIURL, m.Form.Repo, m.Form.Poll = forgeKind, apiURL, repo, poll
		m.Errors = fieldErrors(msg)
		if len(m.Errors) == 0 {
			m.Error = msg
		}
		return render(c, status, views.AppSettingsPage(m))
	}
	s.flash(c, "Forge settings of "+c.Param("app")+" saved.")
	return c.Redirect(http.StatusSeeOther, appURL(c.Param("app"))+"/settings")
}

// fieldErrors splits "field: message field: message" as SaveForgeSettings
// words its problems into a message per form field.
func fieldErrors(msg string) map[string]string {
	fields := []string{"forge", "api_url", "repo", "token", "poll"}
	out := map[string]string{}
	type at struct {
		field string
		pos   int
	}
	var marks []at
	for _, f := range fields {
		for i := 0; ; {
			j := strings.Index(msg[i:], f+": ")
			if j < 0 {
				break
			}
			if p := i + j; p == 0 || msg[p-1] == ' ' {
				marks = append(marks, at{f, p})
			}
			i += j + 1
		}
	}
	for _, m := range marks {
		end := len(msg)
		for _, n := range marks {
			if n.pos > m.pos && n.pos < end {
				end = n.pos
			}
		}
		text := strings.TrimSpace(msg[m.pos+len(m.field)+2 : end])
		if out[m.field] != "" {
			text = out[m.field] + " " + text
		}
		out[m.field] = text
	}
	return out
}

func (s *Server) appSettingsModel(c echo.Context) (views.AppSettingsModel, error) {
	ctx := c.Request().Context()
	app, err := s.appParam(c)
	if err != nil {
		return views.AppSettingsModel{}, err
	}
	fs, err := s.cfg.Pipelines.ForgeSettings(ctx, app.Name)
	if err != nil {
		return views.AppSettingsModel{}, err
	}
	secret, err := s.cfg.Pipelines.WebhookSecret(app)
	if err != nil {
		return views.AppSettingsModel{}, err
	}
	m := views.AppSettingsModel{Page: s.page(c, "Settings of "+app.Name), App: app.Name, AppURL: appURL(app.Name),
		Secret: secret, Branch: app.Branch, SaveURL: appURL(app.Name) + "/settings",
		Form: views.ForgeForm{Forge: fs.Forge, APIURL: fs.APIURL, Repo: fs.Repo, RepoDerived: fs.RepoDerived, TokenSet: fs.TokenSet}}
	m.Page.Nav = "apps"
	if fs.PollInterval > 0 {
		m.Form.Poll = fs.PollInterval.String()
	}
	if s.git != nil {
		m.RemoteURL = s.cfg.PublicURL + "/git/" + app.Name + ".git"
	}
	urls := s.hookURLs(app.Name)
	for _, k := range forge.Kinds() {
		m.Forges = append(m.Forges, views.ForgeHook{Kind: string(k), Name: k.DisplayName(), PayloadURL: urls[string(k)], Steps: hookSteps(k)})
	}
	ds, err := s.cfg.Deliveries.Deliveries(ctx, app.ID, 20)
	if err != nil {
		return m, err
	}
	for _, d := range ds {
		row := views.DeliveryRow{Forge: d.Forge, Event: d.Event, Outcome: d.Outcome, Reason: d.Reason, Summary: d.Summary, At: d.CreatedAt}
		for _, id := range strings.Split(d.BuildIDs, ",") {
			if n, err := strconv.ParseUint(strings.TrimSpace(id), 10, 64); err == nil && n > 0 {
				row.Builds = append(row.Builds, uint(n))
			}
		}
		m.Deliveries = append(m.Deliveries, row)
	}
	return m, nil
}

// hookSteps are the setup instructions for a forge's webhook form, in the
// forge's own words for its fields.
func hookSteps(k forge.Kind) []string {
	switch k {
	case forge.GitHub:
		return []string{
			"In the repository, open Settings → Webhooks → Add webhook.",
			"Payload URL: the URL above. Content type: `application/json`.",
			"Secret: the secret above.",
			"Which events: “Let me select individual events”, then tick Pushes (branches and tags) and Pull requests.",
			"Keep Active ticked and press Add webhook. GitHub sends a ping; it shows below as ignored: “the webhook works”.",
		}
	case forge.GitLab:
		return []string{
			"In the project, open Settings → Webhooks → Add new webhook.",
			"URL: the URL above.",
			"Secret token: the secret above (GitLab sends it in the `X-Gitlab-Token` header).",
			"Trigger: tick Push events (all branches), Tag push events and Merge request events.",
			"Press Add webhook, then Test → Push events to check it.",
		}
	case forge.Gitea:
		return []string{
			"In the repository, open Settings → Webhooks → Add webhook → Gitea (or Forgejo).",
			"Target URL: the URL above. HTTP method: POST. POST content type: `application/json`.",
			"Secret: the secret above.",
			"Trigger on: Custom events, then tick Push, Create (for tags) and Pull request.",
			"Keep Active ticked and press Add webhook; Test delivery checks it.",
		}
	case forge.Bitbucket:
		return []string{
			"In the repository, open Repository settings → Webhooks → Add webhook.",
			"Title: Seedbed. URL: the URL above.",
			"Secret: the secret above (Bitbucket signs each delivery with it; the body is always JSON).",
			"Triggers: choose from a full list, then tick Repository → Push and Pull request → Created, Updated, Merged and Declined.",
			"Press Save.",
		}
	}
	return nil
}
