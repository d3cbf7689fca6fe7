-- Invites: one-time links an admin sends to let someone choose a password.
-- Only the sha256 of the link's token is kept; a used or expired invite
-- signs no one up.
CREATE TABLE invites (
    id          BIGSERIAL PRIMARY KEY,
    token_hash  TEXT    NOT NULL UNIQUE,
    email       TEXT    NOT NULL,
    is_admin    BOOLEAN NOT NULL DEFAULT FALSE,
    is_approver BOOLEAN NOT NULL DEFAULT FALSE,
    created_by  TEXT    NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ
);
-- The builds list filters an app's builds by status and ref, newest first.
CREATE INDEX builds_app_status ON builds(app_id, status, id);
CREATE INDEX builds_app_ref ON builds(app_id, ref, id);
-- The activity feed reads deploys by app, newest first.
CREATE INDEX deploys_app ON deploys(app_id, id);
