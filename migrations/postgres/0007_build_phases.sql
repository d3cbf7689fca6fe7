-- Incremental builds and build phases. A build may be asked to rebuild every
-- service (full); it records the timings of its phases as JSON (a list of
-- {name, service, start, end}); an artifact it reused from an earlier build
-- names that build in reused_from (0: built by this build).
ALTER TABLE builds ADD COLUMN full_build BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE builds ADD COLUMN phases TEXT NOT NULL DEFAULT '';
ALTER TABLE artifacts ADD COLUMN reused_from BIGINT NOT NULL DEFAULT 0;
ALTER TABLE artifacts ADD COLUMN reuse_reason TEXT NOT NULL DEFAULT '';
