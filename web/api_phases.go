package web

import (
	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web/apiv1"
)

// apiPhases is the timed phases of a build, as the API shows them.
func apiPhases(b store.Build) []apiv1.BuildPhase {
	var out []apiv1.BuildPhase
	for _, p := range pipelines.BuildPhases(b) {
		out = append(out, apiv1.BuildPhase{Name: p.Name, Service: p.Service, StartedAt: p.Start, FinishedAt: p.End,
			DurationMS: p.Duration().Milliseconds()})
	}
	return out
}
