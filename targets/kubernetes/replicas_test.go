package kubernetes

import (
	"testing"

	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/targets"
)

func TestReplicasOfInstances(t *testing.T) {
	tgt := &Target{cfg: Config{Replicas: 2}}
	tests := []struct {
		name      string
		instances *stack.Instances
		want      int32
	}{
		{"no instances: the stage's replicas", nil, 2},
		{"min runs", &stack.Instances{Min: 3, Max: 5}, 3},
		{"scale to zero runs one pod", &stack.Instances{Min: 0, Max: 4}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tgt.replicasOf(targets.Function{Instances: tt.instances}); got != tt.want {
				t.Errorf("replicasOf = %d; want %d", got, tt.want)
			}
		})
	}
}
