package main

import (
	"errors"

	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/seedbed/seedbed/metrics"
)

// metricsFlags registers the settings of request metrics, the request log
// and error groups (see metrics.Config).
func metricsFlags(fs *pflag.FlagSet, env func(k, def string) string, c *Config) {
	def := metrics.DefaultRetention()
	fs.BoolVar(&c.MetricsOff, "metrics-off", env("SEEDBED_METRICS_OFF", "") == "true", "count no requests: no metrics, request log or issues, and /metrics is not served (SEEDBED_METRICS_OFF)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", env("SEEDBED_METRICS_ADDR", ""), "serve Prometheus metrics at http://<addr>/metrics, e.g. 127.0.0.1:9090; empty: not served. Its labels name every app, stage and function and it asks for no credentials: bind it where only your monitoring reaches (SEEDBED_METRICS_ADDR)")
	sample := 1.0
	if v := env("SEEDBED_REQUEST_LOG_SAMPLE", ""); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			c.envErr = errors.Join(c.envErr, fmt.Errorf("SEEDBED_REQUEST_LOG_SAMPLE=%q: want a number from 0 to 1", v))
		}
		sample = f
	}
	fs.Float64Var(&c.RequestLogSample, "request-log-sample", sample, "share of successful requests the request log keeps, from 0 to 1 (0.1 keeps one in ten); requests answered 5xx are always kept (SEEDBED_REQUEST_LOG_SAMPLE)")
	rate := c.envInt(env, "SEEDBED_REQUEST_LOG_RATE", 200)
	fs.IntVar(&c.RequestLogRate, "request-log-rate", rate, "most successful requests the request log keeps per second, all functions together (after sampling); 5xx are always kept; 0: no cap (SEEDBED_REQUEST_LOG_RATE)")
	fs.BoolVar(&c.RequestLogOff, "request-log-off", env("SEEDBED_REQUEST_LOG_OFF", "") == "true", "keep no request log at all; metrics and issues are still kept (SEEDBED_REQUEST_LOG_OFF)")
	duration := func(k string, d time.Duration) time.Duration { return c.envDuration(env, k, d, "336h") }
	fs.DurationVar(&c.MetricsRetention.Metrics, "retain-metrics", duration("SEEDBED_RETAIN_METRICS", def.Metrics), "how long per-minute request metrics are kept (SEEDBED_RETAIN_METRICS)")
	fs.DurationVar(&c.MetricsRetention.RequestLog, "retain-request-log", duration("SEEDBED_RETAIN_REQUEST_LOG", def.RequestLog), "how long request log entries are kept (SEEDBED_RETAIN_REQUEST_LOG)")
	fs.DurationVar(&c.MetricsRetention.Errors, "retain-issues", duration("SEEDBED_RETAIN_ISSUES", def.Errors), "how long an issue (error group) is kept after it was last seen (SEEDBED_RETAIN_ISSUES)")
}

// checkMetrics validates the metrics settings.
func (c *Config) checkMetrics() error {
	if c.RequestLogSample < 0 || c.RequestLogSample > 1 {
		return fmt.Errorf("--request-log-sample must be from 0 to 1, not %v; use --request-log-off to keep no request log", c.RequestLogSample)
	}
	if c.RequestLogRate < 0 {
		return fmt.Errorf("--request-log-rate must be 0 (no cap) or more, not %d", c.RequestLogRate)
	}
	if c.MetricsOff && c.MetricsAddr != "" {
		return errors.New("--metrics-addr serves the metrics that --metrics-off turns off: drop one of them")
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			return fmt.Errorf("--metrics-addr (SEEDBED_METRICS_ADDR) %q is no host:port, e.g. 127.0.0.1:9090: %w", c.MetricsAddr, err)
		}
	}
	r := c.MetricsRetention
	if r.Metrics < 0 || r.RequestLog < 0 || r.Errors < 0 {
		return errors.New("--retain-metrics, --retain-request-log and --retain-issues must be positive durations such as 72h")
	}
	return nil
}

// collectorSample is the request log's sampling as metrics.Config takes
// it: negative turns the log off.
func (c *Config) collectorSample() float64 {
	if c.RequestLogOff {
		return -1
	}
	return c.RequestLogSample
}
