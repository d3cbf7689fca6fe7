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

// stageLive writes by hand what a templ component would: the release
// number in decimal, the commit abbreviated and escaped, or "nothing live".
func TestStageLive(t *testing.T) {
	tests := []struct {
		name string
		in   StageBadge
		want string
	}{
		{"nothing live", StageBadge{Name: "dev", Status: "failed"}, `<span class="stage-live stage-none" data-testid="live">nothing live</span>`},
		{"one digit", StageBadge{LiveReleaseID: 7}, `<span class="stage-live" data-testid="live">#7</span>`},
		{"release with zeros", StageBadge{LiveReleaseID: 1050}, `<span class="stage-live" data-testid="live">#1050</span>`},
		{"largest release", StageBadge{LiveReleaseID: ^uint(0)}, `<span class="stage-live" data-testid="live">#18446744073709551615</span>`},
		{"with its commit", StageBadge{LiveReleaseID: 21, LiveCommit: "abcdef0123456789"}, `<span class="stage-live" data-testid="live">#21 <span class="mono">abcdef0</span></span>`},
		{"a commit to escape", StageBadge{LiveReleaseID: 21, LiveCommit: `<b>"x"`}, `<span class="stage-live" data-testid="live">#21 <span class="mono">&lt;b&gt;&#34;x&#34;</span></span>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got strings.Builder
			if err := stageLiveOf(&tt.in).Render(context.Background(), &got); err != nil {
				t.Fatal(err)
			}
			if got.String() != tt.want {
				t.Errorf("stageLive = %s, want %s", got.String(), tt.want)
			}
		})
	}
}
