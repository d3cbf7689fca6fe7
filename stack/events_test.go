package stack

import (
	"reflect"
	"testing"
	"time"
)

func TestParseEvents(t *testing.T) {
	got, err := Parse(readFixture(t, "events.yml"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	off := false
	want := &Stack{
		Queues: []Queue{
			{Name: "audit", VisibilityTimeout: DefaultVisibilityTimeout, MaxReceives: DefaultMaxReceives},
			{Name: "orders", VisibilityTimeout: time.Minute, MaxReceives: 3},
		},
		Services: []Service{
			{Name: "jobs", Path: "jobs", Runtime: "go", Functions: []Function{
				{Name: "consume", Kind: KindLambda, Handler: "bootstrap",
					Events: []Event{{Queue: "orders", Batch: 5, Concurrency: 2}},
					Async:  &Async{Retries: 1, Backoff: 2 * time.Second, OnFailure: "jobs/notify"}},
				{Name: "notify", Kind: KindLambda, Handler: "bootstrap", Routes: []Route{{"POST", "/notify"}}},
				{Name: "tick", Kind: KindLambda, Handler: "bootstrap", Events: []Event{
					{Schedule: "rate(5 minutes)"},
					{Schedule: "cron(0 12 ? * MON-FRI *)", Overlap: true},
				}},
			}},
			{Name: "web", Path: "web", Runtime: "node", Functions: []Function{
				{Name: "report", Kind: KindHTTP, Handler: "server.js", Routes: []Route{{"GET", "/report"}}, Events: []Event{
					{Schedule: "30 8 * * 1-5", TimeZone: "Europe/Berlin", Path: "/cron/report"},
					{Queue: "audit", Batch: MaxBatch, Concurrency: 1, Path: "/audit"},
				}},
			}},
		},
		Stages: []StageSpec{{Name: "dev"}, {Name: "pr-template", Schedules: &off}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse:\n got %+v\nwant %+v", got, want)
	}
}

func TestParseEventProblems(t *testing.T) {
	const head = "services:\n  api:\n    path: .\n    runtime: go\n    functions:\n      f:\n        type: lambda\n"
	tests := []struct {
		name string
		yaml string
		want []wantProblem
	}{
		{
			name: "events must be a list",
			yaml: head + "        events: {schedule: rate(1 minute)}\n",
			want: []wantProblem{{8, "services.api.functions.f.events", "must be a list of events"}},
		},
		{
			name: "bad rate and cron",
			yaml: head + "        events:\n          - schedule: rate(5 fortnights)\n          - schedule: cron(0 12 * * * *)\n          - schedule: cron(0 12 L * ? *)\n          - schedule: \"0 12 * *\"\n",
			want: []wantProblem{
				{9, "services.api.functions.f.events[0].schedule", `unknown unit "fortnights"`},
				{10, "services.api.functions.f.events[1].schedule", "one of day-of-month and day-of-week must be ?"},
				{11, "services.api.functions.f.events[2].schedule", "L, W and # are not supported"},
				{12, "services.api.functions.f.events[3].schedule", "has 4 fields; a standard cron line has 5"},
			},
		},
		{
			name: "unknown time zone points at time_zone",
			yaml: head + "        events:\n          - schedule: \"0 8 * * *\"\n            time_zone: Mars/Olympus\n",
			want: []wantProblem{{10, "services.api.functions.f.events[0].schedule", `unknown time zone "Mars/Olympus"`}},
		},
		{
			name: "schedule and queue in one event, neither in another",
			yaml: "queues: {q: {}}\n" + head + "        events:\n          - {schedule: rate(1 minute), queue: q}\n          - {batch: 3}\n",
			want: []wantProblem{
				{10, "services.api.functions.f.events[0]", "not both"},
				{11, "services.api.functions.f.events[1]", "an event needs schedule or queue"},
			},
		},
		{
			name: "undeclared queue suggests the closest",
			yaml: "queues: {orders: {}}\n" + head + "        events: [{queue: order, batch: 11}]\n",
			want: []wantProblem{
				{9, "services.api.functions.f.events[0].queue", `queue "order", which is not declared (did you mean "orders"?)`},
				{9, "services.api.functions.f.events[0].batch", `batch "11" must be a whole number from 1 to 10`},
			},
		},
		{
			name: "http function needs a path, lambda has none",
			yaml: "services:\n  api:\n    path: .\n    runtime: go\n    functions:\n      h:\n        events: [{schedule: rate(1 minute)}]\n      l:\n        type: lambda\n        events: [{schedule: rate(1 minute), path: /x}]\n",
			want: []wantProblem{
				{7, "services.api.functions.h.events[0].path", "an http function receives the event as a POST; name the path"},
				{10, "services.api.functions.l.events[0].path", "path is for http functions"},
			},
		},
		{
			name: "on_failure must name another function of the stack",
			yaml: head + "        routes: [\"GET /f\"]\n        async: {on_failure: nope, retries: 20}\n      g:\n        type: lambda\n        routes: [\"GET /g\"]\n        async: {on_failure: g}\n",
			want: []wantProblem{
				{9, "services.api.functions.f.async.on_failure", "on_failure names api/nope, which is not a function of this stack"},
				{9, "services.api.functions.f.async.retries", `retries "20" must be a whole number from 0 to 10`},
				{13, "services.api.functions.g.async.on_failure", "on_failure names the function itself"},
			},
		},
		{
			name: "queue settings out of range",
			yaml: "queues:\n  q:\n    visibility_timeout: 1ms\n    max_receive: 2\n" + head + "        events: [{queue: q}]\n",
			want: []wantProblem{
				{3, "queues.q.visibility_timeout", "must be a duration between 1s and 12h"},
				{4, "queues.q.max_receive", `did you mean "max_receives"?`},
			},
		},
		{
			name: "a function with neither routes nor events",
			yaml: head + "        events: []\n",
			want: []wantProblem{{6, "services.api.functions.f.routes", "routes are missing"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded with %+v; want %d problems", st, len(tt.want))
			}
			checkProblems(t, err, tt.want)
		})
	}
}

func TestScheduleNext(t *testing.T) {
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name, expr, tz string
		from, want     string
	}{
		{"rate falls on whole multiples", "rate(5 minutes)", "", "2026-12-06T20:31:10Z", "2026-12-06T20:35:00Z"},
		{"rate from exactly a tick", "rate(1 minute)", "", "2026-12-06T20:31:00Z", "2026-12-06T20:32:00Z"},
		{"rate in seconds", "rate(2 seconds)", "", "2026-12-06T20:31:01.5Z", "2026-12-06T20:31:02Z"},
		{"aws cron is UTC", "cron(0 12 * * ? *)", "", "2026-12-06T13:00:00Z", "2026-12-07T12:00:00Z"},
		{"aws weekdays count from Sunday = 1", "cron(0 9 ? * 2 *)", "", "2026-12-06T10:00:00Z", "2026-12-07T09:00:00Z"}, // 12-06 is a Sunday; 2 = Monday
		{"aws weekday names", "cron(15 10 ? * MON-FRI *)", "", "2026-12-05T00:00:00Z", "2026-12-07T10:15:00Z"},
		{"standard cron in a time zone", "30 8 * * *", "Europe/Berlin", "2026-12-06T08:00:00Z", "2026-12-07T07:30:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSchedule(tt.expr, tt.tz)
			if err != nil {
				t.Fatalf("ParseSchedule: %v", err)
			}
			if got := s.Next(at(tt.from)); !got.Equal(at(tt.want)) {
				t.Errorf("Next(%s) = %s, want %s", tt.from, got.UTC().Format(time.RFC3339), tt.want)
			}
		})
	}
}
