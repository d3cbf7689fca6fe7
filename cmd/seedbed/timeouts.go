package main

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// httpTimeouts bound how long a client may hold a connection of the
// console or the gateway without making progress. No server-wide
// ReadTimeout or WriteTimeout is set: either would cut live log streams
// (SSE) and long git pushes; request bodies get deadlines of their own.
type httpTimeouts struct {
	// Header bounds reading a request's headers (slowloris).
	Header time.Duration
	// Body bounds reading an ordinary request's whole body, from the end
	// of its headers.
	Body time.Duration
	// Stall bounds the wait for each next piece of a long body (a git
	// push, an upload to a function): it may take as long as it keeps
	// moving.
	Stall time.Duration
	// Idle bounds how long a keep-alive connection waits for its next
	// request.
	Idle time.Duration
}

// defaultTimeouts are the timeouts of serve's HTTP servers.
var defaultTimeouts = httpTimeouts{Header: 10 * time.Second, Body: time.Minute, Stall: time.Minute, Idle: 2 * time.Minute}

// newHTTPServer makes the http.Server for the console or the gateway; long
// tells requests whose bodies may take long (and get Stall per read
// rather than Body in all).
func newHTTPServer(h http.Handler, to httpTimeouts, long func(*http.Request) bool) *http.Server {
	return &http.Server{
		Handler:           bodyDeadlines(h, to, long),
		ReadHeaderTimeout: to.Header,
		IdleTimeout:       to.Idle,
		MaxHeaderBytes:    64 << 10,
	}
}

// isGitRequest tells the built-in git remote's requests, whose pushes
// stream large packs.
func isGitRequest(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/git/") }

// always is a long for servers whose every body may take long.
func always(*http.Request) bool { return true }

// bodyDeadlines sets the connection's read deadline while a request's body
// is read and clears it once the body is done, so that the handler's
// answer (a stream, say) has all the time it needs.
func bodyDeadlines(h http.Handler, to httpTimeouts, long func(*http.Request) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			h.ServeHTTP(w, r)
			return
		}
		b := &deadlineBody{ReadCloser: r.Body, rc: http.NewResponseController(w)}
		if long(r) {
			b.stall = to.Stall
		} else {
			_ = b.rc.SetReadDeadline(time.Now().Add(to.Body))
		}
		r.Body = b
		h.ServeHTTP(w, r)
	})
}

// deadlineBody is a request body under a read deadline.
type deadlineBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	stall time.Duration // > 0: the deadline moves with each read
	once  sync.Once
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	if b.stall > 0 {
		_ = b.rc.SetReadDeadline(time.Now().Add(b.stall))
	}
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		// The body is in: the server reads on from the connection only to
		// notice the client going away, which must not time out. A body
		// left unread keeps its deadline, which also bounds the server
		// draining it after the handler.
		b.once.Do(func() { _ = b.rc.SetReadDeadline(time.Time{}) })
	}
	return n, err
}
