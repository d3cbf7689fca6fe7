package metrics

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The metrics Seedbed exposes, per app, stage and function.
var (
	descRequests = prometheus.NewDesc("seedbed_function_requests_total",
		"Requests the gateway answered for a function, by status class (2xx, 5xx…).",
		[]string{"app", "stage", "function", "code"}, nil)
	descFailures = prometheus.NewDesc("seedbed_function_errors_total",
		"Failed invocations of a function: 5xx answers, crashes, out-of-memory kills, timeouts and Lambda handler errors, by kind.",
		[]string{"app", "stage", "function", "kind"}, nil)
	descDuration = prometheus.NewDesc("seedbed_function_request_duration_seconds",
		"Time from the gateway receiving a request for a function to the end of its answer.",
		[]string{"app", "stage", "function"}, nil)
	descInFlight = prometheus.NewDesc("seedbed_function_requests_in_flight",
		"Requests a function's instances are serving, as last sampled.",
		[]string{"app", "stage", "function"}, nil)
	descInstances = prometheus.NewDesc("seedbed_function_instances",
		"Instances a function runs (it scales between instances.min and instances.max), as last sampled or changed.",
		[]string{"app", "stage", "function"}, nil)
	descColdStarts = prometheus.NewDesc("seedbed_function_cold_starts_total",
		"Requests that were the first an instance served after it started.",
		[]string{"app", "stage", "function"}, nil)
	descRestarts = prometheus.NewDesc("seedbed_function_restarts_total",
		"Times a function's process was started again after it crashed, was killed for its memory or timed out.",
		[]string{"app", "stage", "function"}, nil)
	descMemory = prometheus.NewDesc("seedbed_function_memory_bytes",
		"Resident memory of one instance of a function, as last sampled.",
		[]string{"app", "stage", "function", "instance"}, nil)
	descDropped = prometheus.NewDesc("seedbed_request_log_dropped_total",
		"observe.Request log entries dropped because the writer fell behind.", nil, nil)
	descCapped = prometheus.NewDesc("seedbed_request_log_capped_total",
		"Successful requests the request log left out because more than --request-log-rate came in one second.", nil, nil)
	descWriteFails = prometheus.NewDesc("seedbed_metrics_write_errors_total",
		"Writes of rollups, request log batches or error groups to the database that failed.", nil, nil)
)

var codeLabels = [6]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

// Describe sends the descriptions of every metric; see prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descFailures, descDuration, descInFlight, descInstances, descColdStarts, descRestarts, descMemory, descDropped, descCapped, descWriteFails} {
		ch <- d
	}
}

// Collect sends the current value of every metric; see
// prometheus.Collector. The counters are read from memory: a scrape
// touches no database.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.RLock()
	all := make([]*series, 0, len(c.series))
	for _, s := range c.series {
		all = append(all, s)
	}
	c.mu.RUnlock()
	for _, s := range all {
		l := []string{s.key.app, s.key.stage, s.key.function}
		for i := range s.codes {
			if n := s.codes[i].Load(); n > 0 {
				ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(n), append(l[:3:3], codeLabels[i])...)
			}
		}
		for i := range s.kinds {
			if n := s.kinds[i].Load(); n > 0 {
				ch <- prometheus.MustNewConstMetric(descFailures, prometheus.CounterValue, float64(n), append(l[:3:3], kindNames[i])...)
			}
		}
		var count uint64
		buckets := make(map[float64]uint64, nBuckets)
		for i := 0; i < nBuckets; i++ {
			count += uint64(s.hist.counts[i].Load())
			buckets[bucketBounds[i]] = count
		}
		count += uint64(s.hist.counts[nBuckets].Load())
		ch <- prometheus.MustNewConstHistogram(descDuration, count, float64(s.hist.sum.Load())/1e9, buckets, l...)
		ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(s.inFlight.Load()), l...)
		ch <- prometheus.MustNewConstMetric(descInstances, prometheus.GaugeValue, float64(s.instances.Load()), l...)
		ch <- prometheus.MustNewConstMetric(descColdStarts, prometheus.CounterValue, float64(s.coldStarts.Load()), l...)
		ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(s.restarts.Load()), l...)
	}
	c.usageMu.Lock()
	usage := c.usage
	c.usageMu.Unlock()
	for i, u := range usage {
		inst := u.Instance
		if inst == "" {
			inst = strconv.Itoa(i)
		}
		ch <- prometheus.MustNewConstMetric(descMemory, prometheus.GaugeValue, float64(u.MemoryBytes), u.App, u.Stage, u.Function, inst)
	}
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(c.dropped.Load()))
	ch <- prometheus.MustNewConstMetric(descCapped, prometheus.CounterValue, float64(c.capped.Load()))
	ch <- prometheus.MustNewConstMetric(descWriteFails, prometheus.CounterValue, float64(c.writeFails.Load()))
}

// Handler serves the metrics in Prometheus' text format, with the Go
// runtime's and the process's own beside them. Its labels name every app,
// stage and function: serve it only where those may be read (see
// --metrics-addr).
func (c *Collector) Handler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: promLogger{c}})
}

type promLogger struct{ c *Collector }

func (l promLogger) Println(v ...any) { l.c.log.Warn("serve /metrics", "err", v) }
