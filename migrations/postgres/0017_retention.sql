-- Retention (seedbed gc): one row per maintenance job names who runs it and
-- until when, so that several processes never collect at once; indexes for
-- the retention queries: deleting a release sets its deploys' release_id to
-- NULL (one seek each, not a scan of deploys), old log lines are found by
-- age, rejected webhook deliveries are capped across every app.
CREATE TABLE maintenance_locks (
    name       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL DEFAULT '',
    expires_at TIMESTAMPTZ
);
CREATE INDEX deploys_release ON deploys(release_id);
CREATE INDEX log_lines_created ON log_lines(created_at);
CREATE INDEX webhook_deliveries_outcome ON webhook_deliveries(outcome, id);
