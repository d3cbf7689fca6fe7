package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
	"github.com/seedbed/seedbed/targets/runner"
)

// runnerLogsPath is where seedbed serve's console listener takes the lines
// functions print in pods of the kubernetes target (runner.LogSink).
const runnerLogsPath = "/runner/logs"

// runnerLogsURL is the log endpoint pods are told: on the host they fetch
// artifacts from (--runner-artifacts-url), or else the console's.
func runnerLogsURL(artifactsURL, consoleURL string) string {
	if base, ok := strings.CutSuffix(strings.TrimSuffix(artifactsURL, "/"), runnerArtifactsPath); ok {
		return base + runnerLogsPath
	}
	if u, err := url.Parse(artifactsURL); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		return u.Scheme + "://" + u.Host + runnerLogsPath
	}
	return strings.TrimSuffix(consoleURL, "/") + runnerLogsPath
}

// shipLogs makes the kubernetes stages' pods ship their function logs to
// logsURL with their stage's log token (derived from the sealer, so every
// process of Seedbed checks a token another made), and returns the
// endpoint that stores them in logs.
func (s *stageTargets) shipLogs(sealer *pipelines.Sealer, logsURL string, logs runner.LogAppender, st functionStore, running runningReader) (http.Handler, error) {
	if logs == nil {
		return nil, nil
	}
	tokens, err := runner.NewLogTokens(sealer.DerivedKeys(runner.LogTokenPurpose))
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.logs = func(ref targets.StageRef) (string, string) { return logsURL, tokens.Token(ref) }
	s.mu.Unlock()
	fl := &stageFunctions{store: st, running: running, cache: map[functionKey]cachedRelease{}}
	return &runner.LogSink{Tokens: tokens, Logs: logs, Functions: fl}, nil
}

// withRunnerLogs serves runnerLogsPath with sink beside the console; a
// nil sink (no function logs in this process) leaves h alone.
func withRunnerLogs(h, sink http.Handler) http.Handler {
	if sink == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == runnerLogsPath {
			sink.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// runningReader tells what a stage's target runs now (dispatch.Target).
type runningReader interface {
	Running(ref targets.StageRef) []targets.Function
}

// functionStore is what checking a log batch's function reads.
type functionStore interface {
	stageLookup
	StageDeploys(ctx context.Context, stageID uint, limit int) ([]store.Deploy, error)
	ReleaseByID(ctx context.Context, id uint) (store.Release, error)
}

// stageFunctions implements runner.FunctionLookup: a function a stage runs
// is one its target runs now, or one of the releases of its recent deploys
// (a deploy under way starts pods before the target switches to them).
// Answers are kept a while: pods send a batch every 100 ms or so.
type stageFunctions struct {
	store   functionStore
	running runningReader

	mu    sync.Mutex
	cache map[functionKey]cachedRelease
}

type functionKey struct {
	ref              targets.StageRef
	function, digest string
}

type cachedRelease struct {
	release uint
	known   bool
	until   time.Time
}

// How long an answer is kept: a known function long, an unknown one
// briefly (a deploy that adds it may be starting its pods).
const (
	knownFunctionTTL   = 30 * time.Second
	unknownFunctionTTL = 2 * time.Second
	// recentDeploys is how many of a stage's newest deploys are searched.
	recentDeploys = 5
)

// FunctionRelease implements runner.FunctionLookup.
func (f *stageFunctions) FunctionRelease(ctx context.Context, ref targets.StageRef, function, digest string) (uint, error) {
	key := functionKey{ref, function, digest}
	f.mu.Lock()
	c, ok := f.cache[key]
	f.mu.Unlock()
	if !ok || time.Now().After(c.until) {
		release, known, err := f.lookup(ctx, ref, function, digest)
		if err != nil {
			return 0, err
		}
		c = cachedRelease{release: release, known: known, until: time.Now().Add(knownFunctionTTL)}
		if !known {
			c.until = time.Now().Add(unknownFunctionTTL)
		}
		f.mu.Lock()
		if len(f.cache) > 10_000 { // stale keys of many rollouts: start over
			clear(f.cache)
		}
		f.cache[key] = c
		f.mu.Unlock()
	}
	if !c.known {
		return 0, fmt.Errorf("%w: neither what the stage runs nor its last %d deploys have it", runner.ErrUnknownFunction, recentDeploys)
	}
	return c.release, nil
}

// lookup finds the release of function: the one the target started it
// for, else the newest recent release with the same artifact, else 0 if
// only the name is found.
func (f *stageFunctions) lookup(ctx context.Context, ref targets.StageRef, function, digest string) (uint, bool, error) {
	known := false
	for _, fn := range f.running.Running(ref) {
		if fn.Key() != function {
			continue
		}
		if digest == "" || fn.Digest == digest {
			return fn.Release, true, nil
		}
		known = true
	}
	app, err := f.store.AppByName(ctx, ref.App)
	if errors.Is(err, store.ErrNotFound) {
		return 0, known, nil
	}
	if err != nil {
		return 0, false, err
	}
	st, err := f.store.StageByName(ctx, app.ID, ref.Stage)
	if errors.Is(err, store.ErrNotFound) {
		return 0, known, nil
	}
	if err != nil {
		return 0, false, err
	}
	deploys, err := f.store.StageDeploys(ctx, st.ID, recentDeploys)
	if err != nil {
		return 0, false, err
	}
	seen := map[uint]bool{}
	for _, d := range deploys {
		if d.ReleaseID == nil || seen[*d.ReleaseID] {
			continue
		}
		seen[*d.ReleaseID] = true
		rel, err := f.store.ReleaseByID(ctx, *d.ReleaseID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, false, err
		}
		var m struct {
			Functions []targets.Function `json:"functions"`
		}
		if err := json.Unmarshal([]byte(rel.Manifest), &m); err != nil {
			continue
		}
		for _, fn := range m.Functions {
			if fn.Key() != function {
				continue
			}
			if digest == "" || fn.Digest == digest {
				return rel.ID, true, nil
			}
			known = true
		}
	}
	return 0, known, nil
}
