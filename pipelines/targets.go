package pipelines

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/seedbed/seedbed/store"
)

// The targets a stage can choose.
const (
	TargetLocal      = "local"
	TargetKubernetes = "kubernetes"
)

// KubernetesSettings are a stage's settings on the kubernetes target: which
// cluster, where in it, and the defaults of its pods. A stage's functions
// run from Seedbed's runner image; nothing is built per deploy.
type KubernetesSettings struct {
	// Kubeconfig is the path of a kubeconfig file on the machine running
	// Seedbed; empty means in-cluster (Seedbed's own service account).
	Kubeconfig string `json:"kubeconfig,omitempty"`
	// Namespace holds the stage's objects; it must exist.
	Namespace string `json:"namespace"`
	// Image is the runner image (Seedbed's image, run as `seedbed
	// run-function`); empty means the server's --runner-image.
	Image string `json:"image,omitempty"`
	// ImagePullSecret names a Secret in Namespace for pulling Image.
	ImagePullSecret string `json:"imagePullSecret,omitempty"`
	// Replicas is the number of pods per function (default 1).
	Replicas int `json:"replicas,omitempty"`
	// Memory is the memory limit in MiB of a function that sets none
	// (default 256).
	Memory int `json:"memory,omitempty"`
	// CPU is each pod's CPU request, e.g. 100m (default 100m).
	CPU string `json:"cpu,omitempty"`
	// ProgressDeadline is how many seconds a new revision may take to
	// become available before the deploy fails (default 120).
	ProgressDeadline int `json:"progressDeadline,omitempty"`
}

// StageTarget is where a stage's functions run.
type StageTarget struct {
	Target     string              `json:"target"`
	Kubernetes *KubernetesSettings `json:"kubernetes,omitempty"`
}

var (
	dnsLabelRe   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	cpuRe        = regexp.MustCompile(`^([0-9]+m|[0-9]+(\.[0-9]+)?)$`)
	secretNameRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$`)
	imageRe      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/:@-]*$`)
)

// check refuses settings the target could not use, each with what to do.
func (k KubernetesSettings) check() error {
	var problems []string
	if !dnsLabelRe.MatchString(k.Namespace) {
		problems = append(problems, fmt.Sprintf("namespace %q is not a Kubernetes namespace name: use lower-case letters, digits and '-' (e.g. apps)", k.Namespace))
	}
	if k.Kubeconfig != "" && !filepath.IsAbs(k.Kubeconfig) {
		problems = append(problems, fmt.Sprintf("kubeconfig %q must be an absolute path on the Seedbed server (or empty to use the cluster Seedbed runs in)", k.Kubeconfig))
	}
	if k.Image != "" && !imageRe.MatchString(k.Image) {
		problems = append(problems, fmt.Sprintf("image %q is not an image reference (e.g. registry.example/seedbed:1.4)", k.Image))
	}
	if k.ImagePullSecret != "" && !secretNameRe.MatchString(k.ImagePullSecret) {
		problems = append(problems, fmt.Sprintf("image pull secret %q is not a Secret name", k.ImagePullSecret))
	}
	if k.Replicas < 0 || k.Replicas > 100 {
		problems = append(problems, fmt.Sprintf("replicas %d: use 1 to 100 (0 for the default, 1)", k.Replicas))
	}
	if k.Memory < 0 || k.Memory > 65536 {
		problems = append(problems, fmt.Sprintf("memory %d MiB: use 16 to 65536 (0 for the default, 256)", k.Memory))
	} else if k.Memory > 0 && k.Memory < 16 {
		problems = append(problems, fmt.Sprintf("memory %d MiB is too little to start a function: use at least 16", k.Memory))
	}
	if k.CPU != "" && !cpuRe.MatchString(k.CPU) {
		problems = append(problems, fmt.Sprintf("cpu %q is not a CPU quantity (e.g. 100m or 0.5)", k.CPU))
	}
	if k.ProgressDeadline < 0 || k.ProgressDeadline > 3600 {
		problems = append(problems, fmt.Sprintf("progress deadline %d s: use 1 to 3600 (0 for the default, 120)", k.ProgressDeadline))
	}
	if len(problems) > 0 {
		return invalidf("Kubernetes settings: %s.", strings.Join(problems, "; "))
	}
	return nil
}

// ParseStageTarget reads a stage's target as stored.
func ParseStageTarget(st store.Stage) (StageTarget, error) {
	out := StageTarget{Target: st.Target}
	if out.Target == "" {
		out.Target = TargetLocal
	}
	if out.Target == TargetKubernetes {
		var k KubernetesSettings
		if err := json.Unmarshal([]byte(st.Kubernetes), &k); err != nil {
			return out, fmt.Errorf("stage %s: its kubernetes settings are unreadable: %w", st.Name, err)
		}
		out.Kubernetes = &k
	}
	return out, nil
}

// StageTarget returns where a stage's functions run.
func (s *Service) StageTarget(ctx context.Context, appName, stageName string) (StageTarget, error) {
	_, st, err := s.appStage(ctx, appName, stageName)
	if err != nil {
		return StageTarget{}, err
	}
	return ParseStageTarget(st)
}

// SetStageTarget chooses where a stage's functions run. The change takes
// effect at the stage's next deploy (a promotion or rollback counts): the
// release is started on the new target, the stage switches there, and what
// ran on the old target is removed; artifacts are the same on both.
func (s *Service) SetStageTarget(ctx context.Context, appName, stageName string, in StageTarget) (StageTarget, error) {
	_, st, err := s.appStage(ctx, appName, stageName)
	if err != nil {
		return StageTarget{}, err
	}
	switch in.Target {
	case TargetLocal:
		if in.Kubernetes != nil {
			return StageTarget{}, invalidf("Kubernetes settings are for target kubernetes; stage %s would run on local.", st.Name)
		}
		st.Target, st.Kubernetes = TargetLocal, ""
	case TargetKubernetes:
		if in.Kubernetes == nil {
			return StageTarget{}, invalidf("Target kubernetes needs its settings: at least a namespace.")
		}
		if err := in.Kubernetes.check(); err != nil {
			return StageTarget{}, err
		}
		b, err := json.Marshal(in.Kubernetes)
		if err != nil {
			return StageTarget{}, err
		}
		st.Target, st.Kubernetes = TargetKubernetes, string(b)
	default:
		return StageTarget{}, invalidf("%q is not a target: use local or kubernetes.", in.Target)
	}
	if err := s.cfg.Store.SaveStageTarget(ctx, st); err != nil {
		return StageTarget{}, err
	}
	return ParseStageTarget(st)
}
