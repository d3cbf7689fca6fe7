package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/seedbed/seedbed/fnlog"
	"github.com/seedbed/seedbed/targets"
)

// LogBatch is what a runner POSTs to seedbed serve's log endpoint
// (LogSink): lines one instance of one function printed, in order.
type LogBatch struct {
	App      string `json:"app"`
	Stage    string `json:"stage"`
	Function string `json:"function"` // "service/name"
	// Digest is the function's artifact: it tells the release that
	// started the instance apart from the one being deployed.
	Digest   string    `json:"digest,omitempty"`
	Instance string    `json:"instance"` // the pod's name
	Lines    []LogLine `json:"lines"`
}

// LogLine is one line of a LogBatch.
type LogLine struct {
	Time   time.Time `json:"time"`
	Stream string    `json:"stream"`
	Level  string    `json:"level,omitempty"`
	Text   string    `json:"text"`
}

// Limits of the log endpoint.
const (
	// MaxLogBody is the largest batch the endpoint reads; a larger one is
	// refused with 413. The shipper's batches stay well under it.
	MaxLogBody = 1 << 20
	// MaxLogLine is the longest text a line may have; a longer one is
	// refused with 400. The runner cuts lines at 4 KiB already.
	MaxLogLine = fnlog.MaxLineBytes
	// maxInstanceName bounds the instance name (a pod's name is at most
	// 253 characters).
	maxInstanceName = 253
)

// LogAppender stores function log lines; fnlog.Store is one.
type LogAppender interface {
	Append(src fnlog.Source, lines []fnlog.Entry) error
}

// ErrUnknownFunction is returned by a FunctionLookup when the stage runs
// no such function (or there is no such stage).
var ErrUnknownFunction = errors.New("the stage runs no such function")

// FunctionLookup checks a batch's function against what its stage runs.
type FunctionLookup interface {
	// FunctionRelease returns the release an instance of function (with
	// artifact digest, "" when not known) of ref was started for, 0 when
	// it cannot tell; an error wrapping ErrUnknownFunction when ref runs
	// no such function, or another error when it could not look (the
	// runner then sends the batch again later).
	FunctionRelease(ctx context.Context, ref targets.StageRef, function, digest string) (uint, error)
}

// LogSink is seedbed serve's end of log shipping: it takes the lines
// runners POST, checks that the bearer's token grants the stage the batch
// names, and appends them to the stage's function logs.
//
// Responses: 204 when stored; 401 without a token or with one that does
// not grant the stage (a pod of one stage cannot write another's logs);
// 413 for a body over MaxLogBody; 400 for a body that is not a LogBatch,
// a line over MaxLogLine, or a function the stage does not run; 503 when
// the lines could not be checked or stored (the runner retries).
type LogSink struct {
	Tokens *LogTokens
	Logs   LogAppender
	// Functions checks function names; nil takes any well-formed name
	// and records release 0.
	Functions FunctionLookup
	// Now is the clock lines from the future are moved back to; nil is
	// time.Now.
	Now func() time.Time
}

// ServeHTTP implements http.Handler; mount it at the log URL given to pods.
func (s *LogSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "use POST with a JSON log batch", http.StatusMethodNotAllowed)
		return
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="seedbed runner logs"`)
		http.Error(w, "no log token: send the stage's log token (SEEDBED_LOGS_TOKEN) as Authorization: Bearer", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxLogBody))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		http.Error(w, fmt.Sprintf("the log batch is over %d bytes: send smaller batches", MaxLogBody), http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		http.Error(w, "read the log batch: "+err.Error(), http.StatusBadRequest)
		return
	}
	var b LogBatch
	if err := json.Unmarshal(body, &b); err != nil {
		http.Error(w, "the body is not a JSON log batch: "+err.Error(), http.StatusBadRequest)
		return
	}
	if b.App == "" || b.Stage == "" {
		http.Error(w, "the log batch names no app and stage", http.StatusBadRequest)
		return
	}
	ref := targets.StageRef{App: b.App, Stage: b.Stage}
	if s.Tokens == nil || !s.Tokens.Verify(ref, token) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="seedbed runner logs", error="invalid_token"`)
		http.Error(w, fmt.Sprintf("the token does not grant the function logs of stage %s", ref), http.StatusUnauthorized)
		return
	}
	if err := b.check(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var release uint
	if s.Functions != nil {
		release, err = s.Functions.FunctionRelease(r.Context(), ref, b.Function, b.Digest)
		if errors.Is(err, ErrUnknownFunction) {
			http.Error(w, fmt.Sprintf("stage %s runs no function %s: %v", ref, b.Function, err), http.StatusBadRequest)
			return
		}
		if err != nil {
			http.Error(w, fmt.Sprintf("check function %s of stage %s: %v", b.Function, ref, err), http.StatusServiceUnavailable)
			return
		}
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	at := now()
	entries := make([]fnlog.Entry, len(b.Lines))
	for i, l := range b.Lines {
		t := l.Time
		// A pod's clock may run ahead; a line from the future would hold
		// back the times of every later line of the stage.
		if t.IsZero() || t.After(at) {
			t = at
		}
		entries[i] = fnlog.Entry{Time: t, Stream: l.Stream, Level: l.Level, Text: l.Text}
	}
	src := fnlog.Source{App: b.App, Stage: b.Stage, Function: b.Function, Instance: b.Instance, Release: release}
	if err := s.Logs.Append(src, entries); err != nil {
		http.Error(w, "store the lines: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// check says what is malformed in a batch whose stage was granted.
func (b *LogBatch) check() error {
	svc, name, ok := strings.Cut(b.Function, "/")
	if !ok || svc == "" || name == "" || strings.ContainsAny(b.Function, "\t\n\r") {
		return fmt.Errorf("function %q is not service/name", b.Function)
	}
	if b.Instance == "" || len(b.Instance) > maxInstanceName || strings.ContainsAny(b.Instance, "\t\n\r") {
		return fmt.Errorf("instance %q is not a pod name (1 to %d characters, one line)", b.Instance, maxInstanceName)
	}
	for i, l := range b.Lines {
		switch l.Stream {
		case fnlog.StreamStdout, fnlog.StreamStderr, fnlog.StreamRuntime, fnlog.StreamSeedbed:
		default:
			return fmt.Errorf("line %d: stream %q is not stdout, stderr, runtime or seedbed", i, l.Stream)
		}
		switch l.Level {
		case "", fnlog.LevelError, fnlog.LevelWarn, fnlog.LevelInfo, fnlog.LevelDebug:
		default:
			return fmt.Errorf("line %d: level %q is not error, warn, info, debug or empty", i, l.Level)
		}
		if len(l.Text) > MaxLogLine {
			return fmt.Errorf("line %d is %d bytes, over the limit of %d: cut it", i, len(l.Text), MaxLogLine)
		}
	}
	return nil
}
