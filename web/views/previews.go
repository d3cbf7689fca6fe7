package views

import "time"

// PreviewRow is one preview stage (pr-N) on an app's page.
type PreviewRow struct {
	Number     int
	Stage      string
	Title      string
	HeadBranch string
	URL        string // gateway URL; shown only while the preview is open
	Open       bool
	CommitSHA  string // what it serves, if anything
	LastDeploy *DeployRow
	ClosedAt   *time.Time
}
