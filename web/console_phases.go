package web

import (
	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web/views"
)

// buildPhasesView is the build page's view of b's phases and of which of
// its artifacts were reused.
func buildPhasesView(b store.Build, arts []store.Artifact) views.BuildPhases {
	v := views.BuildPhases{Full: b.FullBuild, Reused: map[string]views.ReusedArtifact{}}
	for _, p := range pipelines.BuildPhases(b) {
		v.Phases = append(v.Phases, views.PhaseRow{Name: p.Name, Service: p.Service, Start: p.Start, Duration: p.Duration()})
	}
	for _, a := range arts {
		if a.ReusedFrom != 0 {
			v.Reused[a.Service+"/"+a.Function] = views.ReusedArtifact{BuildID: a.ReusedFrom, BuildURL: buildURL(a.ReusedFrom), Reason: a.ReuseReason}
		}
	}
	return v
}
