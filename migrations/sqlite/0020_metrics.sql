-- Function metrics, request log and error groups (issue 12). Rows name the
-- app, stage and function as the gateway saw them, not by id: the gateway
-- counts requests for stages that it knows by name, and rows outlive a
-- deleted app until retention removes them.
CREATE TABLE metric_minutes (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    minute        DATETIME NOT NULL,
    app           TEXT NOT NULL,
    stage         TEXT NOT NULL,
    function      TEXT NOT NULL,
    requests      INTEGER NOT NULL DEFAULT 0,
    errors        INTEGER NOT NULL DEFAULT 0,
    cold_starts   INTEGER NOT NULL DEFAULT 0,
    restarts      INTEGER NOT NULL DEFAULT 0,
    duration_sum  REAL NOT NULL DEFAULT 0,
    buckets       TEXT NOT NULL DEFAULT '',
    in_flight_max INTEGER NOT NULL DEFAULT 0,
    memory_bytes  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX metric_minutes_series ON metric_minutes(app, stage, function, minute);
CREATE INDEX metric_minutes_minute ON metric_minutes(minute);

CREATE TABLE request_logs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          DATETIME NOT NULL,
    app         TEXT NOT NULL,
    stage       TEXT NOT NULL,
    function    TEXT NOT NULL DEFAULT '',
    instance    TEXT NOT NULL DEFAULT '',
    method      TEXT NOT NULL DEFAULT '',
    path        TEXT NOT NULL DEFAULT '',
    status      INTEGER NOT NULL DEFAULT 0,
    duration_us INTEGER NOT NULL DEFAULT 0,
    bytes       INTEGER NOT NULL DEFAULT 0,
    client      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX request_logs_stage ON request_logs(app, stage, id);
CREATE INDEX request_logs_status ON request_logs(app, stage, status, id);
CREATE INDEX request_logs_at ON request_logs(at);

CREATE TABLE error_groups (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    app         TEXT NOT NULL,
    stage       TEXT NOT NULL,
    function    TEXT NOT NULL,
    signature   TEXT NOT NULL,
    kind        TEXT NOT NULL DEFAULT '',
    error_type  TEXT NOT NULL DEFAULT '',
    message     TEXT NOT NULL DEFAULT '',
    sample      TEXT NOT NULL DEFAULT '',
    count       INTEGER NOT NULL DEFAULT 0,
    first_seen  DATETIME NOT NULL,
    last_seen   DATETIME NOT NULL,
    resolved_at DATETIME,
    resolved_by TEXT NOT NULL DEFAULT '',
    reopened    INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX error_groups_signature ON error_groups(app, stage, function, signature);
CREATE INDEX error_groups_last_seen ON error_groups(app, last_seen);
