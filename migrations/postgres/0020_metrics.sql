-- Function metrics, request log and error groups (issue 12). Rows name the
-- app, stage and function as the gateway saw them, not by id: the gateway
-- counts requests for stages that it knows by name, and rows outlive a
-- deleted app until retention removes them.
CREATE TABLE metric_minutes (
    id            BIGSERIAL PRIMARY KEY,
    minute        TIMESTAMPTZ NOT NULL,
    app           TEXT NOT NULL,
    stage         TEXT NOT NULL,
    function      TEXT NOT NULL,
    requests      BIGINT NOT NULL DEFAULT 0,
    errors        BIGINT NOT NULL DEFAULT 0,
    cold_starts   BIGINT NOT NULL DEFAULT 0,
    restarts      BIGINT NOT NULL DEFAULT 0,
    duration_sum  DOUBLE PRECISION NOT NULL DEFAULT 0,
    buckets       TEXT NOT NULL DEFAULT '',
    in_flight_max BIGINT NOT NULL DEFAULT 0,
    memory_bytes  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX metric_minutes_series ON metric_minutes(app, stage, function, minute);
CREATE INDEX metric_minutes_minute ON metric_minutes(minute);

CREATE TABLE request_logs (
    id          BIGSERIAL PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL,
    app         TEXT NOT NULL,
    stage       TEXT NOT NULL,
    function    TEXT NOT NULL DEFAULT '',
    instance    TEXT NOT NULL DEFAULT '',
    method      TEXT NOT NULL DEFAULT '',
    path        TEXT NOT NULL DEFAULT '',
    status      BIGINT NOT NULL DEFAULT 0,
    duration_us BIGINT NOT NULL DEFAULT 0,
    bytes       BIGINT NOT NULL DEFAULT 0,
    client      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX request_logs_stage ON request_logs(app, stage, id);
CREATE INDEX request_logs_status ON request_logs(app, stage, status, id);
CREATE INDEX request_logs_at ON request_logs(at);

CREATE TABLE error_groups (
    id          BIGSERIAL PRIMARY KEY,
    app         TEXT NOT NULL,
    stage       TEXT NOT NULL,
    function    TEXT NOT NULL,
    signature   TEXT NOT NULL,
    kind        TEXT NOT NULL DEFAULT '',
    error_type  TEXT NOT NULL DEFAULT '',
    message     TEXT NOT NULL DEFAULT '',
    sample      TEXT NOT NULL DEFAULT '',
    count       BIGINT NOT NULL DEFAULT 0,
    first_seen  TIMESTAMPTZ NOT NULL,
    last_seen   TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ,
    resolved_by TEXT NOT NULL DEFAULT '',
    reopened    BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX error_groups_signature ON error_groups(app, stage, function, signature);
CREATE INDEX error_groups_last_seen ON error_groups(app, last_seen);
