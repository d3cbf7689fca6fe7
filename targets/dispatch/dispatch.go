// Package dispatch is the target the pipelines talk to when stages may run
// on different targets: it asks, at each Apply, which target the stage's
// settings choose, applies there, and, when the stage moved, removes what
// it ran on the target it left. A promotion between stages on different
// targets needs nothing more: both targets run the same artifacts by digest.
package dispatch

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/seedbed/seedbed/gateway"
	"github.com/seedbed/seedbed/targets"
)

// Placement is a target a stage can run on; the gateway reads its tables.
type Placement interface {
	targets.Target
	gateway.Tables
}

// Resolver returns the target stage's settings choose now, and its name for
// the deploy log ("local", "kubernetes namespace apps"). The name's first
// word is the target's kind, which Drift reports.
type Resolver func(ctx context.Context, ref targets.StageRef) (Placement, string, error)

var (
	_ targets.Target        = (*Target)(nil)
	_ targets.DriftDetector = (*Target)(nil)
	_ gateway.Tables        = (*Target)(nil)
)

// Memory keeps where each stage was last applied beyond this process (in
// the database), so that a stage whose settings moved it while Seedbed was
// restarting is still removed from the target it left.
type Memory interface {
	// Recall returns the target stage ref was last applied on; a nil
	// Placement when none is known.
	Recall(ctx context.Context, ref targets.StageRef) (Placement, string, error)
	// Remember records p as where stage ref runs now; nil once removed.
	Remember(ctx context.Context, ref targets.StageRef, p Placement) error
}

// Target dispatches every call for a stage to the target it runs on. It is
// safe for concurrent use; calls for one stage come one at a time (see
// targets.Target).
type Target struct {
	resolve Resolver
	mem     Memory // nil: only this process's memory

	mu     sync.Mutex
	placed map[targets.StageRef]placed // where each stage was last applied
}

type placed struct {
	t    Placement
	name string
}

// New returns a Target that asks resolve where each stage runs.
func New(resolve Resolver) *Target {
	return &Target{resolve: resolve, placed: map[targets.StageRef]placed{}}
}

// WithMemory makes d remember, through m, where each stage was applied: a
// stage not applied in this process yet is taken to run where m recalls.
func (d *Target) WithMemory(m Memory) *Target {
	d.mem = m
	return d
}

// recall is where stage ref was last applied: in this process, else as
// d's Memory recalls it (errors go to log: they only cost the cleanup).
func (d *Target) recall(ctx context.Context, ref targets.StageRef, log targets.Logger) (placed, bool) {
	d.mu.Lock()
	p, ok := d.placed[ref]
	d.mu.Unlock()
	if ok || d.mem == nil {
		return p, ok
	}
	t, name, err := d.mem.Recall(ctx, ref)
	if err != nil {
		if log != nil {
			log.Printf("could not tell where stage %s was applied before (what it ran there is left): %v", ref.Stage, err)
		}
		return placed{}, false
	}
	if t == nil {
		return placed{}, false
	}
	return placed{t: t, name: name}, true
}

// Apply applies fns on the stage's target; once that succeeded, a stage
// that moved is removed from the target it left (the deploy succeeds even
// if that fails, and the log says so).
func (d *Target) Apply(ctx context.Context, ref targets.StageRef, fns []targets.Function, log targets.Logger) error {
	t, name, err := d.resolve(ctx, ref)
	if err != nil {
		return fmt.Errorf("choose the target of %s: %w", ref, err)
	}
	old, _ := d.recall(ctx, ref, log)
	if err := t.Apply(ctx, ref, fns, log); err != nil {
		return err
	}
	d.mu.Lock()
	d.placed[ref] = placed{t: t, name: name}
	d.mu.Unlock()
	if d.mem != nil {
		if err := d.mem.Remember(ctx, ref, t); err != nil && log != nil {
			log.Printf("could not record that stage %s runs on %s: %v", ref.Stage, name, err)
		}
	}
	if old.t != nil && old.t != t {
		if log != nil {
			log.Printf("stage %s moved from %s to %s: removing it from %s", ref.Stage, old.name, name, old.name)
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if err := old.t.Remove(rctx, ref); err != nil && log != nil {
			log.Printf("could not remove stage %s from %s: %v", ref.Stage, old.name, err)
		}
	}
	return nil
}

// Remove removes the stage from the target it was applied on and from the
// one its settings name, when they differ.
func (d *Target) Remove(ctx context.Context, ref targets.StageRef) error {
	old, ok := d.recall(ctx, ref, nil)
	d.mu.Lock()
	delete(d.placed, ref)
	d.mu.Unlock()
	t, _, err := d.resolve(ctx, ref)
	if err != nil && !ok {
		return fmt.Errorf("choose the target of %s: %w", ref, err)
	}
	if ok {
		if err := old.t.Remove(ctx, ref); err != nil {
			return err
		}
	}
	if t != nil && (!ok || t != old.t) {
		if err := t.Remove(ctx, ref); err != nil {
			return err
		}
	}
	if d.mem != nil {
		return d.mem.Remember(ctx, ref, nil)
	}
	return nil
}

// Running returns what stage serves on the target it was applied on (or,
// before any Apply in this process, the one its settings name).
func (d *Target) Running(ref targets.StageRef) []targets.Function {
	d.mu.Lock()
	p, ok := d.placed[ref]
	d.mu.Unlock()
	if ok {
		return p.t.Running(ref)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t, _, err := d.resolve(ctx, ref)
	if err != nil {
		return nil
	}
	return t.Running(ref)
}

// Table returns the stage's route table on the target it was applied on.
func (d *Target) Table(ref targets.StageRef) *gateway.Table {
	d.mu.Lock()
	p, ok := d.placed[ref]
	d.mu.Unlock()
	if !ok {
		return nil
	}
	return p.t.Table(ref)
}

// Drift is what a drift check of one stage found.
type Drift struct {
	// Target is the kind of target the stage runs on: "local",
	// "kubernetes".
	Target string
	// Checked is false when that target has nothing that can drift
	// (it does not implement targets.DriftDetector: the local target).
	Checked bool
	// Found describes each difference, one sentence each; empty: none.
	Found []string
}

// CheckDrift asks the target stage ref runs on how what runs differs from
// what it applied: the target it was applied on (its release is live
// there, whatever the settings say since), or, before any apply known,
// the one its settings name. The error says which target could not be
// reached or read, and nothing is then known about drift.
func (d *Target) CheckDrift(ctx context.Context, ref targets.StageRef) (Drift, error) {
	p, err := d.driftPlace(ctx, ref)
	if err != nil {
		return Drift{}, err
	}
	out := Drift{Target: kindOf(p)}
	dd, ok := p.t.(targets.DriftDetector)
	if !ok {
		return out, nil
	}
	found, err := dd.Drift(ctx, ref)
	if err != nil {
		return out, fmt.Errorf("check stage %s for drift on %s: %w", ref, p.name, err)
	}
	out.Checked, out.Found = true, found
	return out, nil
}

// Drifts tells, without asking the target anything, the kind of target
// CheckDrift would ask and whether it has anything that can drift: a page
// can then load the check, which may wait on a slow cluster, apart.
func (d *Target) Drifts(ctx context.Context, ref targets.StageRef) (kind string, can bool, err error) {
	p, err := d.driftPlace(ctx, ref)
	if err != nil {
		return "", false, err
	}
	_, can = p.t.(targets.DriftDetector)
	return kindOf(p), can, nil
}

// driftPlace is the target a drift check of ref asks (see CheckDrift).
func (d *Target) driftPlace(ctx context.Context, ref targets.StageRef) (placed, error) {
	if p, ok := d.recall(ctx, ref, nil); ok {
		return p, nil
	}
	t, name, err := d.resolve(ctx, ref)
	if err != nil {
		return placed{}, fmt.Errorf("choose the target of %s: %w", ref, err)
	}
	return placed{t: t, name: name}, nil
}

// kindOf is the first word of a placement's name: "local", "kubernetes".
func kindOf(p placed) string {
	kind, _, _ := strings.Cut(p.name, " ")
	return kind
}

// Drift implements targets.DriftDetector (see CheckDrift); a stage on a
// target with nothing that can drift has none.
func (d *Target) Drift(ctx context.Context, ref targets.StageRef) ([]string, error) {
	r, err := d.CheckDrift(ctx, ref)
	return r.Found, err
}
