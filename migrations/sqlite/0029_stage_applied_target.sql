-- Where a stage was last applied: {"target":"local"}, or the kubernetes
-- target with the settings it was applied with (JSON); empty until its
-- first deploy. A stage whose target changed is removed from there at its
-- next deploy, also when Seedbed restarted in between.
ALTER TABLE stages ADD COLUMN applied_target TEXT NOT NULL DEFAULT '';
