-- The apps overview shows every stage's newest deploy status: one seek per
-- stage in an index that holds the status too, without reading the deploys
-- table. It replaces deploys_stage_id (stage_id, id), its prefix.
CREATE INDEX deploys_stage_status ON deploys(stage_id, id, status);
DROP INDEX deploys_stage_id;

-- overview_changes counts the changes to what the apps overview reads
-- (apps, stages, deploys), whoever makes them: a server keeps the overview's
-- rows while the count, the sum of n, stays where it was when it read them.
-- Only these triggers write it. They count inside the writing transaction,
-- so a reader that sees a change sees the new count too. (PostgreSQL spreads
-- the count over several rows; SQLite has one writer at a time and one row.)
CREATE TABLE overview_changes (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
INSERT INTO overview_changes (id, n) VALUES (1, 0);
CREATE TRIGGER apps_insert_overview AFTER INSERT ON apps BEGIN UPDATE overview_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER apps_update_overview AFTER UPDATE ON apps BEGIN UPDATE overview_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER apps_delete_overview AFTER DELETE ON apps BEGIN UPDATE overview_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER stages_insert_overview AFTER INSERT ON stages BEGIN UPDATE overview_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER stages_update_overview AFTER UPDATE ON stages BEGIN UPDATE overview_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER stages_delete_overview AFTER DELETE ON stages BEGIN UPDATE overview_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER deploys_insert_overview AFTER INSERT ON deploys BEGIN UPDATE overview_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER deploys_update_overview AFTER UPDATE ON deploys BEGIN UPDATE overview_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER deploys_delete_overview AFTER DELETE ON deploys BEGIN UPDATE overview_changes SET n = n + 1 WHERE id = 1; END;
