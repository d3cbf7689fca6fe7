-- Events (issue 13): one row per invocation that no HTTP client waits for
-- (an async invocation, a schedule's tick, an on-failure delivery), and
-- one row per schedule of a stage that was paused or is running. A tick
-- is claimed by inserting its invocation: dedupe_key is unique, so of
-- several Seedbed processes only one runs each tick.
CREATE TABLE invocations (
    id            TEXT PRIMARY KEY,
    stage_id      INTEGER NOT NULL,
    app           TEXT NOT NULL,
    stage         TEXT NOT NULL,
    function      TEXT NOT NULL,
    source        TEXT NOT NULL,
    schedule_id   TEXT NOT NULL DEFAULT '',
    dedupe_key    TEXT,
    due_at        DATETIME,
    status        TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    max_attempts  INTEGER NOT NULL DEFAULT 1,
    backoff_ms    INTEGER NOT NULL DEFAULT 0,
    on_failure    TEXT NOT NULL DEFAULT '',
    method        TEXT NOT NULL DEFAULT '',
    path          TEXT NOT NULL DEFAULT '',
    header        TEXT NOT NULL DEFAULT '',
    payload       BLOB,
    response      BLOB,
    error         TEXT NOT NULL DEFAULT '',
    log_excerpt   TEXT NOT NULL DEFAULT '',
    duration_ms   INTEGER NOT NULL DEFAULT 0,
    created_at    DATETIME NOT NULL,
    started_at    DATETIME,
    finished_at   DATETIME
);
CREATE UNIQUE INDEX invocations_dedupe ON invocations(dedupe_key);
CREATE INDEX invocations_stage ON invocations(stage_id, created_at);
CREATE INDEX invocations_schedule ON invocations(stage_id, schedule_id, created_at);
CREATE INDEX invocations_status ON invocations(status, created_at);
CREATE TABLE event_schedules (
    stage_id      INTEGER NOT NULL,
    schedule_id   TEXT NOT NULL,
    paused        BOOLEAN NOT NULL DEFAULT FALSE,
    running_id    TEXT NOT NULL DEFAULT '',
    running_until DATETIME,
    PRIMARY KEY (stage_id, schedule_id)
);
