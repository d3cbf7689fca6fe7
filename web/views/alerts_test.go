package views

import (
	"strings"
	"testing"
	"time"
)

func alertsFixture(canEdit bool) AlertsModel {
	since := now.Add(-3 * time.Minute)
	return AlertsModel{
		Page: Page{Title: "Alerts of shop", UserEmail: "ada@example.com", CSRFToken: "tok", Now: now}, App: "shop", AppURL: "/apps/shop",
		CanEdit: canEdit, ChannelsURL: "/apps/shop/alerts/channels", RulesURL: "/apps/shop/alerts/rules",
		Stages: []string{"dev", "prod"},
		Kinds:  []AlertKindOption{{"deploy_failed", "a deploy failed", ""}, {"error_rate", "the error rate is above a percentage", "%"}},
		Channels: []AlertChannelRow{{Name: "ops", Kind: "webhook", Hint: "https://hooks.example/…ab12",
			TestURL: "/apps/shop/alerts/channels/ops/test", DeleteURL: "/apps/shop/alerts/channels/ops/delete"}},
		Rules: []AlertRuleRow{
			{Name: "prod-errors", What: "error rate above 5 % over 5m", Stage: "prod", Channel: "ops", Firing: true, FiringStage: "prod", Since: since,
				LastValue: "12.5 %", DeleteURL: "/apps/shop/alerts/rules/prod-errors/delete"},
			{Name: "deploys", What: "a deploy failed", Channel: "ops", DeleteURL: "/apps/shop/alerts/rules/deploys/delete"},
		},
		Deliveries: []AlertDeliveryRow{
			{At: since, DeliveryID: "0b5e…", Channel: "ops", Rule: "prod-errors", Event: "error_rate", Title: "Error rate of shop/prod is 12.5 % <b>",
				URL: "/apps/shop/alerts#rule-prod-errors", Status: "retrying", Attempts: 2, Code: 502, Error: "the receiver answered HTTP 502"},
		},
	}
}

func TestAlertsPages(t *testing.T) {
	checkGolden(t, "alerts.golden.html", render(t, AlertsPage(alertsFixture(true))))

	m := pipelineFixture()
	m.Stages[2].Firing, m.Stages[2].AlertsURL = []string{"prod-errors", "deploys"}, "/apps/shop/alerts"
	d := parse(t, AppPage(m))
	badge := d.byTestID("stage-firing-prod")
	if title, _ := attr(badge, "title"); title != "Firing: prod-errors, deploys" || text(badge) != "firing" {
		t.Errorf("firing badge %q titled %q; want it to name both rules", text(badge), title)
	}
	if d.hasTestID("stage-firing-dev") || d.hasTestID("stage-firing-staging") {
		t.Error("stages with no firing rule carry the badge")
	}

	viewer := parse(t, AlertsPage(alertsFixture(false)))
	for _, id := range []string{"channel-form", "rule-form", "test-channel-ops", "delete-rule-deploys"} {
		if viewer.hasTestID(id) {
			t.Errorf("a viewer's Alerts page has %s", id)
		}
	}
	if !viewer.hasTestID("rule-firing-prod-errors") || !strings.Contains(text(viewer.byTestID("rule-prod-errors")), "12.5 %") {
		t.Error("a viewer does not see the firing rule and its value")
	}
}
