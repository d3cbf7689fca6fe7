-- Preview stages: an app may name a template stage; each pull (merge)
-- request then gets a stage pr-N cloned from it. A preview stage is not part
-- of the pipeline; when its request closes it stops serving but keeps its
-- row and its deploys (closed_at says when).
ALTER TABLE apps ADD COLUMN preview_template_id INTEGER REFERENCES stages(id) ON DELETE SET NULL;
ALTER TABLE stages ADD COLUMN pr_number INTEGER;
ALTER TABLE stages ADD COLUMN pr_branch TEXT NOT NULL DEFAULT '';
ALTER TABLE stages ADD COLUMN pr_title TEXT NOT NULL DEFAULT '';
ALTER TABLE stages ADD COLUMN closed_at DATETIME;
CREATE UNIQUE INDEX stages_app_pr_number ON stages (app_id, pr_number);
