package pipelines

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"sync"

	"github.com/seedbed/seedbed/builders"
	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/store"
)

// ServiceSpec is what a release keeps of a service beyond its functions:
// the deploy hooks and the services it depends on.
type ServiceSpec struct {
	Name         string   `json:"name"`
	Path         string   `json:"path"`
	DependsOn    []string `json:"depends_on,omitempty"`
	BeforeDeploy []string `json:"before_deploy,omitempty"`
	AfterDeploy  []string `json:"after_deploy,omitempty"`
	BeforeRemove []string `json:"before_remove,omitempty"`
	AfterRemove  []string `json:"after_remove,omitempty"`
}

// serviceSpecOf returns svc's spec, or nil when it has neither deploy
// hooks nor dependencies.
func serviceSpecOf(svc stack.Service) *ServiceSpec {
	h := svc.Hooks
	if len(h.BeforeDeploy)+len(h.AfterDeploy)+len(h.BeforeRemove)+len(h.AfterRemove)+len(svc.DependsOn) == 0 {
		return nil
	}
	return &ServiceSpec{Name: svc.Name, Path: svc.Path, DependsOn: svc.DependsOn,
		BeforeDeploy: h.BeforeDeploy, AfterDeploy: h.AfterDeploy, BeforeRemove: h.BeforeRemove, AfterRemove: h.AfterRemove}
}

// Deploy hook kinds.
const (
	hookBeforeDeploy = "before_deploy"
	hookAfterDeploy  = "after_deploy"
)

// runDeployHooks runs the before_deploy or after_deploy hooks of every
// service of the release, services after those they depend on. Each
// command runs with sh -c, as the app's build user, in a fresh folder holding
// the unpacked artifact of the service's first function (a deploy has no
// checkout), with the stage's env and secrets and the SEEDBED_*
// variables. The first failing command stops them; its output is in the
// deploy's log.
func (s *Service) runDeployHooks(ctx context.Context, kind string, app store.App, stage store.Stage, rel store.Release, m Manifest, env map[string]string, log hookLog) error {
	for _, spec := range specOrder(m.Services) {
		cmds := spec.BeforeDeploy
		if kind == hookAfterDeploy {
			cmds = spec.AfterDeploy
		}
		if len(cmds) == 0 {
			continue
		}
		if err := s.runServiceHooks(ctx, kind, app, stage, rel, m, spec, cmds, env, log); err != nil {
			return fmt.Errorf("service %s: %w", spec.Name, err)
		}
	}
	return nil
}

func (s *Service) runServiceHooks(ctx context.Context, kind string, app store.App, stage store.Stage, rel store.Release, m Manifest, spec ServiceSpec, cmds []string, env map[string]string, log hookLog) error {
	digest := ""
	for _, f := range m.Functions {
		if f.Service == spec.Name {
			digest = f.Digest
			break
		}
	}
	if digest == "" {
		return fmt.Errorf("%s hooks: the release has no function of this service to run them in", kind)
	}
	if s.cfg.Artifacts == nil || s.cfg.Builder == nil {
		return fmt.Errorf("%s hooks: this Seedbed has no artifact store or builder to run them with; run the deploy on a process with deploys enabled", kind)
	}
	dir, err := s.cfg.Builder.TempDir(fmt.Sprintf("hooks-%s-", spec.Name))
	if err != nil {
		return fmt.Errorf("make a folder for the %s hooks: %w", kind, err)
	}
	defer os.RemoveAll(dir)
	if err := s.cfg.Artifacts.Extract(ctx, digest, dir); err != nil {
		return fmt.Errorf("%s hooks: unpack artifact %s: %w", kind, shortDigest(digest), err)
	}
	if err := s.cfg.Builder.HandOver(app.ID, dir); err != nil {
		return fmt.Errorf("%s hooks: %w", kind, err)
	}
	vars := builders.Vars{App: app.Name, Stage: stage.Name, BuildID: rel.BuildID, Commit: m.Commit, Branch: m.Branch}
	hookEnv := builders.HookEnv(dir)
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		hookEnv = append(hookEnv, k+"="+env[k])
	}
	hookEnv = append(hookEnv, vars.Environ(spec.Name)...)
	log.Printf("Running the %s hooks of service %s", kind, spec.Name)
	for _, c := range cmds {
		if err := s.cfg.Builder.RunHook(ctx, app.ID, dir, hookEnv, kind+" hook", c, log); err != nil {
			return err
		}
	}
	return nil
}

// specOrder sorts specs so that a service comes after those it depends on.
func specOrder(specs []ServiceSpec) []ServiceSpec {
	st := &stack.Stack{}
	byName := map[string]ServiceSpec{}
	for _, sp := range specs {
		byName[sp.Name] = sp
		st.Services = append(st.Services, stack.Service{Name: sp.Name, DependsOn: sp.DependsOn})
	}
	var out []ServiceSpec
	for _, svc := range st.DeployOrder() {
		out = append(out, byName[svc.Name])
	}
	return out
}

// phaseRecorder collects the phases of one build.
type phaseRecorder struct {
	mu     sync.Mutex
	phases []builders.Phase
}

func (r *phaseRecorder) add(p builders.Phase) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.phases = append(r.phases, p)
}

func (r *phaseRecorder) encode() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.phases) == 0 {
		return ""
	}
	b, _ := json.Marshal(r.phases)
	return string(b)
}

// buildStage is the stage a build deploys to first: the stage of the
// oldest unfinished deploy that waits for it, or nil.
func (s *Service) buildStage(ctx context.Context, b store.Build) (*store.Stage, error) {
	ds, err := s.cfg.Store.DeploysOfBuild(ctx, b.ID)
	if err != nil {
		return nil, fmt.Errorf("load the deploys of build #%d: %w", b.ID, err)
	}
	for _, d := range ds {
		if d.Finished() {
			continue
		}
		st, err := s.cfg.Store.StageByID(ctx, d.StageID)
		if err != nil {
			return nil, fmt.Errorf("load the stage of deploy #%d: %w", d.ID, err)
		}
		return &st, nil
	}
	return nil, nil
}
