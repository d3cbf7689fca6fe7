package apiv1

import (
	"context"
	"net/http"
	"time"
)

// StageDrift is how the objects of a stage's live release differ from what
// Seedbed applied, read from its target when asked (GET
// …/stages/{stage}/drift; see docs/kubernetes.md). The stage's next deploy
// (a promotion or a rollback counts) repairs every difference.
type StageDrift struct {
	CheckedAt time.Time `json:"checked_at"`
	// Target is the kind of target the stage runs on: local, kubernetes.
	Target string `json:"target"`
	// Checked is false when the target has nothing that can drift (local:
	// Seedbed starts the stage's processes itself); Drift is then empty.
	Checked bool `json:"checked"`
	// Drift describes each difference, one sentence each; empty: none.
	Drift []string `json:"drift"`
}

// StageDrift checks a stage for drift. A target that cannot be reached is
// an error (502), not an empty list.
func (c *Client) StageDrift(ctx context.Context, app, stage string) (StageDrift, error) {
	var out StageDrift
	err := c.do(ctx, http.MethodGet, stagePath(app, stage)+"/drift", nil, &out)
	return out, err
}
