-- The kubernetes target's settings of a stage (kubeconfig or in-cluster,
-- namespace, runner image, image pull secret, resource defaults), as JSON;
-- empty for a stage on the local target.
ALTER TABLE stages ADD COLUMN kubernetes TEXT NOT NULL DEFAULT '';
