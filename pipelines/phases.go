package pipelines

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
)

// deployPhase is one step of a deploy: services that depend on nothing the
// step has not already put live, applied together.
type deployPhase struct {
	services []string // sorted
}

func (p deployPhase) String() string { return strings.Join(p.services, ", ") }

// phasesOf groups the services of m into deploy phases: a service goes in
// the phase after the last of the services it depends on (dependencies the
// release does not contain are ignored, as the stack parser already said),
// so that nothing starts before what it needs is live. A release without
// dependencies has one phase; so has one without functions.
func phasesOf(m Manifest) []deployPhase {
	deps := map[string][]string{}
	for _, sp := range m.Services {
		deps[sp.Name] = sp.DependsOn
	}
	inRelease := map[string]bool{}
	for _, f := range m.Functions {
		inRelease[f.Service] = true
	}
	level := map[string]int{}
	var levelOf func(name string, seen map[string]bool) int
	levelOf = func(name string, seen map[string]bool) int {
		if l, ok := level[name]; ok {
			return l
		}
		if seen[name] { // a cycle cannot come from Parse; do not loop on one
			return 0
		}
		seen[name] = true
		l := 0
		for _, d := range deps[name] {
			if inRelease[d] {
				l = max(l, levelOf(d, seen)+1)
			}
		}
		level[name] = l
		return l
	}
	var phases []deployPhase
	for name := range inRelease {
		l := levelOf(name, map[string]bool{})
		for len(phases) <= l {
			phases = append(phases, deployPhase{})
		}
		phases[l].services = append(phases[l].services, name)
	}
	// A level can only be empty if a dependency outside the release was
	// skipped; drop such gaps.
	phases = slices.DeleteFunc(phases, func(p deployPhase) bool { return len(p.services) == 0 })
	for i := range phases {
		slices.Sort(phases[i].services)
	}
	if len(phases) == 0 { // a release without functions still gets applied
		phases = []deployPhase{{}}
	}
	return phases
}

// phaseFunctions returns what the stage serves once phases up to and
// including upTo are applied: the new functions of those services, and
// what runs now for every other service, new functions of later phases
// not yet started and removed services still served. The last phase
// serves exactly next.
func phaseFunctions(phases []deployPhase, upTo int, next, running []targets.Function) []targets.Function {
	if upTo == len(phases)-1 {
		return next
	}
	done := map[string]bool{}
	for _, p := range phases[:upTo+1] {
		for _, svc := range p.services {
			done[svc] = true
		}
	}
	var out []targets.Function
	for _, f := range next {
		if done[f.Service] {
			out = append(out, f)
		}
	}
	for _, f := range running {
		if !done[f.Service] {
			out = append(out, f)
		}
	}
	return out
}

// applyInPhases applies the release phase by phase: each phase's
// before_deploy hooks, the target switch that puts its services live, then
// its after_deploy hooks, except the last phase's, which the caller runs
// once the stage is recorded live; a phase starts only after the one before
// it succeeded. If a phase fails after an earlier one went live, the target
// is put back to what it served before the deploy, so the stage keeps
// serving its previous release as a whole rather than half of each. A
// release without dependencies is one phase, applied in one step.
func (s *Service) applyInPhases(ctx context.Context, app store.App, stage store.Stage, rel store.Release, m Manifest, phases []deployPhase, next []targets.Function, env map[string]string, log *logSink) error {
	ref := targets.StageRef{App: app.Name, Stage: stage.Name}
	many := len(phases) > 1
	var before []targets.Function
	if many {
		before = s.cfg.Target.Running(ref)
		names := make([]string, len(phases))
		for i, p := range phases {
			names[i] = fmt.Sprintf("%d. %s", i+1, p)
		}
		log.Printf("Deploying in %d phases, each after the one before it succeeded: %s", len(phases), strings.Join(names, "; "))
	}

	wentLive := false
	fail := func(i int, cause error) error {
		if many {
			cause = fmt.Errorf("phase %d (%s): %w", i+1, phases[i], cause)
		}
		if !wentLive {
			return fmt.Errorf("stage %s keeps serving its previous release: %s", stage.Name, log.mask.mask(cause.Error()))
		}
		log.Printf("Putting back what stage %s served before this deploy.", stage.Name)
		if err := s.cfg.Target.Apply(context.WithoutCancel(ctx), ref, before, log); err != nil {
			return fmt.Errorf("stage %s serves part of release #%d: %s; putting back its previous functions failed too: %s; deploy again or roll back",
				stage.Name, rel.ID, log.mask.mask(cause.Error()), log.mask.mask(err.Error()))
		}
		return fmt.Errorf("stage %s keeps serving its previous release (put back after a later phase failed): %s", stage.Name, log.mask.mask(cause.Error()))
	}

	for i, p := range phases {
		last := i == len(phases)-1
		if many {
			log.Printf("Phase %d of %d: %s", i+1, len(phases), p)
		}
		in := manifestOf(m, p.services)
		if err := s.runDeployHooks(ctx, hookBeforeDeploy, app, stage, rel, in, env, log); err != nil {
			return fail(i, err)
		}
		if err := s.cfg.Target.Apply(ctx, ref, phaseFunctions(phases, i, next, before), log); err != nil {
			return fail(i, err)
		}
		wentLive = true
		if last {
			return nil
		}
		if err := s.runDeployHooks(ctx, hookAfterDeploy, app, stage, rel, in, env, log); err != nil {
			return fail(i, err)
		}
		log.Printf("Phase %d of %d is live.", i+1, len(phases))
	}
	return nil
}

// manifestOf returns m restricted to the given services: their functions
// and specs, so that hooks run for those services only.
func manifestOf(m Manifest, services []string) Manifest {
	out := m
	out.Functions = nil
	out.Services = nil
	for _, f := range m.Functions {
		if slices.Contains(services, f.Service) {
			out.Functions = append(out.Functions, f)
		}
	}
	for _, sp := range m.Services {
		if slices.Contains(services, sp.Name) {
			out.Services = append(out.Services, sp)
		}
	}
	return out
}
