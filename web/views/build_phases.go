package views

import "time"

// BuildPhases is the part of a build's page about how it was built: its
// timed phases and which artifacts were reused from an earlier build.
type BuildPhases struct {
	// Full says the build was asked to rebuild every service.
	Full   bool
	Phases []PhaseRow
	// Reused holds, by "service/function", why an artifact was reused
	// and from which build; artifacts built by this build are absent.
	Reused map[string]ReusedArtifact
}

// PhaseRow is one timed phase: checkout, or install, hooks, compile and
// package of a service.
type PhaseRow struct {
	Name     string
	Service  string // empty for the checkout
	Start    time.Time
	Duration time.Duration
}

// ReusedArtifact says where a reused artifact came from.
type ReusedArtifact struct {
	BuildID  uint
	BuildURL string
	Reason   string
}

// reusedOf returns the reuse of the artifact of service/function, if any.
func (p BuildPhases) reusedOf(a ArtifactRow) (ReusedArtifact, bool) {
	r, ok := p.Reused[a.Service+"/"+a.Function]
	return r, ok
}
