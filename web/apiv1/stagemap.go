package apiv1

import (
	"context"
	"net/http"
)

// StageMap is a stage drawn from its live release beside what its target
// runs, with the last minutes' health (GET …/stages/{stage}/map; see
// docs/stage-map.md).
type StageMap struct {
	App          string         `json:"app"`
	Stage        string         `json:"stage"`
	Release      uint           `json:"release"`
	RunningKnown bool           `json:"running_known"`
	Metrics      bool           `json:"metrics"`
	Firing       []string       `json:"firing"`
	Nodes        []StageMapNode `json:"nodes"`
	Edges        []StageMapEdge `json:"edges"`
	Missing      int            `json:"missing"`
	CrashLooping int            `json:"crash_looping"`
	NotInRelease int            `json:"not_in_release"`
	OtherBuild   int            `json:"other_build"`
	Short        int            `json:"short"` // functions running fewer instances than their minimum
	Down         int            `json:"down"`
	// WindowSeconds is the span health, rates and restarts cover.
	WindowSeconds int `json:"window_seconds"`
	// Differences says in words where what runs differs from the release.
	Differences []string `json:"differences"`
}

// StageMapNode is one box: an entry point, a route, a function or an
// event. Health is ok, erroring, down, idle or none; Drift is "",
// missing, crash_looping, not_in_release or other_build.
type StageMapNode struct {
	ID     string   `json:"id"`
	Kind   string   `json:"kind"`
	Label  string   `json:"label"`
	Detail []string `json:"detail,omitempty"`
	Health string   `json:"health"`
	Drift  string   `json:"drift,omitempty"`
	URL    string   `json:"url,omitempty"`
	// PerMinute is a function's requests per minute over the window.
	PerMinute float64 `json:"per_minute,omitempty"`
}

// StageMapEdge joins two nodes by id; a route's edge into its function
// carries the function's requests per minute.
type StageMapEdge struct {
	From      string  `json:"from"`
	To        string  `json:"to"`
	Health    string  `json:"health"`
	PerMinute float64 `json:"per_minute"`
	Label     string  `json:"label,omitempty"`
	Event     bool    `json:"event,omitempty"`
}

// StageMap reads a stage's map.
func (c *Client) StageMap(ctx context.Context, app, stage string) (StageMap, error) {
	var out StageMap
	err := c.do(ctx, http.MethodGet, stagePath(app, stage)+"/map", nil, &out)
	return out, err
}
