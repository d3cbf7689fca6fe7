-- Per-app forge settings: which forge hosts the repository (for commit
-- statuses), its API base URL for self-hosted instances, the repository's
-- path there, an access token sealed by the pipelines package, and how often
-- to poll the repository for repos that cannot send webhooks (0 = never).
ALTER TABLE apps ADD COLUMN forge TEXT NOT NULL DEFAULT '';
ALTER TABLE apps ADD COLUMN forge_api_url TEXT NOT NULL DEFAULT '';
ALTER TABLE apps ADD COLUMN forge_repo TEXT NOT NULL DEFAULT '';
ALTER TABLE apps ADD COLUMN forge_token TEXT NOT NULL DEFAULT '';
ALTER TABLE apps ADD COLUMN poll_seconds INTEGER NOT NULL DEFAULT 0;

-- The last sha the poller saw at each ref of an app's repository.
CREATE TABLE polled_refs (
    app_id     BIGINT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    ref        TEXT    NOT NULL,
    sha        TEXT    NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (app_id, ref)
);
