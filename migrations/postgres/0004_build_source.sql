-- A build records where it fetches from when that is not the app's repository:
-- pushes to the built-in git remote build from Seedbed's own bare repository,
-- from the hidden branch that pins the pushed commit until the push is accepted.
ALTER TABLE builds ADD COLUMN source TEXT NOT NULL DEFAULT '';
ALTER TABLE builds ADD COLUMN source_branch TEXT NOT NULL DEFAULT '';
