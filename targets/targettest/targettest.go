// Package targettest provides an in-memory targets.Target for the tests of
// packages that deploy: it records every call, serves what it was last
// told to, and can be told to fail or to block.
package targettest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/seedbed/seedbed/targets"
)

var _ targets.Target = (*Target)(nil)

// Apply is one recorded call of Target.Apply.
type Apply struct {
	Stage     targets.StageRef
	Functions []targets.Function // as passed, sorted by Key
	Err       error              // what the call returned
}

// Target is a fake targets.Target. The zero value is not usable; call New.
// It is safe for concurrent use.
type Target struct {
	mu         sync.Mutex
	stages     map[targets.StageRef][]targets.Function
	applies    []Apply
	removes    []targets.StageRef
	failApply  error
	failRemove error
	onApply    func(ctx context.Context, stage targets.StageRef, fns []targets.Function) error
}

// New returns a Target that serves nothing yet.
func New() *Target {
	return &Target{stages: map[targets.StageRef][]targets.Function{}}
}

// Apply records the call and, unless told to fail, makes stage serve fns.
// A failed Apply leaves what the stage serves unchanged, like a real target.
func (t *Target) Apply(ctx context.Context, stage targets.StageRef, fns []targets.Function, log targets.Logger) error {
	sorted := slices.Clone(fns)
	slices.SortFunc(sorted, func(a, b targets.Function) int { return cmp.Compare(a.Key(), b.Key()) })

	t.mu.Lock()
	hook, err := t.onApply, t.failApply
	t.mu.Unlock()
	if err == nil && hook != nil {
		err = hook(ctx, stage, sorted) // outside the lock: a hook may block
	}
	if err == nil {
		err = ctx.Err()
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	t.applies = append(t.applies, Apply{Stage: stage, Functions: sorted, Err: err})
	if err != nil {
		return fmt.Errorf("apply %s: %w", stage, err)
	}
	t.stages[stage] = sorted
	if log != nil {
		log.Printf("switched %s to %d functions", stage.Stage, len(sorted))
	}
	return nil
}

// Remove records the call and, unless told to fail, forgets the stage.
func (t *Target) Remove(ctx context.Context, stage targets.StageRef) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.removes = append(t.removes, stage)
	if t.failRemove != nil {
		return fmt.Errorf("remove %s: %w", stage, t.failRemove)
	}
	delete(t.stages, stage)
	return nil
}

// Running returns what stage serves, sorted by Key.
func (t *Target) Running(stage targets.StageRef) []targets.Function {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.stages[stage])
}

// FailApply makes every later Apply fail with err; nil heals it.
func (t *Target) FailApply(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failApply = err
}

// FailRemove makes every later Remove fail with err; nil heals it.
func (t *Target) FailRemove(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failRemove = err
}

// OnApply installs a hook every later Apply calls before it switches the
// stage: it may block (to test concurrency) or fail (the Apply then fails
// with its error). nil removes the hook.
func (t *Target) OnApply(hook func(ctx context.Context, stage targets.StageRef, fns []targets.Function) error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.onApply = hook
}

// Applies returns the recorded Apply calls, oldest first.
func (t *Target) Applies() []Apply {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.applies)
}

// Removes returns the stages Remove was called for, oldest first.
func (t *Target) Removes() []targets.StageRef {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.removes)
}
