package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/seedbed/seedbed/builders/artifact"
	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
	"github.com/seedbed/seedbed/targets/dispatch"
	"github.com/seedbed/seedbed/targets/kubernetes"
	"github.com/seedbed/seedbed/targets/local"
	"github.com/seedbed/seedbed/targets/runner"
)

// runnerArtifactsPath is where seedbed serve's console listener serves
// artifacts to runners (pods of the kubernetes target).
const runnerArtifactsPath = "/runner/artifacts"

// runnerKeyFile holds the key of the runners' artifact tokens.
const runnerKeyFile = "runner.key"

// stageLookup is what choosing a stage's target reads.
type stageLookup interface {
	AppByName(ctx context.Context, name string) (store.App, error)
	StageByName(ctx context.Context, appID uint, name string) (store.Stage, error)
	SaveStageApplied(ctx context.Context, stageID uint, where string) error
}

// stageTargets chooses each stage's target from its settings: the local
// target, or a kubernetes target per distinct cluster settings (made once
// and kept: each holds a client and the gateway's tables).
type stageTargets struct {
	store   stageLookup
	local   *local.Target
	image   string // --runner-image
	domain  string
	locator kubernetes.ArtifactLocator
	log     *slog.Logger
	// queueToken gives the functions of kubernetes stages their queue
	// send token; nil gives none.
	queueToken func(targets.StageRef) string
	// logs tells kubernetes stages' pods where to ship their function
	// logs and with which token (shipLogs); nil ships none.
	logs func(targets.StageRef) (url, token string)

	mu   sync.Mutex
	kube map[string]*kubernetes.Target
}

// resolve implements dispatch.Resolver.
func (s *stageTargets) resolve(ctx context.Context, ref targets.StageRef) (dispatch.Placement, string, error) {
	st, err := s.stage(ctx, ref)
	if err != nil {
		return nil, "", err
	}
	t, err := pipelines.ParseStageTarget(st)
	if err != nil {
		return nil, "", err
	}
	if t.Target != pipelines.TargetKubernetes {
		return s.local, "local", nil
	}
	k := *t.Kubernetes
	if k.Image == "" {
		k.Image = s.image
	}
	if k.Image == "" {
		return nil, "", fmt.Errorf("stage %s is on the kubernetes target but no runner image is set: start seedbed serve with --runner-image (SEEDBED_RUNNER_IMAGE) or set the stage's image (seedbed target %s %s --target kubernetes --image ...)", ref, ref.App, ref.Stage)
	}
	return s.kubernetes(k)
}

func (s *stageTargets) stage(ctx context.Context, ref targets.StageRef) (store.Stage, error) {
	app, err := s.store.AppByName(ctx, ref.App)
	if err != nil {
		return store.Stage{}, err
	}
	return s.store.StageByName(ctx, app.ID, ref.Stage)
}

// kubernetes returns the target of settings k (with the image filled in),
// made once per distinct settings.
func (s *stageTargets) kubernetes(k pipelines.KubernetesSettings) (dispatch.Placement, string, error) {
	key, _ := json.Marshal(k)
	name := "kubernetes namespace " + k.Namespace
	s.mu.Lock()
	defer s.mu.Unlock()
	if tg := s.kube[string(key)]; tg != nil {
		return tg, name, nil
	}
	cs, err := kubernetes.NewClient(k.Kubeconfig)
	if err != nil {
		return nil, "", err
	}
	tg, err := kubernetes.New(kubernetes.Config{
		Client: cs, Namespace: k.Namespace, Image: k.Image, ImagePullSecret: k.ImagePullSecret,
		Replicas: int32(k.Replicas), Memory: k.Memory, CPU: k.CPU,
		ProgressDeadline: time.Duration(k.ProgressDeadline) * time.Second,
		Artifacts:        s.locator, Domain: s.domain,
		QueueToken: s.queueToken, Logs: s.logs,
	})
	if err != nil {
		return nil, "", err
	}
	s.kube[string(key)] = tg
	return tg, name, nil
}

// appliedTarget is what stages.applied_target holds: where a stage was
// last applied, with the kubernetes settings (image filled in) it was
// applied with.
type appliedTarget struct {
	Target     string                        `json:"target"`
	Kubernetes *pipelines.KubernetesSettings `json:"kubernetes,omitempty"`
}

// Recall implements dispatch.Memory: the target stage ref was last
// applied on, from the database (a cluster the stage has left since is
// connected to again, to remove it from there).
func (s *stageTargets) Recall(ctx context.Context, ref targets.StageRef) (dispatch.Placement, string, error) {
	st, err := s.stage(ctx, ref)
	if err != nil || st.AppliedTarget == "" {
		return nil, "", err
	}
	var at appliedTarget
	if err := json.Unmarshal([]byte(st.AppliedTarget), &at); err != nil {
		return nil, "", fmt.Errorf("stage %s: where it was applied is unreadable: %w", ref, err)
	}
	if at.Target == pipelines.TargetKubernetes && at.Kubernetes != nil {
		return s.kubernetes(*at.Kubernetes)
	}
	return s.local, "local", nil
}

// Remember implements dispatch.Memory.
func (s *stageTargets) Remember(ctx context.Context, ref targets.StageRef, p dispatch.Placement) error {
	st, err := s.stage(ctx, ref)
	if errors.Is(err, store.ErrNotFound) && p == nil {
		return nil // the stage is being deleted: nothing to remember
	}
	if err != nil {
		return err
	}
	where := ""
	if p != nil {
		at := appliedTarget{Target: pipelines.TargetLocal}
		s.mu.Lock()
		for key, tg := range s.kube {
			if dispatch.Placement(tg) == p {
				var k pipelines.KubernetesSettings
				if err := json.Unmarshal([]byte(key), &k); err == nil {
					at = appliedTarget{Target: pipelines.TargetKubernetes, Kubernetes: &k}
				}
			}
		}
		s.mu.Unlock()
		b, err := json.Marshal(at)
		if err != nil {
			return err
		}
		where = string(b)
	}
	return s.store.SaveStageApplied(ctx, st.ID, where)
}

// newStageTargets wires the target chooser: the runner's artifact tokens
// are signed with a key kept in the data dir, valid at artifactsURL.
func newStageTargets(dataDir, artifactsURL, image, domain string, st stageLookup, lt *local.Target, log *slog.Logger) (*stageTargets, *runner.Signer, error) {
	key, err := loadRunnerKey(filepath.Join(dataDir, runnerKeyFile))
	if err != nil {
		return nil, nil, err
	}
	signer, err := runner.NewSigner(key, artifactsURL)
	if err != nil {
		return nil, nil, err
	}
	return &stageTargets{store: st, local: lt, image: image, domain: domain, locator: signer, log: log,
		kube: map[string]*kubernetes.Target{}}, signer, nil
}

// loadRunnerKey reads the key, making a random one on first use.
func loadRunnerKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(b) >= 32 {
		return b, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read the runner key: %w", err)
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("write the runner key: %w", err)
	}
	return b, nil
}

// withRunnerArtifacts serves runnerArtifactsPath from the artifact store
// (to bearers of a digest's token) beside the console: the data dir's
// folder, or the --artifact-store bucket (which is a runner.Source).
func withRunnerArtifacts(h http.Handler, signer *runner.Signer, arts artifact.Storage) http.Handler {
	var src runner.Source
	switch a := arts.(type) {
	case *artifact.Store:
		src = runner.DirSource{Store: a}
	case runner.Source:
		src = a
	default:
		return h // an artifact store runners cannot read: pods get 404s, and say so
	}
	serve := http.StripPrefix(runnerArtifactsPath, signer.Handler(src))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, runnerArtifactsPath+"/") {
			serve.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}
