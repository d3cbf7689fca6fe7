package pipelines

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/seedbed/seedbed/store"
)

// stampLog records when each line reached the store.
type stampLog struct {
	mu     sync.Mutex
	stored []time.Duration // per line: from Line to AppendLog
	writes int
}

func (s *stampLog) AppendLog(_ context.Context, lines []store.LogLine) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	for _, l := range lines {
		s.stored = append(s.stored, time.Since(l.CreatedAt))
	}
	time.Sleep(5 * time.Millisecond) // a write takes a while
	return nil
}

// A line is stored as it comes, not at the next tick, so a git push that
// follows the log shows a build's output live; lines that arrive during a
// write share the next one.
func TestLogSinkStoresLinesAsTheyCome(t *testing.T) {
	tests := []struct {
		name     string
		lines    int
		gap      time.Duration
		maxDelay time.Duration // the median line's wait for the store
		fewer    bool          // fewer writes than lines
	}{
		{name: "slow output", lines: 10, gap: 30 * time.Millisecond, maxDelay: 40 * time.Millisecond},
		{name: "a burst", lines: 1000, maxDelay: time.Second, fewer: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := &stampLog{}
			sink := newLogSink(mem, store.LogBuild, 1, slog.New(slog.NewTextHandler(io.Discard, nil)), masker{})
			t.Cleanup(sink.Close)
			for range tt.lines {
				sink.Line("stdout", "a line")
				time.Sleep(tt.gap)
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				mem.mu.Lock()
				n := len(mem.stored)
				mem.mu.Unlock()
				if n == tt.lines {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d lines stored after 5 s without Sync", n, tt.lines)
				}
				time.Sleep(time.Millisecond)
			}
			mem.mu.Lock()
			defer mem.mu.Unlock()
			delays := slices.Clone(mem.stored)
			slices.Sort(delays)
			if median := delays[len(delays)/2]; median > tt.maxDelay {
				t.Errorf("the median line waited %s for the store, want at most %s", median, tt.maxDelay)
			}
			if tt.fewer && mem.writes >= tt.lines/10 {
				t.Errorf("%d lines took %d writes: a burst should share writes", tt.lines, mem.writes)
			}
		})
	}
}
