package pipelines

import (
	"strings"
	"testing"

	"github.com/seedbed/seedbed/stack"
)

func TestRefuseQueueEvents(t *testing.T) {
	const head = "services:\n  jobs:\n    path: .\n    runtime: go\n    functions:\n      f:\n        type: lambda\n"
	tests := []struct {
		name, yaml, wantErr string
	}{
		{"schedules are built", head + "        events: [{schedule: rate(1 minute)}]\n", ""},
		{"queue subscriptions are refused by name", "queues: {orders: {}}\n" + head + "        events: [{queue: orders}]\n", "jobs/f → queue orders"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := stack.Parse([]byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			err = refuseQueueEvents(st)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "does not run queues yet")):
				t.Errorf("error = %v, want one naming %q", err, tc.wantErr)
			}
		})
	}
}
