package targettest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/seedbed/seedbed/targets"
	"github.com/seedbed/seedbed/targets/targettest"
)

func TestTarget(t *testing.T) {
	ctx := context.Background()
	dev := targets.StageRef{App: "shop", Stage: "dev"}
	b := targets.Function{Service: "api", Name: "b"}
	a := targets.Function{Service: "api", Name: "a"}

	tgt := targettest.New()
	if err := tgt.Apply(ctx, dev, []targets.Function{b, a}, nil); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if got := tgt.Running(dev); len(got) != 2 || got[0].Key() != "api/a" {
		t.Errorf("Running = %v, want api/a, api/b", got)
	}

	boom := errors.New("boom")
	tgt.FailApply(boom)
	if err := tgt.Apply(ctx, dev, nil, nil); !errors.Is(err, boom) {
		t.Errorf("Apply = %v, want boom", err)
	}
	if got := tgt.Running(dev); len(got) != 2 {
		t.Errorf("a failed Apply changed what runs: %v", got)
	}
	tgt.FailApply(nil)

	tgt.OnApply(func(_ context.Context, stage targets.StageRef, _ []targets.Function) error {
		if stage.Stage == "prod" {
			return boom
		}
		return nil
	})
	if err := tgt.Apply(ctx, targets.StageRef{App: "shop", Stage: "prod"}, nil, nil); !errors.Is(err, boom) {
		t.Errorf("Apply with a failing hook = %v, want boom", err)
	}
	if applies := tgt.Applies(); len(applies) != 3 || applies[1].Err == nil || applies[0].Functions[1].Key() != "api/b" {
		t.Errorf("Applies = %+v", applies)
	}

	if err := tgt.Remove(ctx, dev); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if got := tgt.Running(dev); got != nil {
		t.Errorf("Running after Remove = %v", got)
	}
	if got := tgt.Removes(); len(got) != 1 || got[0] != dev {
		t.Errorf("Removes = %v", got)
	}
}
