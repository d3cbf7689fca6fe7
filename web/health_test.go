package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/pipelines/queue"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web"
	"github.com/seedbed/seedbed/web/auth"
)

// /healthz answers without sign-in with the state of the database and the
// queue, 503 when either does not answer, and nothing else.
func TestHealthz(t *testing.T) {
	tests := []struct {
		name       string
		queue      string // "none", "up" or "down"
		dbDown     bool
		wantStatus int
		want       map[string]string
	}{
		{"both answer", "up", false, http.StatusOK, map[string]string{"database": "ok", "queue": "ok"}},
		{"queue down", "down", false, http.StatusServiceUnavailable, map[string]string{"database": "ok", "queue": "unreachable"}},
		{"database down", "up", true, http.StatusServiceUnavailable, map[string]string{"database": "unreachable", "queue": "ok"}},
		{"both down", "down", true, http.StatusServiceUnavailable, map[string]string{"database": "unreachable", "queue": "unreachable"}},
		{"no queue configured", "none", false, http.StatusOK, map[string]string{"database": "ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			st, err := store.Open(ctx, filepath.Join(t.TempDir(), "seedbed.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			cfg := web.Config{Store: st, Pipelines: pipelines.New(pipelines.Config{Store: st}), Accounts: auth.New(st, 4),
				Assets: fstest.MapFS{}}
			if tt.queue != "none" {
				e, err := queue.StartEmbedded(ctx, queue.EmbeddedOptions{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { e.Close() })
				p, err := queue.NewPinger(e.ConnOpt())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { p.Close() })
				cfg.Queue = p
				if tt.queue == "down" {
					e.Close()
				}
			}
			handler, err := web.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(handler)
			t.Cleanup(srv.Close)
			if tt.dbDown {
				st.Close()
			}

			resp, err := http.Get(srv.URL + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			var got map[string]string
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("body %q is not JSON: %v", body, err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d (%s)", resp.StatusCode, tt.wantStatus, body)
			}
			if len(got) != len(tt.want) {
				t.Errorf("body %s, want %v", body, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q (%s)", k, got[k], v, body)
				}
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want JSON", ct)
			}
		})
	}
}
