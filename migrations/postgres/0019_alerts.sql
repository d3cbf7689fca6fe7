-- Alerts: where an app's notifications go (channels), what sends them
-- (rules, with the state the evaluator keeps: firing or not), and every
-- notification sent with its attempts (deliveries). A delivery's event_key
-- makes one event notify a channel once, however often it is reported.
CREATE TABLE alert_channels (
    id         BIGSERIAL PRIMARY KEY,
    app_id     BIGINT  NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    target     TEXT    NOT NULL DEFAULT '',
    hint       TEXT    NOT NULL DEFAULT '',
    secret     TEXT    NOT NULL DEFAULT '',
    created_by TEXT    NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX alert_channels_name ON alert_channels(app_id, name);

CREATE TABLE alert_rules (
    id                BIGSERIAL PRIMARY KEY,
    app_id            BIGINT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    channel_id        BIGINT NOT NULL REFERENCES alert_channels(id),
    name              TEXT    NOT NULL,
    kind              TEXT    NOT NULL,
    stage             TEXT    NOT NULL DEFAULT '',
    function          TEXT    NOT NULL DEFAULT '',
    threshold         DOUBLE PRECISION NOT NULL DEFAULT 0,
    window_seconds    INTEGER NOT NULL DEFAULT 0,
    firing            BOOLEAN NOT NULL DEFAULT FALSE,
    firing_stage      TEXT    NOT NULL DEFAULT '',
    firing_since      TIMESTAMPTZ,
    last_value        DOUBLE PRECISION NOT NULL DEFAULT 0,
    last_fired_at     TIMESTAMPTZ,
    last_evaluated_at TIMESTAMPTZ,
    created_by        TEXT    NOT NULL DEFAULT '',
    created_at        TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX alert_rules_name ON alert_rules(app_id, name);
CREATE INDEX alert_rules_channel ON alert_rules(channel_id);

CREATE TABLE alert_deliveries (
    id              BIGSERIAL PRIMARY KEY,
    app_id          BIGINT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    channel_id      BIGINT NOT NULL REFERENCES alert_channels(id) ON DELETE CASCADE,
    rule_id         BIGINT,
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
    created_at      TIMESTAMPTZ NOT NULL,
    last_attempt_at TIMESTAMPTZ,
    delivered_at    TIMESTAMPTZ
);
CREATE INDEX alert_deliveries_app ON alert_deliveries(app_id, id);
CREATE UNIQUE INDEX alert_deliveries_once ON alert_deliveries(channel_id, event_key) WHERE event_key <> '';
