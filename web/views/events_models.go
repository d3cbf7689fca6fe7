package views

import (
	"strconv"
	"strings"
	"time"
)

// StageEventsModel is a stage's events page: its schedules, with their
// next run and last result, and its newest invocations nobody waited for.
type StageEventsModel struct {
	Page     Page
	App      string
	AppURL   string
	Stage    string
	Deployed bool // false: the stage serves nothing, so it has no events
	// Schedules and Invocations as the API returns them.
	Schedules   []ScheduleRow
	Invocations []InvocationRow
	// DeadCount counts the dead letters among Invocations.
	DeadCount int
	// RedriveURL: POST with _csrf to queue every dead letter again.
	// Empty for viewers, who may not act.
	RedriveURL string
	// Queues of the stage.
	Queues []QueueRow
}

// QueueRow is one queue of the stage.
type QueueRow struct {
	Name, Subscriber   string
	Depth, DeadLetters int
	// InFlight are the messages a batch under way holds.
	InFlight  int
	OldestAge time.Duration
	// PurgeURL, RedriveURL: POST with _csrf; empty for viewers.
	PurgeURL, RedriveURL string
}

// ScheduleRow is one schedule of the stage.
type ScheduleRow struct {
	ID, Function, Schedule, TimeZone string
	State                            string // "on", "paused", "off"
	NextRun                          *time.Time
	LastStatus                       string // "" when it never ran
	LastAt                           time.Time
	// RunURL, PauseURL, ResumeURL: POST with _csrf. Empty for viewers;
	// PauseURL is set while it runs, ResumeURL while it is paused.
	RunURL, PauseURL, ResumeURL string
}

// InvocationRow is one invocation.
type InvocationRow struct {
	ID, Function, Source, Status string
	Attempts                     int
	Duration                     time.Duration
	Error                        string
	CreatedAt                    time.Time
	// RedriveURL: POST with _csrf to run a dead letter again; empty
	// unless it is dead and the reader may act.
	RedriveURL string
}

func itoa(n int) string { return strconv.Itoa(n) }

// shortID shows the first block of a UUID; the whole id is its title.
func shortID(id string) string {
	if i := strings.IndexByte(id, '-'); i > 0 {
		return id[:i]
	}
	return id
}
