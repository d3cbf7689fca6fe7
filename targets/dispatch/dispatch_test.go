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
