package metrics

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/seedbed/seedbed/store"
)

// Window sums one function's requests over the last since: how many, how
// many failed (answered 5xx, by the function or by the gateway for it)
// and their p95 latency, estimated from the histogram. function ""
// sums every function of the stage. It reads the rolled-up minutes that
// overlap the window plus what is not rolled up yet, so the newest
// requests count at once; the window's start is rounded down to its
// minute.
//
// It is the MetricsSource alerts read:
//
//	requests, errors, p95, err := collector.Window(ctx, "shop", "prod", "api/hello", 5*time.Minute)
func (c *Collector) Window(ctx context.Context, app, stage, function string, since time.Duration) (requests, errors int64, p95 time.Duration, err error) {
	from := c.cfg.Now().Add(-since).Truncate(time.Minute)
	rows, err := c.cfg.Store.MetricMinutes(ctx, app, stage, function, from)
	if err != nil {
		return 0, 0, 0, err
	}
	var b Buckets
	for _, r := range rows {
		requests += r.Requests
		errors += r.Errors
		if rb, err := ParseBuckets(r.Buckets); err == nil {
			b.Add(rb)
		}
	}
	for _, p := range c.pending(app, stage, function) {
		requests += p.requests
		errors += p.errors
		b.Add(p.buckets)
	}
	return requests, errors, b.Quantile(0.95), nil
}

// Point is one step of a chart: the requests of the step, those that
// failed, and their latency percentiles.
type Point struct {
	At            time.Time // the step's start
	Requests      int64
	Errors        int64
	ColdStarts    int64
	Restarts      int64
	P50, P95, P99 time.Duration
	InFlightMax   int64
	MemoryBytes   int64
	// InstancesMax is the most instances that ran at once in the step.
	InstancesMax int64
}

// Range is a span of time a chart covers, split into steps.
type Range struct {
	Name string // "1h", "24h", "7d"
	Span time.Duration
	Step time.Duration
}

// Ranges are the spans the console offers: each with 60 to 96 steps.
func Ranges() []Range {
	return []Range{
		{Name: "1h", Span: time.Hour, Step: time.Minute},
		{Name: "24h", Span: 24 * time.Hour, Step: 15 * time.Minute},
		{Name: "7d", Span: 7 * 24 * time.Hour, Step: 2 * time.Hour},
	}
}

// ParseRange finds a range by name; "" is the first (1h).
func ParseRange(name string) (Range, error) {
	rs := Ranges()
	if name == "" {
		return rs[0], nil
	}
	for _, r := range rs {
		if r.Name == name {
			return r, nil
		}
	}
	return Range{}, fmt.Errorf("range %q is not one of 1h, 24h, 7d", name)
}

// Series reads each function of a stage over rng, step by step, oldest
// first, with every step present (empty ones are zero): function ""
// reads them all. The current step includes what is not rolled up yet.
func (c *Collector) Series(ctx context.Context, app, stage, function string, rng Range) (map[string][]Point, error) {
	now := c.cfg.Now()
	end := now.Truncate(rng.Step).Add(rng.Step) // the current step's end
	start := end.Add(-rng.Span)
	n := int(rng.Span / rng.Step)
	rows, err := c.cfg.Store.MetricMinutes(ctx, app, stage, function, start)
	if err != nil {
		return nil, err
	}
	type acc struct {
		p Point
		b Buckets
	}
	out := map[string][]acc{}
	slot := func(fn string, at time.Time) *acc {
		steps := out[fn]
		if steps == nil {
			steps = make([]acc, n)
			for i := range steps {
				steps[i].p.At = start.Add(time.Duration(i) * rng.Step)
			}
			out[fn] = steps
		}
		i := int(at.Sub(start) / rng.Step)
		if i < 0 || i >= n {
			return nil
		}
		return &steps[i]
	}
	for _, r := range rows {
		a := slot(r.Function, r.Minute)
		if a == nil {
			continue
		}
		a.p.Requests += r.Requests
		a.p.Errors += r.Errors
		a.p.ColdStarts += r.ColdStarts
		a.p.Restarts += r.Restarts
		a.p.InFlightMax = max(a.p.InFlightMax, r.InFlightMax)
		a.p.MemoryBytes = max(a.p.MemoryBytes, r.MemoryBytes)
		a.p.InstancesMax = max(a.p.InstancesMax, r.InstancesMax)
		if rb, err := ParseBuckets(r.Buckets); err == nil {
			a.b.Add(rb)
		}
	}
	for fn, p := range c.pending(app, stage, function) {
		a := slot(fn, now)
		if a == nil {
			continue
		}
		a.p.Requests += p.requests
		a.p.Errors += p.errors
		a.p.ColdStarts += p.coldStarts
		a.p.Restarts += p.restarts
		a.p.InstancesMax = max(a.p.InstancesMax, p.instancesMax)
		a.b.Add(p.buckets)
	}
	res := make(map[string][]Point, len(out))
	for fn, steps := range out {
		pts := make([]Point, len(steps))
		for i, a := range steps {
			a.p.P50, a.p.P95, a.p.P99 = a.b.Quantile(0.5), a.b.Quantile(0.95), a.b.Quantile(0.99)
			pts[i] = a.p
		}
		res[fn] = pts
	}
	return res, nil
}

// Functions lists the functions a stage has metrics for in its series,
// sorted.
func Functions(series map[string][]Point) []string {
	out := make([]string, 0, len(series))
	for fn := range series {
		out = append(out, fn)
	}
	sort.Strings(out)
	return out
}

// pending reads, per function, what has been counted since the last
// rollup; function "" reads all of the stage's.
func (c *Collector) pending(app, stage, function string) map[string]snapshot {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := map[string]snapshot{}
	for k, s := range c.series {
		if k.app != app || k.stage != stage || (function != "" && k.function != function) {
			continue
		}
		d := s.snapshot().minus(s.flushed)
		if d.requests != 0 || d.restarts != 0 || d.instancesMax != 0 {
			out[k.function] = d
		}
	}
	return out
}

// Rates are a stage's requests and failures per minute over a recent
// window, for the pipeline board.
type Rates struct {
	Requests  int64 // in the window
	Errors    int64
	PerMinute float64 // requests per minute
	ErrorRate float64 // errors / requests, 0 with no requests
}

// StageRates sums a stage's requests over the last since.
func (c *Collector) StageRates(ctx context.Context, app, stage string, since time.Duration) (Rates, error) {
	req, errs, _, err := c.Window(ctx, app, stage, "", since)
	if err != nil {
		return Rates{}, err
	}
	r := Rates{Requests: req, Errors: errs, PerMinute: float64(req) / since.Minutes()}
	if req > 0 {
		r.ErrorRate = float64(errs) / float64(req)
	}
	return r, nil
}

// compile-time check that the store keeps what the collector writes.
var _ Store = (*store.Store)(nil)

// Summary is one function's requests over a window, as one number each:
// what `seedbed metrics` prints. Percentiles are estimated from the
// window's merged histogram, not averaged over steps.
type Summary struct {
	Function      string
	Requests      int64
	Errors        int64
	ColdStarts    int64
	Restarts      int64
	P50, P95, P99 time.Duration
}

// Summaries sums each function of a stage over the last since (function
// "" reads them all), sorted by function. Like Window it reads the
// rolled-up minutes that overlap the window (its start rounded down to
// its minute) plus what is not rolled up yet.
func (c *Collector) Summaries(ctx context.Context, app, stage, function string, since time.Duration) ([]Summary, error) {
	from := c.cfg.Now().Add(-since).Truncate(time.Minute)
	rows, err := c.cfg.Store.MetricMinutes(ctx, app, stage, function, from)
	if err != nil {
		return nil, err
	}
	type acc struct {
		s Summary
		b Buckets
	}
	byFn := map[string]*acc{}
	get := func(fn string) *acc {
		a := byFn[fn]
		if a == nil {
			a = &acc{s: Summary{Function: fn}}
			byFn[fn] = a
		}
		return a
	}
	for _, r := range rows {
		a := get(r.Function)
		a.s.Requests += r.Requests
		a.s.Errors += r.Errors
		a.s.ColdStarts += r.ColdStarts
		a.s.Restarts += r.Restarts
		if rb, err := ParseBuckets(r.Buckets); err == nil {
			a.b.Add(rb)
		}
	}
	for fn, p := range c.pending(app, stage, function) {
		a := get(fn)
		a.s.Requests += p.requests
		a.s.Errors += p.errors
		a.s.ColdStarts += p.coldStarts
		a.s.Restarts += p.restarts
		a.b.Add(p.buckets)
	}
	out := make([]Summary, 0, len(byFn))
	for _, a := range byFn {
		a.s.P50, a.s.P95, a.s.P99 = a.b.Quantile(0.5), a.b.Quantile(0.95), a.b.Quantile(0.99)
		out = append(out, a.s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Function < out[j].Function })
	return out, nil
}
