package views

import (
	"bytes"
	"context"
	"io"

	"github.com/a-h/templ"
)

// badgeStatuses are the statuses whose StatusBadge is rendered once, ahead
// of time: those of builds and deploys, and "" (not deployed).
var badgeStatuses = []string{"", "queued", "running", "succeeded", "failed", "superseded", "awaiting_approval", "rejected", "cancelled"}

// statusBadges maps each of badgeStatuses to StatusBadge's own markup for it.
var statusBadges = func() map[string]templ.Component {
	out := make(map[string]templ.Component, len(badgeStatuses))
	for _, st := range badgeStatuses {
		var b bytes.Buffer
		if err := StatusBadge(st).Render(context.Background(), &b); err != nil {
			continue // cachedStatusBadge renders it each time instead
		}
		html := b.String()
		out[st] = templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
			_, err := io.WriteString(w, html)
			return err
		})
	}
	return out
}()

// cachedStatusBadge is StatusBadge(status), written from statusBadges when
// it has the status. The apps overview shows a badge per stage, 600 for 200
// apps, and rendering each anew costs more than the rest of its row.
func cachedStatusBadge(status string) templ.Component {
	if c, ok := statusBadges[status]; ok {
		return c
	}
	return StatusBadge(status)
}
