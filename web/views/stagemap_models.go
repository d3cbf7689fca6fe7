package views

import "time"

// StageMapView is one stage's map as a page shows it: the drawing (made
// by package stagemap, which escapes every name in it) and, in words,
// where what runs differs from the live release.
type StageMapView struct {
	Stage string
	// SVG is the drawing, inline. It is trusted markup: stagemap writes
	// every element itself and escapes every text it puts in.
	SVG string
	// URL is the map's own page; the promotion page links to it.
	URL     string
	Release uint // the live release; 0 when nothing is deployed
	// Differences lists what differs, one sentence each.
	Differences []string
	Down        int // functions down (missing or crash-looping)
	// RunningKnown is false when this server cannot tell what the
	// stage's target runs; Metrics is false when it keeps no metrics.
	RunningKnown bool
	Metrics      bool
	Firing       []string // alert rules firing for the stage
	AlertsURL    string
	Window       string // the span rates and restarts cover, "5 minutes"
}

// StageMapModel is a stage's map page.
type StageMapModel struct {
	Page Page
	Nav  ObserveNav
	Map  StageMapView
	// DriftURL is where the page loads its drift section from (a check
	// on the stage's target, which may be slow); "" when this server
	// cannot check (it runs no stages) or the target has nothing that can
	// drift (local).
	DriftURL string
}

// DriftView is a stage's drift: how the objects of its live release on
// its target differ from what Seedbed applied (changed by hand).
type DriftView struct {
	Target string // kubernetes
	Found  []string
	// Error says why the target could not be checked; drift is then not
	// known, which the page must not show as "none".
	Error     string
	CheckedAt time.Time
}
