// Package metrics watches the functions Seedbed serves: it counts every
// request the gateway answers per app, stage and function (requests,
// errors, a latency histogram, cold starts), gathers failures (5xx,
// crashes, out-of-memory kills, timeouts, Lambda handler errors) into
// error groups, and keeps a sampled request log.
//
// The request path costs a map lookup and a few atomic adds: counters and
// histograms live in memory, and a background loop writes per-minute
// rollups, request log batches and error groups to the database. Nothing
// on the request path waits for the database; when the request log's
// buffer is full, entries are dropped and counted
// (seedbed_request_log_dropped_total).
//
// Collector.Handler exposes the counters for Prometheus; Collector.Window
// and Collector.Series read them back for the console and for alerts.
package metrics

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seedbed/seedbed/metrics/observe"
	"github.com/seedbed/seedbed/store"
)

// Store is where the collector writes what it gathered and reads history
// back. *store.Store implements it.
type Store interface {
	AddMetricMinutes(ctx context.Context, rows []store.MetricMinute) error
	MetricMinutes(ctx context.Context, app, stage, function string, from time.Time) ([]store.MetricMinute, error)
	AddRequestLogs(ctx context.Context, rows []store.RequestLog) error
	RecordErrors(ctx context.Context, occs []store.ErrorOccurrence) error
	PruneObservations(ctx context.Context, metricsBefore, logsBefore, groupsBefore time.Time) (int64, error)
}

// Config is what a Collector is made of.
type Config struct {
	Store Store
	// Instances, when set, is sampled for the in-flight and memory gauges.
	Instances observe.InstanceSource
	Logger    *slog.Logger
	// RequestLogSample is the share (0 to 1) of successful requests the
	// request log keeps; requests answered 5xx are always kept. Negative
	// turns the request log off.
	RequestLogSample float64
	// RequestLogRate caps the successful requests the request log keeps
	// per second, across all functions, after sampling; requests answered
	// 5xx are always kept. Zero means no cap. Under load the log then
	// costs the gateway a bounded amount of database work.
	RequestLogRate int
	// Retention: how long minutes, request log entries and error groups
	// (since last seen) are kept; zero means the defaults (DefaultRetention).
	Retention Retention
	// LogFlush is the longest a request log entry or an error waits in
	// memory before it is written; zero means a second.
	LogFlush time.Duration
	// Now returns the current time; tests set it.
	Now func() time.Time
}

// Retention is how long observations are kept.
type Retention struct {
	Metrics    time.Duration
	RequestLog time.Duration
	Errors     time.Duration
}

// DefaultRetention keeps two weeks of minutes, three days of request log
// and a month of error groups since they were last seen.
func DefaultRetention() Retention {
	return Retention{Metrics: 14 * 24 * time.Hour, RequestLog: 3 * 24 * time.Hour, Errors: 30 * 24 * time.Hour}
}

// logBuffer is how many request log entries wait for the writer at most.
const logBuffer = 16384

// Collector counts requests and failures in memory and writes them to the
// store in the background (Run). It is safe for concurrent use; a nil
// *Collector is not.
type Collector struct {
	cfg Config
	log *slog.Logger

	mu     sync.RWMutex
	series map[seriesKey]*series

	logs    chan store.RequestLog
	dropped atomic.Int64 // request log entries the full buffer refused
	// The second logSec counts logCount successful entries in, for
	// RequestLogRate; capped counts those left out for it.
	logSec   atomic.Int64
	logCount atomic.Int64
	capped   atomic.Int64

	failMu sync.Mutex
	fails  map[string]*store.ErrorOccurrence

	usageMu sync.Mutex
	usage   []observe.InstanceUsage // the last sample, for the memory gauge

	writeFails atomic.Int64 // writes to the store that failed
}

type seriesKey struct{ app, stage, function string }

// series is one function's counters since the process started, and what
// the last rollup had written of them.
type series struct {
	key        seriesKey
	requests   atomic.Int64
	errors     atomic.Int64
	coldStarts atomic.Int64
	restarts   atomic.Int64
	codes      [6]atomic.Int64 // by class: 1xx … 5xx; 0 for anything else
	kinds      [5]atomic.Int64 // failures by kind, see kindIndex
	hist       histogram

	inFlight    atomic.Int64 // the last sample
	inFlightMax atomic.Int64 // the most seen since the last rollup
	memory      atomic.Int64 // the last sample, summed over instances
	memoryMax   atomic.Int64 // the most seen since the last rollup
	// instances is how many instances ran at the last sample;
	// instancesMax the most seen since the last rollup (a function that
	// scales to zero reads 0).
	instances    atomic.Int64
	instancesMax atomic.Int64

	// flushed is what the last rollup counted; only the rollup and
	// pending read it, under Collector.mu.
	flushed snapshot

	// signatures are the error signatures seen since start, at most
	// maxSignatures; guarded by Collector.failMu.
	signatures map[string]bool
}

// maxSignatures bounds the issues one function can open per process life:
// a function that fails with ever-new messages (a random id the
// normaliser does not catch) would otherwise write a group per failure.
// Past it, new signatures count in one "many distinct errors" group.
const maxSignatures = 200

// snapshot is a series' cumulative counters at one time.
type snapshot struct {
	requests, errors, coldStarts, restarts int64
	buckets                                Buckets
	sum                                    int64
	// instancesMax is a gauge, not a counter: minus keeps a's.
	instancesMax int64
}

func (s *series) snapshot() snapshot {
	sn := snapshot{requests: s.requests.Load(), errors: s.errors.Load(), coldStarts: s.coldStarts.Load(),
		restarts: s.restarts.Load(), sum: s.hist.sum.Load(), instancesMax: s.instancesMax.Load()}
	for i := range sn.buckets {
		sn.buckets[i] = s.hist.counts[i].Load()
	}
	return sn
}

func (a snapshot) minus(b snapshot) snapshot {
	d := snapshot{requests: a.requests - b.requests, errors: a.errors - b.errors, coldStarts: a.coldStarts - b.coldStarts,
		restarts: a.restarts - b.restarts, sum: a.sum - b.sum, instancesMax: a.instancesMax}
	for i := range d.buckets {
		d.buckets[i] = a.buckets[i] - b.buckets[i]
	}
	return d
}

func kindIndex(kind string) int {
	switch kind {
	case observe.KindHTTP:
		return 0
	case observe.KindCrash:
		return 1
	case observe.KindOOM:
		return 2
	case observe.KindTimeout:
		return 3
	}
	return 4 // observe.KindHandlerError
}

var kindNames = [5]string{observe.KindHTTP, observe.KindCrash, observe.KindOOM, observe.KindTimeout, observe.KindHandlerError}

// New makes a Collector; Run makes it write.
func New(cfg Config) *Collector {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LogFlush <= 0 {
		cfg.LogFlush = time.Second
	}
	def := DefaultRetention()
	if cfg.Retention.Metrics <= 0 {
		cfg.Retention.Metrics = def.Metrics
	}
	if cfg.Retention.RequestLog <= 0 {
		cfg.Retention.RequestLog = def.RequestLog
	}
	if cfg.Retention.Errors <= 0 {
		cfg.Retention.Errors = def.Errors
	}
	c := &Collector{cfg: cfg, log: cfg.Logger, series: map[seriesKey]*series{}, fails: map[string]*store.ErrorOccurrence{}}
	if cfg.RequestLogSample >= 0 {
		c.logs = make(chan store.RequestLog, logBuffer)
	}
	return c
}

// SampleInstances sets the source of the in-flight and memory gauges,
// for a target made after the collector (the target reports failures to
// it). Call it before Run.
func (c *Collector) SampleInstances(src observe.InstanceSource) { c.cfg.Instances = src }

// InstancesChanged records how many instances of a function run now
// (observe.ScaleObserver): the gauge the instances chart reads, between
// samples of the target's instances.
func (c *Collector) InstancesChanged(app, stage, function string, instances int) {
	s := c.seriesOf(app, stage, function)
	s.instances.Store(int64(instances))
	storeMax(&s.instancesMax, int64(instances))
}

// seriesOf finds or makes the series of a function.
func (c *Collector) seriesOf(app, stage, function string) *series {
	k := seriesKey{app, stage, function}
	c.mu.RLock()
	s := c.series[k]
	c.mu.RUnlock()
	if s != nil {
		return s
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s = c.series[k]; s == nil {
		s = &series{key: k}
		c.series[k] = s
	}
	return s
}

// Observe counts one request; see Observer. It never blocks.
func (c *Collector) Observe(r observe.Request) {
	s := c.seriesOf(r.App, r.Stage, r.Function)
	s.requests.Add(1)
	s.hist.observe(r.Duration)
	class := r.Status / 100
	if class < 1 || class > 5 {
		class = 0
	}
	s.codes[class].Add(1)
	if r.ColdStart {
		s.coldStarts.Add(1)
	}
	now := c.cfg.Now()
	at := r.At
	if at.IsZero() {
		at = now.Add(-r.Duration)
	}
	failed := r.Status >= 500
	if failed {
		s.errors.Add(1)
		f := observe.Failure{Kind: observe.KindHTTP, Type: "HTTP " + itoa(r.Status), Message: http.StatusText(r.Status)}
		if r.Failure != nil {
			f = *r.Failure
		}
		f.App, f.Stage, f.Function, f.At = r.App, r.Stage, r.Function, now
		if f.Instance == "" {
			f.Instance = r.Instance
		}
		c.fail(s, f)
	}
	if c.logs == nil || (!failed && c.cfg.RequestLogSample < 1 && rand.Float64() >= c.cfg.RequestLogSample) {
		return
	}
	if !failed && c.cfg.RequestLogRate > 0 {
		if sec := now.Unix(); c.logSec.Load() != sec {
			c.logSec.Store(sec)
			c.logCount.Store(0)
		}
		if c.logCount.Add(1) > int64(c.cfg.RequestLogRate) {
			c.capped.Add(1)
			return
		}
	}
	entry := store.RequestLog{At: at.UTC(), App: r.App, Stage: r.Stage, Function: r.Function, Instance: r.Instance,
		Method: r.Method, Path: r.Path, Status: r.Status, DurationUS: r.Duration.Microseconds(), Bytes: r.Bytes, Client: r.Client}
	select {
	case c.logs <- entry:
	default:
		c.dropped.Add(1)
	}
}

// RecordFailure counts a failure that is no request's answer (a crash, an
// OOM kill between requests); see FailureRecorder.
func (c *Collector) RecordFailure(f observe.Failure) {
	if f.At.IsZero() {
		f.At = c.cfg.Now()
	}
	c.fail(c.seriesOf(f.App, f.Stage, f.Function), f)
}

// fail counts a failure and adds it to its error group's pending
// occurrences.
func (c *Collector) fail(s *series, f observe.Failure) {
	s.kinds[kindIndex(f.Kind)].Add(1)
	if f.Restarted {
		s.restarts.Add(1)
	}
	sig := Signature(f)
	c.failMu.Lock()
	defer c.failMu.Unlock()
	if s.signatures == nil {
		s.signatures = map[string]bool{}
	}
	if !s.signatures[sig] {
		if len(s.signatures) >= maxSignatures {
			f.Type, f.Message = "TooManyDistinctErrors", "more than "+strconv.Itoa(maxSignatures)+" distinct errors since Seedbed started; this one was: "+clip(f.Type+": "+f.Message, 300)
			sig = "overflow"
		} else {
			s.signatures[sig] = true
		}
	}
	k := f.App + "\x00" + f.Stage + "\x00" + f.Function + "\x00" + sig
	o := c.fails[k]
	if o == nil {
		o = &store.ErrorOccurrence{App: f.App, Stage: f.Stage, Function: f.Function, Signature: sig, Kind: f.Kind,
			ErrorType: clip(f.Type, 200), First: f.At}
		c.fails[k] = o
	}
	o.Count++
	o.Last = f.At
	o.Message = clip(f.Message, 1000)
	o.Sample = clip(f.Excerpt, 8000)
}

func itoa(n int) string { return strconv.Itoa(n) }

// clip cuts s to at most n bytes, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
