package testutil

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// HookRequest is one request a HookReceiver took.
type HookRequest struct {
	Delivery, Event, Signature string
	Body                       []byte
	// Valid says the signature is the HMAC-SHA256 of the body under the
	// receiver's secret, checked as a receiver written for GitHub's
	// X-Hub-Signature-256 checks it.
	Valid bool
	// Answered is the status the receiver answered with.
	Answered int
}

// HookReceiver is an HTTP server that checks the signature of Seedbed's
// webhook notifications (X-Seedbed-Signature-256), answers 500 to the
// first FailFirst requests and 200 (or 401 for a bad signature) after.
type HookReceiver struct {
	URL string
	Got chan HookRequest

	mu        sync.Mutex
	secret    string
	failFirst int
	seen      int
}

// StartHookReceiver starts a receiver for the test; it stops at cleanup.
func StartHookReceiver(t testing.TB, failFirst int) *HookReceiver {
	t.Helper()
	h := &HookReceiver{Got: make(chan HookRequest, 100), failFirst: failFirst}
	srv := httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(srv.Close)
	h.URL = srv.URL
	return h
}

// SetSecret sets the secret signatures are checked with ("" checks none:
// a Slack-compatible receiver).
func (h *HookReceiver) SetSecret(s string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.secret = s
}

func (h *HookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	secret := h.secret
	h.seen++
	fail := h.seen <= h.failFirst
	h.mu.Unlock()
	req := HookRequest{Delivery: r.Header.Get("X-Seedbed-Delivery"), Event: r.Header.Get("X-Seedbed-Event"),
		Signature: r.Header.Get("X-Seedbed-Signature-256"), Body: body}
	if secret != "" {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body)
		req.Valid = hmac.Equal([]byte("sha256="+hex.EncodeToString(m.Sum(nil))), []byte(req.Signature))
	}
	switch {
	case fail:
		req.Answered = http.StatusInternalServerError
	case secret != "" && !req.Valid:
		req.Answered = http.StatusUnauthorized
	default:
		req.Answered = http.StatusOK
	}
	w.WriteHeader(req.Answered)
	h.Got <- req
}

// Next waits up to d for the next request.
func (h *HookReceiver) Next(t testing.TB, d time.Duration) HookRequest {
	t.Helper()
	select {
	case r := <-h.Got:
		return r
	case <-time.After(d):
		t.Fatalf("no request reached the receiver at %s within %s", h.URL, d)
	}
	return HookRequest{}
}
