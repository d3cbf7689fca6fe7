-- Webhooks: a secret per app, and every delivery with its outcome.
ALTER TABLE apps ADD COLUMN webhook_secret TEXT NOT NULL DEFAULT '';

CREATE TABLE webhook_deliveries (
    id          BIGSERIAL PRIMARY KEY,
    app_id      BIGINT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    forge       TEXT    NOT NULL,
    delivery_id TEXT    NOT NULL,
    event       TEXT    NOT NULL DEFAULT '',
    outcome     TEXT    NOT NULL,
    reason      TEXT    NOT NULL DEFAULT '',
    summary     TEXT    NOT NULL DEFAULT '',
    remote_addr TEXT    NOT NULL DEFAULT '',
    build_ids   TEXT    NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhook_deliveries_app ON webhook_deliveries(app_id, id);
CREATE UNIQUE INDEX webhook_deliveries_once ON webhook_deliveries(app_id, forge, delivery_id) WHERE outcome <> 'rejected';
