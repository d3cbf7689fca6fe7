package pipelines_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/netguard"
	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
)

// Polling goes through the same network policy as a build's fetch: a
// repository on loopback is refused unless the operator allows private
// addresses, and a forge API URL on loopback is refused when saved.
func TestPollingAndForgeURLFollowTheNetworkPolicy(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	tests := []struct {
		name    string
		policy  netguard.Policy
		refused bool
	}{
		{name: "default policy", refused: true},
		{name: "private allowed", policy: netguard.Policy{AllowPrivate: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := store.Open(ctx, filepath.Join(t.TempDir(), "seedbed.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			svc := pipelines.New(pipelines.Config{Store: st, Queue: &recordingQueue{}, Network: tt.policy, Sealer: newSealer(t)})
			// The app was saved pointing at a name; it resolves to loopback now.
			app, err := svc.CreateApp(ctx, pipelines.NewApp{Name: "polled", RepoURL: strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/x.git", Branch: "main", NoCheck: true})
			if err != nil {
				t.Fatal(err)
			}
			_, err = svc.NewPoller(0).PollApp(ctx, app)
			if got := err != nil && strings.Contains(err.Error(), "loopback") && strings.Contains(err.Error(), netguard.Setting); got != tt.refused {
				t.Fatalf("poll: err %v; want refused by the policy: %t", err, tt.refused)
			}
			forge, api := "github", srv.URL
			_, err = svc.SaveForgeSettings(ctx, "polled", pipelines.ForgeSettingsUpdate{Forge: &forge, APIURL: &api})
			if got := err != nil && strings.Contains(err.Error(), "loopback"); got != tt.refused {
				t.Fatalf("forge api_url %s: err %v; want refused: %t", api, err, tt.refused)
			}
		})
	}
}
