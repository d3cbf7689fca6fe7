package apiv1

import (
	"context"
	"net/http"
)

// StageTarget is where a stage's functions run: "local" (processes on the
// Seedbed server) or "kubernetes" (Deployments in a cluster, with its
// settings). A change takes effect at the stage's next deploy.
type StageTarget struct {
	Target     string              `json:"target"`
	Kubernetes *KubernetesSettings `json:"kubernetes,omitempty"`
}

// KubernetesSettings are a stage's settings on the kubernetes target; see
// docs/kubernetes.md.
type KubernetesSettings struct {
	Kubeconfig       string `json:"kubeconfig,omitempty"` // empty: in-cluster
	Namespace        string `json:"namespace"`
	Image            string `json:"image,omitempty"` // runner image; empty: the server's --runner-image
	ImagePullSecret  string `json:"image_pull_secret,omitempty"`
	Replicas         int    `json:"replicas,omitempty"`
	Memory           int    `json:"memory,omitempty"` // MiB, for functions that set none
	CPU              string `json:"cpu,omitempty"`
	ProgressDeadline int    `json:"progress_deadline,omitempty"` // seconds
}

// StageTarget returns where a stage's functions run.
func (c *Client) StageTarget(ctx context.Context, app, stage string) (StageTarget, error) {
	var out StageTarget
	err := c.do(ctx, http.MethodGet, stagePath(app, stage)+"/target", nil, &out)
	return out, err
}

// SetStageTarget chooses where a stage's functions run.
func (c *Client) SetStageTarget(ctx context.Context, app, stage string, req StageTarget) (StageTarget, error) {
	var out StageTarget
	err := c.do(ctx, http.MethodPut, stagePath(app, stage)+"/target", req, &out)
	return out, err
}
