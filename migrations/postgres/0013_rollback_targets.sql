-- The pipeline board asks whether a stage has a succeeded deploy of another
-- release than the live one (its Rollback button). With the release in the
-- index the answer is one range of the index, however many deploys of the
-- live release the stage has had.
CREATE INDEX deploys_stage_status_release ON deploys(stage_id, status, release_id);
