package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/seedbed/seedbed/fnlog"
)

// Log shipping defaults (LogShipperConfig's zero values).
const (
	DefaultLogFlushEvery  = 100 * time.Millisecond
	DefaultLogBatchBytes  = 256 << 10
	DefaultLogBufferBytes = 8 << 20
	DefaultLogBackoffMin  = 100 * time.Millisecond
	DefaultLogBackoffMax  = 5 * time.Second
)

// lineOverhead is what a line costs in a batch besides its text (its
// JSON keys, time and stream), for the size limits.
const lineOverhead = 80

// LogShipperConfig configures a LogShipper.
type LogShipperConfig struct {
	// URL is seedbed serve's log endpoint (LogSink), e.g.
	// http://seedbed.seedbed.svc:8080/runner/logs; required.
	URL string
	// Token is the stage's log token (LogTokens), sent as bearer token.
	Token string
	// Instance names the lines' instance: the pod's name.
	Instance string
	// Digest is the artifact of the function the runner runs; Seedbed
	// reads the release from it.
	Digest string
	// Client sends the batches; nil is a client with a 10 s timeout.
	Client *http.Client
	// FlushEvery is the longest a line waits before it is sent;
	// BatchBytes sends a batch sooner once that much waits (and bounds a
	// batch). Zero values are the defaults above.
	FlushEvery time.Duration
	BatchBytes int
	// BufferBytes bounds the lines kept while Seedbed cannot be reached:
	// beyond it the oldest are dropped, and the next batch starts with a
	// note saying how many. Zero is DefaultLogBufferBytes.
	BufferBytes int
	// BackoffMin and BackoffMax bound the wait between attempts to send a
	// batch Seedbed did not take; it doubles from one to the other.
	BackoffMin, BackoffMax time.Duration
	// Mask lists values to hide in every line ("••••••"), beside what the
	// local target masked already: the runner's own tokens, which a
	// function that reads its runner's environment could print.
	Mask []string
	// Logger hears of batches Seedbed refused or could not take.
	Logger *slog.Logger
}

// LogShipper is the runner's function log (a local.LogWriter): it keeps
// the lines the function prints in a bounded buffer and POSTs them in
// batches to seedbed serve, retrying with backoff while Seedbed cannot be
// reached. Append never blocks on the network. Close sends what is left.
type LogShipper struct {
	cfg  LogShipperConfig
	mask *strings.Replacer
	log  *slog.Logger

	mu           sync.Mutex
	pending      []shipLine // oldest first; the batch in flight is not here
	pendingBytes int
	dropped      int // lines dropped since the last batch was taken
	closing      bool
	stats        LogShipperStats
	lastWarn     time.Time

	wake    chan struct{} // a line arrived, or Close was called
	abort   context.CancelFunc
	ctx     context.Context // ends when Close gives up
	done    chan struct{}
	closeMu sync.Mutex
}

// LogShipperStats counts lines by what became of them.
type LogShipperStats struct {
	Sent    int // taken by Seedbed
	Dropped int // dropped from a full buffer
	Refused int // in batches Seedbed refused (4xx), which are not sent again
}

type shipLine struct {
	src   fnlog.Source
	entry fnlog.Entry
	size  int
	added time.Time
}

// NewLogShipper starts a LogShipper; Close it to send what is left.
func NewLogShipper(cfg LogShipperConfig) (*LogShipper, error) {
	if cfg.URL == "" {
		return nil, errors.New("log shipper: no URL of seedbed serve's log endpoint")
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = DefaultLogFlushEvery
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = DefaultLogBatchBytes
	}
	// A batch, with its JSON escaping, must stay under the endpoint's limit.
	cfg.BatchBytes = min(cfg.BatchBytes, MaxLogBody/3)
	if cfg.BufferBytes <= 0 {
		cfg.BufferBytes = DefaultLogBufferBytes
	}
	cfg.BufferBytes = max(cfg.BufferBytes, cfg.BatchBytes)
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = DefaultLogBackoffMin
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = max(DefaultLogBackoffMax, cfg.BackoffMin)
	}
	s := &LogShipper{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1), done: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	var pairs []string
	for _, v := range cfg.Mask {
		if len(v) >= 4 {
			pairs = append(pairs, v, "••••••")
		}
	}
	if len(pairs) > 0 {
		s.mask = strings.NewReplacer(pairs...)
	}
	s.ctx, s.abort = context.WithCancel(context.Background())
	go s.loop()
	return s, nil
}

// Append implements local.LogWriter: it masks the lines and queues them,
// dropping the oldest queued lines when the buffer is full. It fails only
// after Close.
func (s *LogShipper) Append(src fnlog.Source, entries []fnlog.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return errors.New("log shipper is closed")
	}
	for _, e := range entries {
		if s.mask != nil {
			e.Text = s.mask.Replace(e.Text)
		}
		if len(e.Text) > MaxLogLine {
			e.Text = e.Text[:MaxLogLine-len(" … [cut]")]
			e.Text = strings.ToValidUTF8(e.Text, "") + " … [cut]"
		}
		l := shipLine{src: src, entry: e, size: len(e.Text) + lineOverhead, added: now}
		s.pending = append(s.pending, l)
		s.pendingBytes += l.size
	}
	for s.pendingBytes > s.cfg.BufferBytes && len(s.pending) > 0 {
		s.pendingBytes -= s.pending[0].size
		s.pending[0] = shipLine{}
		s.pending = s.pending[1:]
		s.dropped++
		s.stats.Dropped++
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// Stats counts the lines sent, dropped and refused so far.
func (s *LogShipper) Stats() LogShipperStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Close sends the lines queued so far, trying until ctx ends, and stops.
// It returns an error saying how many lines were not sent if ctx ended
// first.
func (s *LogShipper) Close(ctx context.Context) error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
	}
	s.abort()
	<-s.done
	s.mu.Lock()
	left := len(s.pending)
	s.mu.Unlock()
	return fmt.Errorf("log shipper: %d lines not sent to %s: %w", left, s.cfg.URL, ctx.Err())
}

// loop sends batches until Close, retrying one batch until Seedbed takes
// or refuses it before it takes the next, so lines arrive in order.
func (s *LogShipper) loop() {
	defer close(s.done)
	backoff := s.cfg.BackoffMin
	var batch *LogBatch
	for {
		if batch == nil {
			if batch = s.next(); batch == nil {
				return
			}
		}
		err := s.send(batch)
		var refused *refusedError
		switch {
		case err == nil:
			s.count(func(st *LogShipperStats) { st.Sent += len(batch.Lines) })
			batch, backoff = nil, s.cfg.BackoffMin
			continue
		case errors.As(err, &refused):
			s.count(func(st *LogShipperStats) { st.Refused += len(batch.Lines) })
			s.warn("Seedbed refused function log lines; they are dropped", "lines", len(batch.Lines), "err", err)
			batch, backoff = nil, s.cfg.BackoffMin
			continue
		}
		s.warn("Seedbed did not take function log lines; trying again", "lines", len(batch.Lines), "in", backoff, "err", err)
		select {
		case <-time.After(backoff):
		case <-s.ctx.Done():
			s.putBack(batch)
			return
		}
		backoff = min(2*backoff, s.cfg.BackoffMax)
	}
}

func (s *LogShipper) count(f func(*LogShipperStats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

// warn logs at most one warning every 30 s: a Seedbed that is down for
// long would otherwise fill the pod's log.
func (s *LogShipper) warn(msg string, args ...any) {
	s.mu.Lock()
	quiet := time.Since(s.lastWarn) < 30*time.Second
	if !quiet {
		s.lastWarn = time.Now()
	}
	s.mu.Unlock()
	if !quiet {
		s.log.Warn(msg, args...)
	}
}

// next waits for a batch to send: once the oldest queued line has waited
// FlushEvery, BatchBytes wait, or Close was called. It returns nil when
// closing with nothing left, or when Close gave up.
func (s *LogShipper) next() *LogBatch {
	for {
		s.mu.Lock()
		var wait time.Duration
		if len(s.pending) > 0 {
			wait = s.cfg.FlushEvery - time.Since(s.pending[0].added)
			if wait <= 0 || s.pendingBytes >= s.cfg.BatchBytes || s.closing {
				b := s.take()
				s.mu.Unlock()
				return b
			}
		} else if s.closing {
			s.mu.Unlock()
			return nil
		}
		s.mu.Unlock()
		var timer <-chan time.Time
		if wait > 0 {
			timer = time.After(wait)
		}
		select {
		case <-s.wake:
		case <-timer:
		case <-s.ctx.Done():
			return nil
		}
	}
}

// take moves the oldest lines of one source, up to BatchBytes, out of the
// queue into a batch; s.mu is held. A note on lines dropped since the
// last batch goes first.
func (s *LogShipper) take() *LogBatch {
	first := s.pending[0]
	b := &LogBatch{App: first.src.App, Stage: first.src.Stage, Function: first.src.Function, Digest: s.cfg.Digest, Instance: s.cfg.Instance}
	if b.Instance == "" {
		b.Instance = first.src.Instance
	}
	if s.dropped > 0 {
		b.Lines = append(b.Lines, LogLine{Time: first.entry.Time, Stream: fnlog.StreamSeedbed, Level: fnlog.LevelWarn,
			Text: fmt.Sprintf("%d earlier lines were dropped: Seedbed could not be reached and the runner keeps at most %d KiB of lines", s.dropped, s.cfg.BufferBytes>>10)})
		s.dropped = 0
	}
	size, n := 0, 0
	for _, l := range s.pending {
		if n > 0 && (size+l.size > s.cfg.BatchBytes || l.src.App != first.src.App || l.src.Stage != first.src.Stage || l.src.Function != first.src.Function) {
			break
		}
		b.Lines = append(b.Lines, LogLine{Time: l.entry.Time, Stream: l.entry.Stream, Level: l.entry.Level, Text: l.entry.Text})
		size += l.size
		n++
	}
	clear(s.pending[:n])
	s.pending = s.pending[n:]
	s.pendingBytes -= size
	return b
}

// putBack returns an unsent batch's lines to the front of the queue, so
// that Close can count them.
func (s *LogShipper) putBack(b *LogBatch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	back := make([]shipLine, 0, len(b.Lines)+len(s.pending))
	for _, l := range b.Lines {
		back = append(back, shipLine{src: fnlog.Source{App: b.App, Stage: b.Stage, Function: b.Function}, entry: fnlog.Entry{Time: l.Time, Stream: l.Stream, Level: l.Level, Text: l.Text}})
	}
	s.pending = append(back, s.pending...)
}

// refusedError is Seedbed's answer to a batch it will never take (4xx):
// sending it again would not help.
type refusedError struct {
	status string
	msg    string
}

func (e *refusedError) Error() string { return e.status + ": " + e.msg }

// send POSTs one batch.
func (s *LogShipper) send(b *LogBatch) error {
	body, err := json.Marshal(b)
	if err != nil {
		return &refusedError{status: "encode", msg: err.Error()}
	}
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return &refusedError{status: "request", msg: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.cfg.Token)
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 &&
		resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests:
		return &refusedError{status: resp.Status, msg: strings.TrimSpace(string(msg))}
	}
	return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg)))
}
