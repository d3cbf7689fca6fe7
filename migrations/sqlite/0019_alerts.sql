-- Alerts: where an app's notifications go (channels), what sends them
-- (rules, with the state the evaluator keeps: firing or not), and every
-- notification sent with its attempts (deliveries). A delivery's event_key
-- makes one event notify a channel once, however often it is reported.
CREATE TABLE alert_channels (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id     INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    target     TEXT    NOT NULL DEFAULT '',
    hint       TEXT    NOT NULL DEFAULT '',
    secret     TEXT    NOT NULL DEFAULT '',
    created_by TEXT    NOT NULL DEFAULT '',
    created_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX alert_channels_name ON alert_channels(app_id, name);

CREATE TABLE alert_rules (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id            INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    channel_id        INTEGER NOT NULL REFERENCES alert_channels(id),
    name              TEXT    NOT NULL,
    kind              TEXT    NOT NULL,
    stage             TEXT    NOT NULL DEFAULT '',
    function          TEXT    NOT NULL DEFAULT '',
    threshold         REAL    NOT NULL DEFAULT 0,
    window_seconds    INTEGER NOT NULL DEFAULT 0,
    firing            BOOLEAN NOT NULL DEFAULT FALSE,
    firing_stage      TEXT    NOT NULL DEFAULT '',
    firing_since      DATETIME,
    last_value        REAL    NOT NULL DEFAULT 0,
    last_fired_at     DATETIME,
    last_evaluated_at DATETIME,
    created_by        TEXT    NOT NULL DEFAULT '',
    created_at        DATETIME NOT NULL
);
CREATE UNIQUE INDEX alert_rules_name ON alert_rules(app_id, name);
CREATE INDEX alert_rules_channel ON alert_rules(channel_id);

CREATE TABLE alert_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id          INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    channel_id      INTEGER NOT NULL REFERENCES alert_channels(id) ON DELETE CASCADE,
    rule_id         INTEGER,
    delivery_id     TEXT    NOT NULL,
    event           TEXT    NOT NULL,
    event_key       TEXT    NOT NULL DEFAULT '',
    stage           TEXT    NOT NULL DEFAULT '',
    title           TEXT    NOT NULL DEFAULT '',
    url             TEXT    NOT NULL DEFAULT '',
    payload         TEXT    NOT NULL DEFAULT '',
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    response_code   INTEGER NOT NULL DEFAULT 0,
    error           TEXT    NOT NULL DEFAULT '',
    created_at      DATETIME NOT NULL,
    last_attempt_at DATETIME,
    delivered_at    DATETIME
);
CREATE INDEX alert_deliveries_app ON alert_deliveries(app_id, id);
CREATE UNIQUE INDEX alert_deliveries_once ON alert_deliveries(channel_id, event_key) WHERE event_key <> '';
