-- The apps overview shows every stage's newest deploy status: one seek per
-- stage in an index that holds the status too. It replaces deploys_stage_id
-- (stage_id, id), its prefix.
CREATE INDEX deploys_stage_status ON deploys(stage_id, id, status);
DROP INDEX deploys_stage_id;

-- overview_changes counts the changes to what the apps overview reads
-- (apps, stages, deploys), whoever makes them: a server keeps the overview's
-- rows while the count, the sum of n, stays where it was when it read them.
-- Only these triggers write it. They count inside the writing transaction,
-- so a reader that sees a change sees the new count too, and they are
-- deferred to the commit, so a count row is the last lock a transaction
-- takes and cannot be part of a deadlock. The count is spread over 32 rows,
-- one per transaction, so that concurrent writers do not queue on one row.
CREATE TABLE overview_changes (
    id INTEGER PRIMARY KEY CHECK (id >= 0 AND id < 32),
    n  BIGINT NOT NULL
);
INSERT INTO overview_changes (id, n) SELECT g, 0 FROM generate_series(0, 31) AS g;
CREATE FUNCTION overview_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE overview_changes SET n = n + 1 WHERE id = txid_current() % 32;
    RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER apps_overview AFTER INSERT OR UPDATE OR DELETE ON apps
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION overview_changed();
CREATE CONSTRAINT TRIGGER stages_overview AFTER INSERT OR UPDATE OR DELETE ON stages
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION overview_changed();
CREATE CONSTRAINT TRIGGER deploys_overview AFTER INSERT OR UPDATE OR DELETE ON deploys
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION overview_changed();
