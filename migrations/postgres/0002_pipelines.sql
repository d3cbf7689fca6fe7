-- Pipelines: stage settings, per-stage variables and secrets, approvals,
-- promotions, rollbacks and cancellation.
ALTER TABLE stages ADD COLUMN approval BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE stages ADD COLUMN protected BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE stages ADD COLUMN target TEXT NOT NULL DEFAULT 'local';

CREATE TABLE stage_vars (
    id         BIGSERIAL PRIMARY KEY,
    stage_id   BIGINT NOT NULL REFERENCES stages(id) ON DELETE CASCADE,
    key        TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    secret     BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (stage_id, key)
);

ALTER TABLE users ADD COLUMN is_approver BOOLEAN NOT NULL DEFAULT FALSE;

ALTER TABLE deploys ADD COLUMN source_stage_id BIGINT;
ALTER TABLE deploys ADD COLUMN applied TEXT NOT NULL DEFAULT '';
ALTER TABLE deploys ADD COLUMN decided_by TEXT NOT NULL DEFAULT '';
ALTER TABLE deploys ADD COLUMN decided_at TIMESTAMPTZ;
ALTER TABLE deploys ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT FALSE;

ALTER TABLE builds ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT FALSE;
