package pipelines

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
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
		if !slices.ContainsFunc(old.Functions, func(f targets.Function) bool { return f.Service == spec.Name }) {
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
func (s *Service) runRemoveHooks(ctx context.Context, kind string, app store.App, stage store.Stage, r *removal, env map[string]string, log hookLog) error {
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

// hookLog is where deploy and remove hooks write: a deploy's log, or the
// output kept while a stage is taken down (see stageLog).
type hookLog interface {
	Printf(format string, args ...any)
	Line(stream, text string)
}

// RemoveOptions says how a stage is taken down.
type RemoveOptions struct {
	// SkipHooks takes the stage down without running the before_remove
	// and after_remove hooks of its live release: the way out when a
	// hook keeps failing.
	SkipHooks bool
}

// stageLog keeps the output of the remove hooks run while a stage is
// deleted or a preview closed, which have no log of their own: the last
// lines go into the error when a hook fails, and every line to Seedbed's
// own log. Secret values are masked.
type stageLog struct {
	logger *slog.Logger
	mask   masker
	lines  []string
}

const stageLogKeep = 30

func (l *stageLog) Line(stream, text string) {
	text = l.mask.mask(text)
	l.logger.Info(text, "stream", stream)
	l.lines = append(l.lines, text)
	if len(l.lines) > stageLogKeep {
		l.lines = l.lines[len(l.lines)-stageLogKeep:]
	}
}

func (l *stageLog) Printf(format string, args ...any) {
	for _, line := range strings.Split(fmt.Sprintf(format, args...), "\n") {
		l.Line("seedbed", line)
	}
}

// takeDown stops every function of a stage, running the remove hooks of
// the services of its live release around it: before_remove in reverse
// deploy order, then the functions stop, then after_remove. A failing
// before_remove hook leaves the stage serving; a failing after_remove
// hook is reported after the functions are gone. what ("delete", "close")
// names the action in errors. The caller holds whatever keeps deploys
// away from the stage.
func (s *Service) takeDown(ctx context.Context, what string, app store.App, st store.Stage, opt RemoveOptions) error {
	ref := targets.StageRef{App: app.Name, Stage: st.Name}
	var (
		r   *removal
		env map[string]string
		log = &stageLog{logger: s.log.With("app", app.Name, "stage", st.Name, "action", what)}
	)
	if !opt.SkipHooks && st.LiveReleaseID != nil {
		rel, err := s.cfg.Store.ReleaseByID(ctx, *st.LiveReleaseID)
		if err != nil {
			return fmt.Errorf("%s %s/%s: load its live release: %w", what, app.Name, st.Name, err)
		}
		m, err := decodeManifest(rel.Manifest)
		if err != nil {
			return fmt.Errorf("%s %s/%s: %w", what, app.Name, st.Name, err)
		}
		r = removalOf(rel, m, Manifest{})
		if r != nil {
			var secrets masker
			if env, secrets, err = s.stageEnv(ctx, st); err != nil {
				return fmt.Errorf("%s %s/%s: %w", what, app.Name, st.Name, err)
			}
			log.mask = secrets
		}
	}
	hookFailed := func(kind string, err error) error {
		return invalidf("Could not %s %s/%s: its %s hook failed: %s\nLast output:\n%s\nFix the hook and try again, or %s it without running remove hooks (API force=true, CLI --force).",
			what, app.Name, st.Name, kind, log.mask.mask(err.Error()), strings.Join(log.lines, "\n"), what)
	}
	if err := s.runRemoveHooks(ctx, hookBeforeRemove, app, st, r, env, log); err != nil {
		return hookFailed(hookBeforeRemove, err)
	}
	if s.cfg.Target != nil {
		if err := s.cfg.Target.Remove(ctx, ref); err != nil {
			return fmt.Errorf("stop the functions of %s: %w", ref, err)
		}
	}
	if err := s.runRemoveHooks(ctx, hookAfterRemove, app, st, r, env, log); err != nil {
		return &afterRemoveError{msg: fmt.Sprintf("The functions of %s/%s are stopped, but its %s hook failed: %s\nLast output:\n%s",
			app.Name, st.Name, hookAfterRemove, log.mask.mask(err.Error()), strings.Join(log.lines, "\n"))}
	}
	return nil
}

// afterRemoveError is an after_remove hook's failure: the stage's
// functions are already gone, so the caller finishes what it was doing
// and reports this after.
type afterRemoveError struct{ msg string }

func (e *afterRemoveError) Error() string { return e.msg }

// finishedDespite returns the error a delete or close reports after it
// went through: nil, or an after_remove hook's failure, said as such.
func finishedDespite(err error, done string) error {
	var after *afterRemoveError
	if errors.As(err, &after) {
		return invalidf("%s %s", done, after.msg)
	}
	return err
}
