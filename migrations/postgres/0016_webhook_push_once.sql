-- Webhook pushes are idempotent on (ref, before, after): the delivery that
-- takes a push holds its key, so the same push delivered again under a new
-- delivery id builds nothing. A delivery that started nothing lets the key go.
ALTER TABLE webhook_deliveries ADD COLUMN push_key TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX webhook_deliveries_push_once ON webhook_deliveries(app_id, push_key) WHERE push_key <> '';
