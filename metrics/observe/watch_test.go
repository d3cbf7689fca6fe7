package observe

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

type observed []Request

func (o *observed) Observe(r Request) { *o = append(*o, r) }

type ctxKey struct{}

// Start hands the upstream a request whose context carries the failure
// note (and still everything of the original context: values, deadline,
// cancellation), and reports status, size, path and the noted failure.
func TestStartReportsWhatTheUpstreamNoted(t *testing.T) {
	tests := []struct {
		name       string
		serve      func(w http.ResponseWriter, r *http.Request)
		wantStatus int
		wantKind   string
		wantBytes  int64
	}{
		{"ok", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) }, 200, "", 5},
		{"5xx with a note", func(w http.ResponseWriter, r *http.Request) {
			NoteFailure(r.Context(), Failure{Kind: KindTimeout, Type: "Timeout", Message: "no answer in 10s"})
			w.WriteHeader(http.StatusGatewayTimeout)
		}, 504, KindTimeout, 0},
		{"nothing written", func(w http.ResponseWriter, r *http.Request) {}, 499, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var obs observed
			parent, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "kept"))
			req := httptest.NewRequest("GET", "/shop/dev/hello", nil).WithContext(parent)
			w, r, finish := Start(&obs, httptest.NewRecorder(), req)
			if r.Context().Value(ctxKey{}) != "kept" {
				t.Error("the upstream's context lost the request's values")
			}
			tt.serve(w, r)
			finish(Served{App: "shop", Stage: "dev", Function: "api/hello", Path: "/hello"})
			cancel()
			select {
			case <-r.Context().Done():
			case <-time.After(time.Second):
				t.Error("cancelling the request did not reach the upstream's context")
			}
			if len(obs) != 1 {
				t.Fatalf("%d observations", len(obs))
			}
			got := obs[0]
			if got.Status != tt.wantStatus || got.Bytes != tt.wantBytes || got.Path != "/hello" || got.Method != "GET" || got.App != "shop" || got.Duration <= 0 {
				t.Errorf("observed %+v", got)
			}
			if kind := ""; got.Failure != nil || tt.wantKind != "" {
				if got.Failure != nil {
					kind = got.Failure.Kind
				}
				if kind != tt.wantKind {
					t.Errorf("failure %+v, want kind %q", got.Failure, tt.wantKind)
				}
			}
		})
	}
}

// Without an observer nothing is wrapped and noting a failure is a no-op.
func TestStartWithoutObserver(t *testing.T) {
	req := httptest.NewRequest("GET", "/x", nil)
	rw := httptest.NewRecorder()
	w, r, finish := Start(nil, rw, req)
	if w != http.ResponseWriter(rw) || r != req {
		t.Error("Start without an observer wrapped the request")
	}
	NoteFailure(r.Context(), Failure{Kind: KindCrash})
	if NotedFailure(r.Context()) != nil {
		t.Error("a failure was noted without an observer")
	}
	finish(Served{})
}
