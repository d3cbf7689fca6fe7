package views

import (
	"bytes"
	"context"
	"html"
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

// stageLive is what a stage serves, as the apps list shows it beside the
// stage's name: "#21 abc1234", or "nothing live". It is written by hand:
// the list shows it for every stage, 600 for 200 apps, and a templ
// expression costs allocations (fmt.Sprint) where these writes cost none.
type stageLive StageBadge

// stageLiveOf is s's stageLive; s points into the model, so the component
// is not copied.
func stageLiveOf(s *StageBadge) templ.Component { return (*stageLive)(s) }

// Render writes the markup.
func (s *stageLive) Render(_ context.Context, w io.Writer) error {
	if s.LiveReleaseID == 0 {
		_, err := io.WriteString(w, `<span class="stage-live stage-none" data-testid="live">nothing live</span>`)
		return err
	}
	if _, err := io.WriteString(w, `<span class="stage-live" data-testid="live">#`); err != nil {
		return err
	}
	if err := writeUint(w, uint64(s.LiveReleaseID)); err != nil {
		return err
	}
	if s.LiveCommit != "" {
		for _, part := range [...]string{` <span class="mono">`, html.EscapeString(sha7(s.LiveCommit)), `</span>`} {
			if _, err := io.WriteString(w, part); err != nil {
				return err
			}
		}
	}
	_, err := io.WriteString(w, `</span>`)
	return err
}

// writeUint writes n in decimal, digit by digit from a constant, which
// allocates nothing (strconv would, for n of 100 and more).
func writeUint(w io.Writer, n uint64) error {
	const digits = "0123456789"
	div := uint64(1)
	for n/div >= 10 {
		div *= 10
	}
	for ; div > 0; div /= 10 {
		d := n / div % 10
		if _, err := io.WriteString(w, digits[d:d+1]); err != nil {
			return err
		}
	}
	return nil
}
