package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/alerts"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web/apiv1"
	"github.com/seedbed/seedbed/web/views"
)

// Alerts is what the Alerts pages and API ask of package alerts.
type Alerts interface {
	Channels(ctx context.Context, app store.App) ([]store.AlertChannel, error)
	CreateChannel(ctx context.Context, app store.App, in alerts.NewChannel) (store.AlertChannel, string, error)
	DeleteChannel(ctx context.Context, app store.App, name string) error
	SendTest(ctx context.Context, app store.App, channel, by string) (store.AlertDelivery, error)
	Rules(ctx context.Context, app store.App) ([]store.AlertRule, error)
	CreateRule(ctx context.Context, app store.App, in alerts.NewRule) (store.AlertRule, error)
	DeleteRule(ctx context.Context, app store.App, name string) error
	Deliveries(ctx context.Context, app store.App, limit int) ([]store.AlertDelivery, error)
	Firing(ctx context.Context, app store.App) (map[string][]string, error)
	// MetricsReady tells whether error-rate and p95 rules are evaluated.
	MetricsReady() bool
}

// alertDeliveriesShown is how many notifications the page and API list.
const alertDeliveriesShown = 50

var errAlertsOff = errorf(http.StatusNotFound, "not_found", "Alerts are not set up on this server.")

// alertsOrOff returns the Alerts service, or the 404 that says it is off.
func (s *Server) alertsOrOff() (Alerts, error) {
	if s.cfg.Alerts == nil {
		return nil, errAlertsOff
	}
	return s.cfg.Alerts, nil
}

// alertsOfApp is the preamble of every alerts handler: the alerts
// service (or errAlertsOff) and the route's app.
func (s *Server) alertsOfApp(c echo.Context) (Alerts, store.App, error) {
	a, err := s.alertsOrOff()
	if err != nil {
		return nil, store.App{}, err
	}
	app, err := s.appParam(c)
	return a, app, err
}

// firingRules lists an app's firing rules by stage for the board; none
// when alerts are off.
func (s *Server) firingRules(ctx context.Context, app store.App) (map[string][]string, error) {
	if s.cfg.Alerts == nil {
		return nil, nil
	}
	return s.cfg.Alerts.Firing(ctx, app)
}

// withFiring adds the app's firing rules to a board version, so the board
// reloads its stage cards when a rule starts or stops firing.
func (s *Server) withFiring(ctx context.Context, app store.App, version string) (string, error) {
	firing, err := s.firingRules(ctx, app)
	if err != nil || len(firing) == 0 {
		return version, err
	}
	stages := make([]string, 0, len(firing))
	for st := range firing {
		stages = append(stages, st)
	}
	sort.Strings(stages)
	var v versionHash
	for _, st := range stages {
		v.add("f", 0, st+"="+strings.Join(firing[st], ","))
	}
	return version + "." + v.String(), nil
}

// alertsData reads an app's channels, rules and notifications, with the
// channel names the rules and notifications refer to by id.
type alertsData struct {
	channels   []store.AlertChannel
	rules      []store.AlertRule
	deliveries []store.AlertDelivery
	chanName   map[uint]string
	ruleName   map[uint]string
}

func (s *Server) loadAlerts(ctx context.Context, a Alerts, app store.App) (alertsData, error) {
	var d alertsData
	var err error
	if d.channels, err = a.Channels(ctx, app); err != nil {
		return d, err
	}
	if d.rules, err = a.Rules(ctx, app); err != nil {
		return d, err
	}
	if d.deliveries, err = a.Deliveries(ctx, app, alertDeliveriesShown); err != nil {
		return d, err
	}
	d.chanName, d.ruleName = map[uint]string{}, map[uint]string{}
	for _, c := range d.channels {
		d.chanName[c.ID] = c.Name
	}
	for _, r := range d.rules {
		d.ruleName[r.ID] = r.Name
	}
	return d, nil
}

func (d alertsData) deliveryRule(x store.AlertDelivery) string {
	if x.RuleID == nil {
		return ""
	}
	if n, ok := d.ruleName[*x.RuleID]; ok {
		return n
	}
	return "(deleted)"
}

func ruleWindow(r store.AlertRule) string {
	if r.WindowSeconds == 0 {
		return ""
	}
	return (time.Duration(r.WindowSeconds) * time.Second).String()
}

func (s *Server) apiAlerts(c echo.Context) error {
	a, app, err := s.alertsOfApp(c)
	if err != nil {
		return err
	}
	d, err := s.loadAlerts(c.Request().Context(), a, app)
	if err != nil {
		return err
	}
	out := apiv1.Alerts{Channels: []apiv1.AlertChannel{}, Rules: []apiv1.AlertRule{}, Deliveries: []apiv1.AlertDelivery{}}
	for _, ch := range d.channels {
		out.Channels = append(out.Channels, apiAlertChannel(ch))
	}
	for _, r := range d.rules {
		out.Rules = append(out.Rules, apiAlertRule(r, d.chanName[r.ChannelID]))
	}
	for _, x := range d.deliveries {
		out.Deliveries = append(out.Deliveries, apiAlertDelivery(x, d.chanName[x.ChannelID], d.deliveryRule(x)))
	}
	return c.JSON(http.StatusOK, out)
}

func apiAlertChannel(ch store.AlertChannel) apiv1.AlertChannel {
	return apiv1.AlertChannel{Name: ch.Name, Kind: ch.Kind, Hint: ch.Hint, CreatedBy: ch.CreatedBy, CreatedAt: ch.CreatedAt}
}

func apiAlertRule(r store.AlertRule, channel string) apiv1.AlertRule {
	return apiv1.AlertRule{Name: r.Name, Kind: r.Kind, Stage: r.Stage, Function: r.Function, Channel: channel, Threshold: r.Threshold,
		Window: ruleWindow(r), Firing: r.Firing, FiringFor: r.FiringStage, Since: r.FiringSince, LastValue: r.LastValue, LastFired: r.LastFiredAt}
}

func apiAlertDelivery(x store.AlertDelivery, channel, rule string) apiv1.AlertDelivery {
	return apiv1.AlertDelivery{ID: x.ID, DeliveryID: x.DeliveryID, Channel: channel, Rule: rule, Event: x.Event, Stage: x.Stage, Title: x.Title,
		URL: x.URL, Status: x.Status, Attempts: x.Attempts, ResponseCode: x.ResponseCode, Error: x.Error, CreatedAt: x.CreatedAt, LastAttemptAt: x.LastAttemptAt}
}

func (s *Server) apiCreateAlertChannel(c echo.Context) error {
	a, app, err := s.alertsOfApp(c)
	if err != nil {
		return err
	}
	var req apiv1.CreateAlertChannelRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	ch, secret, err := a.CreateChannel(c.Request().Context(), app, alerts.NewChannel{Name: req.Name, Kind: req.Kind, URL: req.URL,
		Addresses: req.Addresses, Secret: req.Secret, By: currentUser(c).Email})
	if err != nil {
		return err
	}
	resp := apiv1.CreateAlertChannelResponse{Channel: apiAlertChannel(ch)}
	if req.Secret == "" {
		resp.Secret = secret // made here: shown this once
	}
	return c.JSON(http.StatusCreated, resp)
}

func (s *Server) apiDeleteAlertChannel(c echo.Context) error {
	a, app, err := s.alertsOfApp(c)
	if err != nil {
		return err
	}
	if err := a.DeleteChannel(c.Request().Context(), app, c.Param("channel")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) apiTestAlertChannel(c echo.Context) error {
	a, app, err := s.alertsOfApp(c)
	if err != nil {
		return err
	}
	d, err := a.SendTest(c.Request().Context(), app, c.Param("channel"), currentUser(c).Email)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, apiAlertDelivery(d, c.Param("channel"), ""))
}

func (s *Server) apiCreateAlertRule(c echo.Context) error {
	a, app, err := s.alertsOfApp(c)
	if err != nil {
		return err
	}
	var req apiv1.CreateAlertRuleRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	r, err := a.CreateRule(c.Request().Context(), app, alerts.NewRule{Name: req.Name, Kind: req.Kind, Stage: req.Stage, Function: req.Function,
		Channel: req.Channel, Threshold: req.Threshold, Window: req.Window, By: currentUser(c).Email})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, apiAlertRule(r, req.Channel))
}

func (s *Server) apiDeleteAlertRule(c echo.Context) error {
	a, app, err := s.alertsOfApp(c)
	if err != nil {
		return err
	}
	if err := a.DeleteRule(c.Request().Context(), app, c.Param("rule")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// alertsPage shows an app's rules, channels and notifications.
func (s *Server) alertsPage(c echo.Context) error {
	m, err := s.alertsModel(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.AlertsPage(m))
}

func (s *Server) alertsModel(c echo.Context) (views.AlertsModel, error) {
	ctx := c.Request().Context()
	a, err := s.alertsOrOff()
	if err != nil {
		return views.AlertsModel{}, err
	}
	app, err := s.appParam(c)
	if err != nil {
		return views.AlertsModel{}, err
	}
	d, err := s.loadAlerts(ctx, a, app)
	if err != nil {
		return views.AlertsModel{}, err
	}
	stages, err := s.cfg.Store.Stages(ctx, app.ID)
	if err != nil {
		return views.AlertsModel{}, err
	}
	base := appURL(app.Name) + "/alerts"
	m := views.AlertsModel{Page: s.page(c, "Alerts of "+app.Name), App: app.Name, AppURL: appURL(app.Name), CanEdit: canDo(c, store.RoleOwner),
		ChannelsURL: base + "/channels", RulesURL: base + "/rules", MetricsReady: a.MetricsReady()}
	m.Page.Nav = "apps"
	for _, st := range stages {
		m.Stages = append(m.Stages, st.Name)
	}
	units := map[string]string{}
	for _, k := range alerts.Kinds() {
		m.Kinds = append(m.Kinds, views.AlertKindOption{Kind: k.Kind, What: k.What, Unit: k.Unit})
		units[k.Kind] = k.Unit
	}
	for _, ch := range d.channels {
		p := base + "/channels/" + url.PathEscape(ch.Name)
		m.Channels = append(m.Channels, views.AlertChannelRow{Name: ch.Name, Kind: ch.Kind, Hint: ch.Hint, TestURL: p + "/test", DeleteURL: p + "/delete"})
	}
	for _, r := range d.rules {
		row := views.AlertRuleRow{Name: r.Name, What: ruleWhat(r), Stage: r.Stage, Function: r.Function, Channel: d.chanName[r.ChannelID],
			Firing: r.Firing, FiringStage: r.FiringStage, DeleteURL: base + "/rules/" + url.PathEscape(r.Name) + "/delete"}
		if r.FiringSince != nil {
			row.Since = *r.FiringSince
		}
		if u := units[r.Kind]; u != "" && r.LastEvaluatedAt != nil {
			row.LastValue = strconv.FormatFloat(r.LastValue, 'f', -1, 64) + " " + u
		}
		m.Rules = append(m.Rules, row)
	}
	for _, x := range d.deliveries {
		m.Deliveries = append(m.Deliveries, views.AlertDeliveryRow{At: x.CreatedAt, DeliveryID: x.DeliveryID, Channel: d.chanName[x.ChannelID],
			Rule: d.deliveryRule(x), Event: x.Event, Title: x.Title, URL: localLink(s.cfg.PublicURL, x.URL), Status: x.Status,
			Attempts: x.Attempts, Code: x.ResponseCode, Error: x.Error})
	}
	return m, nil
}

// localLink keeps a notification's link on this console: its path when it
// points here, else the alerts page (a link is ours, never a user's).
func localLink(public, link string) string {
	if p, ok := strings.CutPrefix(link, public); ok && strings.HasPrefix(p, "/") {
		return p
	}
	return link
}

// ruleWhat says in words when a rule notifies.
func ruleWhat(r store.AlertRule) string {
	th := strconv.FormatFloat(r.Threshold, 'f', -1, 64)
	switch r.Kind {
	case store.RuleBuildFailed:
		return "a build failed"
	case store.RuleDeployFailed:
		return "a deploy failed"
	case store.RuleApprovalAwaiting:
		return "a promotion awaits approval"
	case store.RuleErrorRate:
		return fmt.Sprintf("error rate above %s %% over %s", th, ruleWindow(r))
	case store.RuleLatencyP95:
		return fmt.Sprintf("p95 latency above %s ms over %s", th, ruleWindow(r))
	case store.RuleCrashLoop:
		return fmt.Sprintf("%s or more crashes in %s", th, ruleWindow(r))
	}
	return r.Kind
}

// alertsFormError shows the page again with the form's problem, or returns
// an error the error page shows.
func (s *Server) alertsFormError(c echo.Context, err error, fill func(*views.AlertsModel)) error {
	status, _, msg := statusOf(err)
	if status >= 500 {
		return err
	}
	m, lerr := s.alertsModel(c)
	if lerr != nil {
		return lerr
	}
	m.Error = msg
	if fill != nil {
		fill(&m)
	}
	return render(c, status, views.AlertsPage(m))
}

func (s *Server) consoleCreateAlertChannel(c echo.Context) error {
	a, app, err := s.alertsOfApp(c)
	if err != nil {
		return err
	}
	in := alerts.NewChannel{Name: c.FormValue("name"), Kind: c.FormValue("kind"), URL: c.FormValue("url"), Addresses: c.FormValue("addresses"), By: currentUser(c).Email}
	ch, secret, err := a.CreateChannel(c.Request().Context(), app, in)
	if err != nil {
		return s.alertsFormError(c, err, func(m *views.AlertsModel) {
			m.ChannelForm = views.AlertChannelForm{Name: in.Name, Kind: in.Kind, Addresses: in.Addresses}
		})
	}
	if secret == "" {
		s.flash(c, "Channel "+ch.Name+" added. Send it a test notification to check it.")
		return c.Redirect(http.StatusSeeOther, appURL(app.Name)+"/alerts")
	}
	// The secret is shown on this answer only, never stored in clear.
	m, err := s.alertsModel(c)
	if err != nil {
		return err
	}
	m.NewSecret, m.NewChannel = secret, ch.Name
	c.Response().Header().Set("Cache-Control", "no-store")
	return render(c, http.StatusOK, views.AlertsPage(m))
}

func (s *Server) consoleTestAlertChannel(c echo.Context) error {
	a, app, err := s.alertsOfApp(c)
	if err != nil {
		return err
	}
	if _, err := a.SendTest(c.Request().Context(), app, c.Param("channel"), currentUser(c).Email); err != nil {
		return s.alertsFormError(c, err, nil)
	}
	s.flash(c, "A test notification to "+c.Param("channel")+" is on its way; its status shows below.")
	return c.Redirect(http.StatusSeeOther, appURL(app.Name)+"/alerts")
}

func (s *Server) consoleDeleteAlertChannel(c echo.Context) error {
	a, app, err := s.alertsOfApp(c)
	if err != nil {
		return err
	}
	if err := a.DeleteChannel(c.Request().Context(), app, c.Param("channel")); err != nil {
		return s.alertsFormError(c, err, nil)
	}
	s.flash(c, "Channel "+c.Param("channel")+" deleted.")
	return c.Redirect(http.StatusSeeOther, appURL(app.Name)+"/alerts")
}

func (s *Server) consoleCreateAlertRule(c echo.Context) error {
	a, app, err := s.alertsOfApp(c)
	if err != nil {
		return err
	}
	form := views.AlertRuleForm{Name: c.FormValue("name"), Kind: c.FormValue("kind"), Stage: c.FormValue("stage"), Function: c.FormValue("function"),
		Channel: c.FormValue("channel"), Threshold: strings.TrimSpace(c.FormValue("threshold")), Window: strings.TrimSpace(c.FormValue("window"))}
	fill := func(m *views.AlertsModel) { m.RuleForm = form }
	in := alerts.NewRule{Name: form.Name, Kind: form.Kind, Stage: form.Stage, Function: form.Function, Channel: form.Channel, Window: form.Window, By: currentUser(c).Email}
	if form.Threshold != "" {
		if in.Threshold, err = strconv.ParseFloat(form.Threshold, 64); err != nil {
			return s.alertsFormError(c, errorf(http.StatusUnprocessableEntity, "invalid", "The threshold "+strconv.Quote(form.Threshold)+" is not a number; write e.g. 5 or 250."), fill)
		}
	}
	if _, err := a.CreateRule(c.Request().Context(), app, in); err != nil {
		return s.alertsFormError(c, err, fill)
	}
	s.flash(c, "Rule "+form.Name+" added.")
	return c.Redirect(http.StatusSeeOther, appURL(app.Name)+"/alerts")
}

func (s *Server) consoleDeleteAlertRule(c echo.Context) error {
	a, app, err := s.alertsOfApp(c)
	if err != nil {
		return err
	}
	if err := a.DeleteRule(c.Request().Context(), app, c.Param("rule")); err != nil {
		return s.alertsFormError(c, err, nil)
	}
	s.flash(c, "Rule "+c.Param("rule")+" deleted.")
	return c.Redirect(http.StatusSeeOther, appURL(app.Name)+"/alerts")
}
