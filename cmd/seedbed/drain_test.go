package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestDrainHandler(t *testing.T) {
	for _, tc := range []struct {
		name      string
		on        bool
		protoMaj  int
		upgrade   bool
		wantClose bool
	}{
		{"before a handoff", false, 1, false, false},
		{"HTTP/1 after", true, 1, false, true},
		{"HTTP/2 after: GOAWAY's part", true, 2, false, false},
		{"a WebSocket after: its answer says Upgrade", true, 1, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d drain
			d.on.Store(tc.on)
			h := d.handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			r := httptest.NewRequest("GET", "/", nil)
			r.ProtoMajor = tc.protoMaj
			if tc.upgrade {
				r.Header.Set("Connection", "Upgrade")
				r.Header.Set("Upgrade", "websocket")
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if got := w.Header().Get("Connection") == "close"; got != tc.wantClose {
				t.Errorf("Connection: close %v, want %v", got, tc.wantClose)
			}
		})
	}
}
