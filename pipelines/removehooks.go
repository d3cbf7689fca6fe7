package pipelines

import (
	"context"
	"fmt"
	"slices"

	"github.com/seedbed/seedbed/pipelines/target"
	"github.com/seedbed/seedbed/store"
)

// Remove hook kinds.
const (
	hookBeforeRemove = "before_remove"
	hookAfterRemove  = "after_remove"
)

// removal is what a deploy takes away from a stage: the services the stage
// serves now that the new release has no function of, with the release
// they come from. Their remove hooks are those of that release, the one
// the stage serves until the deploy; the new release no longer knows them.
type removal struct {
	release  store.Release
	manifest Manifest
	services []ServiceSpec // in the order they were deployed
}

// plannedRemoval compares the release stage serves with next and returns
// the services next removes that declare remove hooks; nil when there are
// none.
func (s *Service) plannedRemoval(ctx context.Context, stage store.Stage, next Manifest) (*removal, error) {
	if stage.LiveReleaseID == nil {
		return nil, nil
	}
	rel, err := s.cfg.Store.ReleaseByID(ctx, *stage.LiveReleaseID)
	if err != nil {
		return nil, fmt.Errorf("load the release stage %s serves: %w", stage.Name, err)
	}
	old, err := decodeManifest(rel.Manifest)
	if err != nil {
		return nil, err
	}
	return removalOf(rel, old, next), nil
}

// removalOf returns what going from old to next removes, or nil.
func removalOf(rel store.Release, old, next Manifest) *removal {
	kept := map[string]bool{}
	for _, f := range next.Functions {
		kept[f.Service] = true
	}
	r := &removal{release: rel, manifest: old}
	for _, spec := range specOrder(old.Services) {
		if kept[spec.Name] || len(spec.BeforeRemove)+len(spec.AfterRemove) == 0 {
			continue
		}
		if !slices.ContainsFunc(old.Functions, func(f target.Function) bool { return f.Service == spec.Name }) {
			continue
		}
		r.services = append(r.services, spec)
	}
	if len(r.services) == 0 {
		return nil
	}
	return r
}

// runRemoveHooks runs the before_remove or after_remove hooks of the
// services r removes, the way deploy hooks run (see runDeployHooks): in
// the unpacked artifact of the service's first function, with the stage's
// env and secrets. before_remove runs in reverse deploy order, so that a
// service goes before those it depends on; after_remove in deploy order.
func (s *Service) runRemoveHooks(ctx context.Context, kind string, app store.App, stage store.Stage, r *removal, env map[string]string, log *logSink) error {
	if r == nil {
		return nil
	}
	specs := slices.Clone(r.services)
	if kind == hookBeforeRemove {
		slices.Reverse(specs)
	}
	for _, spec := range specs {
		cmds := spec.BeforeRemove
		if kind == hookAfterRemove {
			cmds = spec.AfterRemove
		}
		if len(cmds) == 0 {
			continue
		}
		if err := s.runServiceHooks(ctx, kind, app, stage, r.release, r.manifest, spec, cmds, env, log); err != nil {
			return fmt.Errorf("service %s: %w", spec.Name, err)
		}
	}
	return nil
}
