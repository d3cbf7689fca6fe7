// Package events runs functions that no HTTP client waits for: the ticks of
// schedules, async invocations (a request sent with
// X-Seedbed-Invocation-Type: Event) and their on-failure deliveries.
//
// The database is the source of truth and asynq carries the work, as for
// builds and deploys: every invocation is recorded first (store.Invocation)
// and then queued as a task whose id is the record's, so queuing it twice
// runs it once, and a record left queued (Redis lost, a crash between the
// two writes) is queued again by Recover. A task runs on a process that
// serves functions; asynq retries it with the function's back-off and
// archives it once its retries are spent, when the record becomes a dead
// letter. Delivery is at least once: a process killed in the middle of an
// attempt has asynq hand the task out again after its lease runs out, and
// the attempt counts.
//
// Schedules: every process computes the same ticks from the expression
// (stack.ParseSchedule) and claims a tick by inserting its record with a
// unique key, so of several serve processes on one database exactly one
// runs each tick. Missed ticks: a tick is run if a process sees it within
// Config.CatchUp (default 5 minutes) of its due time, so a restart or a
// short outage delays it; ticks missed for longer are skipped, and of
// several missed ticks of one schedule only the latest runs. A schedule
// that has never run starts with its next tick. A run that outlasts its
// interval does not overlap itself: the next tick is recorded as skipped,
// unless the schedule says overlap: true.
package events
