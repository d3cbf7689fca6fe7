package dispatch

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/seedbed/seedbed/gateway"
	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/targets"
	"github.com/seedbed/seedbed/targets/targettest"
)

// place is a fake target with a gateway table of what it serves.
type place struct{ *targettest.Target }

func (p place) Table(ref targets.StageRef) *gateway.Table {
	fns := p.Running(ref)
	if len(fns) == 0 {
		return nil
	}
	t, _ := gateway.NewTable(fns)
	return t
}

type lines struct {
	mu sync.Mutex
	l  []string
}

func (l *lines) Printf(f string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.l = append(l.l, fmt.Sprintf(f, a...))
}

func TestStageMovesBetweenTargets(t *testing.T) {
	local, kube := place{targettest.New()}, place{targettest.New()}
	choice := map[targets.StageRef]string{}
	var mu sync.Mutex
	d := New(func(_ context.Context, ref targets.StageRef) (Placement, string, error) {
		mu.Lock()
		defer mu.Unlock()
		if choice[ref] == "kubernetes" {
			return kube, "kubernetes", nil
		}
		return local, "local", nil
	})
	ctx := context.Background()
	prod := targets.StageRef{App: "shop", Stage: "prod"}
	dev := targets.StageRef{App: "shop", Stage: "dev"}
	fns := []targets.Function{{Service: "api", Name: "a", Digest: "sha256:x", Routes: []stack.Route{{Method: "GET", Path: "/a"}}}}

	for _, ref := range []targets.StageRef{dev, prod} {
		if err := d.Apply(ctx, ref, fns, nil); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	choice[prod] = "kubernetes"
	mu.Unlock()
	if got := d.Running(prod); len(got) != 1 {
		t.Fatalf("prod runs %v before its next deploy, want the local release", got)
	}
	// A promotion into prod: the same artifacts, now on kubernetes.
	var log lines
	if err := d.Apply(ctx, prod, fns, &log); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		p    place
		ref  targets.StageRef
		want int
	}{
		{"prod on kubernetes", kube, prod, 1},
		{"prod left local", local, prod, 0},
		{"dev stays local", local, dev, 1},
		{"dev not on kubernetes", kube, dev, 0},
	}
	for _, tc := range cases {
		if got := len(tc.p.Running(tc.ref)); got != tc.want {
			t.Errorf("%s: %d functions, want %d", tc.name, got, tc.want)
		}
	}
	if got := d.Table(prod); got == nil || got.Functions()[0].Digest != "sha256:x" {
		t.Errorf("gateway table of prod: %v", got)
	}
	if !strings.Contains(strings.Join(log.l, "\n"), "stage prod moved from local to kubernetes") {
		t.Errorf("log: %v", log.l)
	}
	if err := d.Remove(ctx, prod); err != nil {
		t.Fatal(err)
	}
	if len(kube.Running(prod)) != 0 || d.Table(prod) != nil {
		t.Error("prod still runs on kubernetes after Remove")
	}
}

// memory is a Memory as the database would keep it: by place name.
type memory struct {
	mu     sync.Mutex
	places map[string]Placement
	where  map[targets.StageRef]string
}

func (m *memory) Recall(_ context.Context, ref targets.StageRef) (Placement, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	name, ok := m.where[ref]
	if !ok {
		return nil, "", nil
	}
	return m.places[name], name, nil
}

func (m *memory) Remember(_ context.Context, ref targets.StageRef, p Placement) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p == nil {
		delete(m.where, ref)
		return nil
	}
	for name, q := range m.places {
		if q == p {
			m.where[ref] = name
			return nil
		}
	}
	return fmt.Errorf("unknown placement")
}

// A stage applied on one target, then moved to another while Seedbed was
// down: the new process's first deploy removes it from the old target,
// which only the Memory remembers.
func TestStageMovedAcrossARestartIsRemovedFromTheOldTarget(t *testing.T) {
	local, kube := place{targettest.New()}, place{targettest.New()}
	mem := &memory{places: map[string]Placement{"local": local, "kubernetes": kube}, where: map[targets.StageRef]string{}}
	ctx := context.Background()
	prod := targets.StageRef{App: "shop", Stage: "prod"}
	fns := []targets.Function{{Service: "api", Name: "a", Digest: "sha256:x", Routes: []stack.Route{{Method: "GET", Path: "/a"}}}}
	on := func(name string) Resolver {
		return func(context.Context, targets.StageRef) (Placement, string, error) { return mem.places[name], name, nil }
	}

	cases := []struct {
		name      string
		mem       Memory
		wantLocal int // functions prod still runs on local after the move
	}{
		{"without a memory the old target is forgotten", nil, 1},
		{"with a memory it is cleaned up", mem, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := local.Remove(ctx, prod); err != nil {
				t.Fatal(err)
			}
			before := New(on("local"))
			if tc.mem != nil {
				before.WithMemory(tc.mem)
			}
			if err := before.Apply(ctx, prod, fns, nil); err != nil {
				t.Fatal(err)
			}
			// Restart: a new dispatcher, and prod's settings now say kubernetes.
			after := New(on("kubernetes"))
			if tc.mem != nil {
				after.WithMemory(tc.mem)
			}
			var log lines
			if err := after.Apply(ctx, prod, fns, &log); err != nil {
				t.Fatal(err)
			}
			if got := len(local.Running(prod)); got != tc.wantLocal {
				t.Errorf("prod runs %d functions on local after moving, want %d (log %v)", got, tc.wantLocal, log.l)
			}
			if len(kube.Running(prod)) != 1 {
				t.Error("prod does not run on kubernetes")
			}
			if tc.mem != nil {
				if !strings.Contains(strings.Join(log.l, "\n"), "stage prod moved from local to kubernetes") {
					t.Errorf("log: %v", log.l)
				}
				if err := after.Remove(ctx, prod); err != nil {
					t.Fatal(err)
				}
				if p, _, _ := mem.Recall(ctx, prod); p != nil || len(kube.Running(prod)) != 0 {
					t.Errorf("after Remove: remembered %v, kubernetes runs %d", p, len(kube.Running(prod)))
				}
			}
		})
	}
}

// drifting is a fake target whose stages drift: it reports found, or err.
type drifting struct {
	place
	found []string
	err   error
}

func (p drifting) Drift(context.Context, targets.StageRef) ([]string, error) { return p.found, p.err }

// Drift is asked of the target the stage's release was applied on, even
// once its settings name another; a target with nothing that can drift
// (local) reports the check as not made, not as failed.
func TestDriftAsksTheTargetTheStageRunsOn(t *testing.T) {
	local := place{targettest.New()}
	kube := &drifting{place: place{targettest.New()}, found: []string{"deployment x of function api/a: replicas is 5, Seedbed set 1"}}
	choice := "kubernetes"
	var mu sync.Mutex
	d := New(func(_ context.Context, ref targets.StageRef) (Placement, string, error) {
		mu.Lock()
		defer mu.Unlock()
		switch choice {
		case "kubernetes":
			return kube, "kubernetes namespace apps", nil
		case "broken":
			return nil, "", fmt.Errorf("no runner image")
		}
		return local, "local", nil
	})
	ctx := context.Background()
	prod := targets.StageRef{App: "shop", Stage: "prod"}
	fns := []targets.Function{{Service: "api", Name: "a", Digest: "sha256:x", Routes: []stack.Route{{Method: "GET", Path: "/a"}}}}

	// Before any apply: the target the settings name.
	r, err := d.CheckDrift(ctx, prod)
	if err != nil || r.Target != "kubernetes" || !r.Checked || len(r.Found) != 1 {
		t.Fatalf("drift before any apply: %+v, %v; want kubernetes's one difference", r, err)
	}
	if err := d.Apply(ctx, prod, fns, nil); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	choice = "local" // takes effect at the next deploy
	mu.Unlock()
	if found, err := d.Drift(ctx, prod); err != nil || len(found) != 1 {
		t.Fatalf("drift after the settings moved, before the next deploy: %v, %v; want kubernetes's", found, err)
	}
	kube.err = fmt.Errorf("dial tcp 10.0.0.1:6443: connection refused")
	if _, err := d.CheckDrift(ctx, prod); err == nil || !strings.Contains(err.Error(), "kubernetes namespace apps") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("an unreachable cluster: %v; want an error naming the target and the cause", err)
	}
	if err := d.Apply(ctx, prod, fns, nil); err != nil {
		t.Fatal(err)
	}
	r, err = d.CheckDrift(ctx, prod)
	if err != nil || r.Target != "local" || r.Checked || len(r.Found) != 0 {
		t.Fatalf("drift on the local target: %+v, %v; want local, not checked", r, err)
	}

	dev := targets.StageRef{App: "shop", Stage: "dev"}
	mu.Lock()
	choice = "broken"
	mu.Unlock()
	if _, err := d.CheckDrift(ctx, dev); err == nil || !strings.Contains(err.Error(), "no runner image") {
		t.Fatalf("a stage whose target cannot be chosen: %v", err)
	}
}
