package views

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
}
