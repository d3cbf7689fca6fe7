-- Queue messages (issue 13) live in the database, so that waiting and
-- in-flight messages survive a restart on the embedded queue too; asynq
-- only wakes consumers. A message is waiting while visible_ms is past (or
-- it has no receipt), in flight while a batch holds it (receipt set and
-- visible_ms ahead), dead once received max_receives times. Times are Unix
-- milliseconds. queue_slots holds one row per concurrency slot of a
-- queue's subscription: a batch runs only under a slot it leased.
CREATE TABLE queue_messages (
    id          TEXT PRIMARY KEY,
    stage_id    INTEGER NOT NULL,
    queue       TEXT NOT NULL,
    body        BYTEA,
    receives    INTEGER NOT NULL DEFAULT 0,
    sent_ms     BIGINT NOT NULL,
    first_ms    BIGINT NOT NULL DEFAULT 0,
    visible_ms  BIGINT NOT NULL,
    receipt     TEXT NOT NULL DEFAULT '',
    dead        BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX queue_messages_ready ON queue_messages(stage_id, queue, dead, visible_ms);
CREATE INDEX queue_messages_receipt ON queue_messages(receipt);
CREATE TABLE queue_slots (
    stage_id    INTEGER NOT NULL,
    queue       TEXT NOT NULL,
    slot        INTEGER NOT NULL,
    holder      TEXT NOT NULL DEFAULT '',
    until_ms    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (stage_id, queue, slot)
);
