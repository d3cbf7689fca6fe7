package views

import (
	"strings"
	"testing"
	"time"
)

func TestStageEventsPage(t *testing.T) {
	now := time.Date(2026, 12, 6, 21, 0, 0, 0, time.UTC)
	next := now.Add(4 * time.Minute)
	page := Page{Title: "shop/dev events", UserEmail: "dee@example.com", CSRFToken: "tok", Now: now}
	base := StageEventsModel{
		Page: page, App: "shop", AppURL: "/apps/shop", Stage: "dev", Deployed: true,
		Schedules: []ScheduleRow{
			{ID: "a1b2c3", Function: "jobs/tick", Schedule: "rate(5 minutes)", State: "on", NextRun: &next, LastStatus: "succeeded", LastAt: now.Add(-time.Minute),
				RunURL: "/apps/shop/stages/dev/schedules/a1b2c3/run", PauseURL: "/apps/shop/stages/dev/schedules/a1b2c3/pause"},
			{ID: "d4e5f6", Function: "web/report", Schedule: "30 8 * * 1-5", TimeZone: "Europe/Berlin", State: "paused",
				RunURL: "/apps/shop/stages/dev/schedules/d4e5f6/run", ResumeURL: "/apps/shop/stages/dev/schedules/d4e5f6/resume"},
		},
		Invocations: []InvocationRow{
			{ID: "7bf73129-1428-4cd3-a780-95db273d1602", Function: "jobs/work", Source: "async", Status: "dead", Attempts: 3, Duration: 12 * time.Millisecond,
				Error: "the handler failed: errorString: boom", CreatedAt: now.Add(-2 * time.Minute), RedriveURL: "/apps/shop/stages/dev/invocations/7bf73129-1428-4cd3-a780-95db273d1602/redrive"},
			{ID: "0c1d2e3f-0000-4000-8000-000000000000", Function: "jobs/tick", Source: "schedule", Status: "succeeded", Attempts: 1, Duration: 3 * time.Millisecond, CreatedAt: now.Add(-time.Minute)},
		},
		DeadCount: 1, RedriveURL: "/apps/shop/stages/dev/invocations/redrive",
		Queues: []QueueRow{{Name: "orders", Subscriber: "jobs/consume", Depth: 3, InFlight: 2, DeadLetters: 1, OldestAge: 4 * time.Second,
			PurgeURL: "/apps/shop/stages/dev/queues/orders/purge", RedriveURL: "/apps/shop/stages/dev/queues/orders/redrive"}},
	}
	checkGolden(t, "stage-events.golden.html", render(t, StageEventsPage(base)))

	// A viewer sees the same lists without a single action.
	viewer := base
	viewer.RedriveURL = ""
	viewer.Schedules = append([]ScheduleRow(nil), base.Schedules...)
	viewer.Invocations = append([]InvocationRow(nil), base.Invocations...)
	for i := range viewer.Schedules {
		viewer.Schedules[i].RunURL, viewer.Schedules[i].PauseURL, viewer.Schedules[i].ResumeURL = "", "", ""
	}
	for i := range viewer.Invocations {
		viewer.Invocations[i].RedriveURL = ""
	}
	viewer.Queues = []QueueRow{{Name: "orders", Depth: 3, DeadLetters: 1}}
	got := render(t, StageEventsPage(viewer))
	if strings.Contains(got, "<form") && strings.Contains(got, "/redrive") || strings.Contains(got, "/run\"") || strings.Contains(got, "Pause</button>") || strings.Contains(got, "Purge</button>") {
		t.Errorf("a viewer's page offers actions:\n%s", got)
	}
	if !strings.Contains(got, `data-testid="schedule-a1b2c3" data-state="on"`) || !strings.Contains(got, `data-status="dead"`) {
		t.Errorf("a viewer's page lacks the lists:\n%s", got)
	}
}
