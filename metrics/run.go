package metrics

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/seedbed/seedbed/store"
)

// usageEvery is how often the instances are sampled for the gauges.
const usageEvery = 10 * time.Second

// pruneEvery is how often retention removes old observations.
const pruneEvery = time.Hour

// Run writes what the collector gathers until ctx ends: request log
// entries and error groups every LogFlush, a rollup of every function at
// each minute's end, and removes what retention no longer keeps. When ctx
// ends it writes what is pending (the current minute too) and returns.
func (c *Collector) Run(ctx context.Context) {
	flush := time.NewTicker(c.cfg.LogFlush)
	defer flush.Stop()
	usage := time.NewTicker(usageEvery)
	defer usage.Stop()
	prune := time.NewTimer(time.Minute) // not at once: start-up is busy enough
	defer prune.Stop()
	c.sampleUsage()
	minute := time.NewTimer(c.untilNextMinute())
	defer minute.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			c.Flush(final)
			cancel()
			return
		case <-flush.C:
			c.writeLogs(ctx, false)
			c.writeErrors(ctx)
		case <-usage.C:
			c.sampleUsage()
		case <-minute.C:
			// The minute that just ended: a request counted a few
			// milliseconds late lands in it, one counted early in the next.
			c.rollup(ctx, c.cfg.Now().Add(-time.Second).Truncate(time.Minute))
			minute.Reset(c.untilNextMinute())
		case <-prune.C:
			c.prune(ctx)
			prune.Reset(pruneEvery)
		}
	}
}

func (c *Collector) untilNextMinute() time.Duration {
	now := c.cfg.Now()
	return now.Truncate(time.Minute).Add(time.Minute).Sub(now) + 50*time.Millisecond
}

// Flush writes everything gathered so far: request log entries, error
// groups and the counts since the last rollup, as the current minute.
// Run calls it when it stops; tests call it to read what they sent.
func (c *Collector) Flush(ctx context.Context) {
	c.sampleUsage()
	c.writeLogs(ctx, true)
	c.writeErrors(ctx)
	c.rollup(ctx, c.cfg.Now().Truncate(time.Minute))
}

// writeLogs writes the request log entries waiting in the buffer, in
// batches; all says to drain it, else at most a few batches per call so
// a flood cannot keep the loop from rolling up.
func (c *Collector) writeLogs(ctx context.Context, all bool) {
	if c.logs == nil {
		return
	}
	const batch = 1000
	for round := 0; all || round < 8; round++ {
		rows := make([]store.RequestLog, 0, min(len(c.logs), batch))
	fill:
		for len(rows) < batch {
			select {
			case r := <-c.logs:
				rows = append(rows, r)
			default:
				break fill
			}
		}
		if len(rows) == 0 {
			return
		}
		if err := c.cfg.Store.AddRequestLogs(ctx, rows); err != nil {
			c.writeFailed("write the request log", err, len(rows))
			return
		}
		if len(rows) < batch {
			return
		}
	}
}

// writeErrors folds the failures gathered since the last call into their
// groups. On a failed write they are kept for the next try.
func (c *Collector) writeErrors(ctx context.Context) {
	c.failMu.Lock()
	if len(c.fails) == 0 {
		c.failMu.Unlock()
		return
	}
	pending := c.fails
	c.fails = map[string]*store.ErrorOccurrence{}
	c.failMu.Unlock()
	occs := make([]store.ErrorOccurrence, 0, len(pending))
	for _, o := range pending {
		occs = append(occs, *o)
	}
	if err := c.cfg.Store.RecordErrors(ctx, occs); err != nil {
		c.writeFailed("record error groups", err, len(occs))
		c.failMu.Lock()
		for k, o := range pending {
			if cur := c.fails[k]; cur != nil {
				cur.Count += o.Count
				cur.First = o.First
			} else {
				c.fails[k] = o
			}
		}
		c.failMu.Unlock()
	}
}

// rollup writes each function's counts since the last rollup as minute's
// row. On a failed write the counts stay pending and go with the next
// minute.
func (c *Collector) rollup(ctx context.Context, minute time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var rows []store.MetricMinute
	var taken []*series
	var snaps []snapshot
	for _, s := range c.series {
		now := s.snapshot()
		d := now.minus(s.flushed)
		inflight := s.inFlightMax.Load()
		memory := s.memoryMax.Load()
		instances := s.instancesMax.Load()
		if d.requests == 0 && d.restarts == 0 && inflight == 0 && memory == 0 && instances == 0 {
			continue
		}
		rows = append(rows, store.MetricMinute{Minute: minute.UTC(), App: s.key.app, Stage: s.key.stage, Function: s.key.function,
			Requests: d.requests, Errors: d.errors, ColdStarts: d.coldStarts, Restarts: d.restarts,
			DurationSum: time.Duration(d.sum).Seconds(), Buckets: d.buckets.String(), InFlightMax: inflight, MemoryBytes: memory, InstancesMax: instances})
		taken = append(taken, s)
		snaps = append(snaps, now)
	}
	if len(rows) == 0 {
		return
	}
	if err := c.cfg.Store.AddMetricMinutes(ctx, rows); err != nil {
		c.writeFailed("write metric rollups", err, len(rows))
		return
	}
	for i, s := range taken {
		s.flushed = snaps[i]
		// The gauges' maxima start again from their current values.
		s.inFlightMax.Store(s.inFlight.Load())
		s.memoryMax.Store(s.memory.Load())
		s.instancesMax.Store(s.instances.Load())
	}
}

// sampleUsage reads the instances' in-flight requests and memory.
func (c *Collector) sampleUsage() {
	if c.cfg.Instances == nil {
		return
	}
	usage := c.cfg.Instances.InstanceUsage()
	type sum struct{ inflight, memory, instances int64 }
	sums := map[seriesKey]sum{}
	for _, u := range usage {
		k := seriesKey{u.App, u.Stage, u.Function}
		s := sums[k]
		s.inflight += int64(u.InFlight)
		s.memory += u.MemoryBytes
		s.instances++
		sums[k] = s
	}
	for k, v := range sums {
		s := c.seriesOf(k.app, k.stage, k.function)
		s.inFlight.Store(v.inflight)
		s.memory.Store(v.memory)
		storeMax(&s.inFlightMax, v.inflight)
		storeMax(&s.memoryMax, v.memory)
		s.instances.Store(v.instances)
		storeMax(&s.instancesMax, v.instances)
	}
	// Functions no longer running read zero.
	c.mu.RLock()
	for k, s := range c.series {
		if _, ok := sums[k]; !ok {
			s.inFlight.Store(0)
			s.memory.Store(0)
			s.instances.Store(0)
		}
	}
	c.mu.RUnlock()
	c.usageMu.Lock()
	c.usage = usage
	c.usageMu.Unlock()
}

func storeMax(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// prune removes what retention no longer keeps.
func (c *Collector) prune(ctx context.Context) {
	now := c.cfg.Now()
	r := c.cfg.Retention
	n, err := c.cfg.Store.PruneObservations(ctx, now.Add(-r.Metrics), now.Add(-r.RequestLog), now.Add(-r.Errors))
	if err != nil {
		c.writeFailed("remove old metrics and request log entries", err, 0)
		return
	}
	if n > 0 {
		c.log.Info("removed old metrics, request log entries and error groups", "rows", n)
	}
}

func (c *Collector) writeFailed(what string, err error, rows int) {
	if errors.Is(err, context.Canceled) {
		return
	}
	c.writeFails.Add(1)
	c.log.Warn(what, "rows", rows, "err", err)
}
