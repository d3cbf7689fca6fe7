package pipelines

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/seedbed/seedbed/store"
)

// Limits on what one build or deploy may write to its log; past them the
// log says it was cut, so a runaway build cannot fill the database.
const (
	maxLogLines    = 100_000
	maxLogLineSize = 4096
)

// logSink stores a build's or deploy's output line by line, as it comes: a
// line is written as soon as no earlier write is under way, and the lines
// that arrive during a write go together in the next one (at most
// batchSize at a time). Slow output reaches the log, and whoever follows
// it (a waiting git push, the console), at once; a chatty build still costs
// few transactions.
type logSink struct {
	store   logStore
	kind    string
	ownerID uint
	logger  *slog.Logger

	mask masker // secret values never reach the stored log

	flushMu sync.Mutex // one flush at a time, so batches land in order
	mu      sync.Mutex
	buf     []store.LogLine
	written int
	cut     bool
	wake    chan struct{} // a line is waiting to be written
	done    chan struct{}
	stopped chan struct{}
}

type logStore interface {
	AppendLog(ctx context.Context, lines []store.LogLine) error
}

// batchSize is how many waiting lines make a writer wait for the store.
const batchSize = 200

func newLogSink(s logStore, kind string, ownerID uint, logger *slog.Logger, mask masker) *logSink {
	l := &logSink{store: s, kind: kind, ownerID: ownerID, logger: logger, mask: mask,
		wake: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{})}
	go l.loop()
	for _, w := range mask.warnings() {
		l.Line("seedbed", w)
	}
	return l
}

func (l *logSink) loop() {
	defer close(l.stopped)
	for {
		select {
		case <-l.wake:
			l.flush()
		case <-l.done:
			l.flush()
			return
		}
	}
}

// Line records one line of output (builders.Log).
func (l *logSink) Line(stream, text string) {
	// Masked before it is cut, so a secret across the cut is hidden
	// whole. Lines come whole: builders join what a command writes in
	// pieces up to its newline.
	text = l.mask.mask(strings.TrimRight(text, "\r\n"))
	if len(text) > maxLogLineSize {
		cut := maxLogLineSize
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut] + fmt.Sprintf(" … [%d bytes cut]", len(text)-cut)
	}
	l.mu.Lock()
	if l.written+len(l.buf) >= maxLogLines {
		if !l.cut {
			l.cut = true
			l.buf = append(l.buf, store.LogLine{OwnerKind: l.kind, OwnerID: l.ownerID, Stream: "seedbed",
				Text: fmt.Sprintf("The log reached %d lines; later lines are not stored.", maxLogLines), CreatedAt: time.Now().UTC()})
		}
		l.mu.Unlock()
		return
	}
	l.buf = append(l.buf, store.LogLine{OwnerKind: l.kind, OwnerID: l.ownerID, Stream: stream, Text: text, CreatedAt: time.Now().UTC()})
	full := len(l.buf) >= batchSize
	l.mu.Unlock()
	if full {
		l.flush()
		return
	}
	select {
	case l.wake <- struct{}{}:
	default: // a write is due already and takes this line too
	}
}

// Printf records one of Seedbed's own progress lines (target.Logger).
func (l *logSink) Printf(format string, args ...any) {
	for _, line := range strings.Split(fmt.Sprintf(format, args...), "\n") {
		l.Line("seedbed", line)
	}
}

// Sync writes what is buffered now. A run calls it before it stores its
// end: whoever reads the log after seeing the run finished (the CLI's
// --wait, the console) must find every line there.
func (l *logSink) Sync() { l.flush() }

func (l *logSink) flush() {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	lines := l.buf
	l.buf = nil
	l.written += len(lines)
	l.mu.Unlock()
	if len(lines) == 0 {
		return
	}
	// The job's context may already be cancelled; the lines still belong in
	// the log, so write them with a context of their own.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.store.AppendLog(ctx, lines); err != nil {
		l.logger.Error("store log lines", "kind", l.kind, "id", l.ownerID, "lines", len(lines), "err", err)
	}
}

// Close writes what is buffered and stops the sink.
func (l *logSink) Close() {
	select {
	case <-l.done:
	default:
		close(l.done)
	}
	<-l.stopped
}
