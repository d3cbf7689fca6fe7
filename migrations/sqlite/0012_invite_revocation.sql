-- An admin may revoke an invite before it is used: its link then fails with
-- a page that says so, and the activity feed shows who revoked it and when.
ALTER TABLE invites ADD COLUMN revoked_at DATETIME;
ALTER TABLE invites ADD COLUMN revoked_by TEXT NOT NULL DEFAULT '';
-- The pending list and the activity feed read invites by state, newest first.
CREATE INDEX invites_revoked ON invites(revoked_at);
