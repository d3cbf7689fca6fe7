package views

import (
	"context"
	"strings"
	"testing"
)

func TestCachedStatusBadgeIsStatusBadge(t *testing.T) {
	for _, status := range append(badgeStatuses, "unknown", `"><script>`) {
		t.Run(status, func(t *testing.T) {
			var got, want strings.Builder
			if err := cachedStatusBadge(status).Render(context.Background(), &got); err != nil {
				t.Fatal(err)
			}
			if err := StatusBadge(status).Render(context.Background(), &want); err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Errorf("cachedStatusBadge(%q) = %s, want %s", status, got.String(), want.String())
			}
		})
	}
	if len(statusBadges) != len(badgeStatuses) {
		t.Errorf("%d of %d badges rendered ahead", len(statusBadges), len(badgeStatuses))
	}
}
