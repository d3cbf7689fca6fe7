// Package queue connects Seedbed to asynq, the job queue its builds and
// deploys run on: RedisOpt parses the Redis URL a process is given,
// RetryDelay and ServerConfig give Seedbed's work a short retry back-off, and
// Embedded is an in-process Redis-compatible server for `seedbed serve`
// without SEEDBED_REDIS_URL, so that one command runs everything.
//
// The database is the source of truth and Redis only carries work: a job is
// recorded before it is enqueued, and what is pending is enqueued again at
// start-up and, while serve runs, by the pipelines' Reconciler. That is why
// the embedded server may keep nothing across restarts.
//
// The embedded server listens on no port and no socket unless asked to:
// asynq reaches it through Embedded.ConnOpt, in-memory connections only its
// own process can open, so the builds and functions Seedbed runs cannot
// read, delete or inject jobs. Asked for a port (tests, tools), it requires
// a password, random unless given. Pinger and CheckReachable tell whether a
// queue server answers, for /healthz and for the check at start-up.
//
// # asynq on the embedded server
//
// Embedded is miniredis v2.40. Every command asynq v0.26.0 sends exists
// there, its Lua scripts run unchanged (they use no TIME; asynq passes its
// own clock's time in as arguments), and asynq's own test suites pass against
// it, root package and internal/rdb alike, except RDB.RedisInfo, because
// miniredis's INFO reports only clients and stats; nothing Seedbed calls
// uses INFO. The one thing miniredis lacks is expiry: see Embedded.
//
// # asynq's timings
//
// Found in asynq v0.26.0's source, and what the tests here rely on:
//
//   - The times that decide when a task runs (scheduled, retry, lease end)
//     are stored as whole Unix seconds, rounded down: a retry "in 500ms" may
//     run at once, and one "in 1s" anywhere within the next second.
//   - A server moves due retries and scheduled tasks to their queues every
//     Config.DelayedTaskCheckInterval (default 5s), and polls empty queues
//     every Config.TaskCheckInterval (default 1s); ServerConfig lowers them
//     to DuePollInterval and PollInterval.
//   - A worker leases a task for 30s and extends the lease every 5s while
//     the handler runs. Each server's recoverer, when the server starts and
//     then every minute, puts back in their queue, as a failed attempt
//     (asynq.ErrLeaseExpired), the tasks whose lease ended at least 30s ago,
//     asynq's allowance for clock skew. A crashed worker's task therefore
//     runs again 55s to 2 minutes after the crash, depending on where the
//     recoverers' minutes fall; TestLeaseRecovery measures about 61s with a
//     server started at the crash. None of this can be configured.
//   - Unique-task locks (asynq.Unique, whole seconds) and the servers' and
//     workers' heartbeat records (10s) are keys with a TTL, and daily
//     statistics end with EXPIREAT: these are what need Embedded's clock.
//   - After a FLUSHDB, a task a worker is running has no key left; the
//     worker's next heartbeat (within 5s) writes its list of running tasks
//     again, and Inspector.Servers reports them. A client that enqueued to a
//     queue before the flush does not list that queue again (it remembers
//     having done so), so Inspector.GetTaskInfo answers ErrQueueNotFound for
//     tasks that exist; an enqueue with the same TaskID is refused
//     (ErrTaskIDConflict) all the same.
package queue
