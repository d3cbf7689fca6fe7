package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/seedbed/seedbed/alerts"
	"github.com/seedbed/seedbed/metrics"
	"github.com/seedbed/seedbed/metrics/observe"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web"
)

// newMetrics makes the collector of the gateway's requests, or nil with
// --metrics=false. The target it samples for in-flight requests and
// memory is set once it exists.
func newMetrics(cfg Config, st *store.Store, log *slog.Logger) *metrics.Collector {
	if cfg.MetricsOff {
		return nil
	}
	return metrics.New(metrics.Config{Store: st, Logger: log.With("part", "metrics"), RequestLogSample: cfg.collectorSample(), RequestLogRate: cfg.RequestLogRate,
		Retention: cfg.MetricsRetention})
}

// listenMetrics opens --metrics-addr. /metrics is served there, on its
// own address, and not on the console's: its labels name every app, stage
// and function of every user, and Prometheus scrapes without a session.
// An operator binds it to loopback or a monitoring network.
func (a *App) listenMetrics() error {
	if a.cfg.MetricsAddr == "" {
		return nil
	}
	ln, err := a.listen("metrics", a.cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("listen on %s for /metrics (--metrics-addr): %w", a.cfg.MetricsAddr, err)
	}
	a.metricsLn, a.metricsURL = ln, urlOf(ln.Addr().String())
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.metrics.Handler())
	a.metricsSrv = newHTTPServer(mux, defaultTimeouts, always)
	return nil
}

// startMetrics starts the collector's writer and the /metrics server.
func (a *App) startMetrics(ctx context.Context) {
	if a.metrics == nil {
		return
	}
	mctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	a.stopMetrics, a.metricsDone = stop, make(chan struct{})
	go func() {
		defer close(a.metricsDone)
		a.metrics.Run(mctx)
	}()
	if a.metricsSrv != nil {
		go a.serve(a.metricsSrv, a.metricsLn, "metrics")
	}
}

func (a *App) stopMetricsServer(ctx context.Context) {
	if a.metricsSrv != nil {
		_ = a.metricsSrv.Shutdown(ctx)
	} else if a.metricsLn != nil {
		a.metricsLn.Close()
	}
}

// closeMetrics stops the collector, which writes what it still holds.
// The gateway has stopped by then, so nothing more is counted.
func (a *App) closeMetrics() {
	if a.stopMetrics != nil {
		a.stopMetrics()
		<-a.metricsDone
		a.stopMetrics = nil
	}
}

// MetricsURL is where /metrics is served; "" without --metrics-addr.
func (a *App) MetricsURL() string { return a.metricsURL }

// The collector as each of its users takes it: a nil interface, not an
// interface holding a nil pointer, when metrics are off.

func (a *App) failureRecorder() observe.FailureRecorder {
	if a.metrics == nil {
		return nil
	}
	return a.metrics
}

func (a *App) scaleObserver() observe.ScaleObserver {
	if a.metrics == nil {
		return nil
	}
	return a.metrics
}

func (a *App) observer() observe.Observer {
	if a.metrics == nil {
		return nil
	}
	return a.metrics
}

func (a *App) metricsReader() web.MetricsReader {
	if a.metrics == nil {
		return nil
	}
	return a.metrics
}

// metricsSource is what alert rules on error rates and p95 read.
func (a *App) metricsSource() alerts.MetricsSource {
	if a.metrics == nil {
		return nil
	}
	return a.metrics
}
