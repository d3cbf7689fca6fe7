package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

// handoffDrain is how long a process that handed over keeps serving
// before it shuts its servers down, telling every HTTP/1 client to go.
// Under steady traffic each kept-alive connection brings a request within
// a fraction of a second; its answer says "Connection: close", and the
// client opens its next connection to the new process by itself. Closing
// a kept-alive connection instead, as a server's Shutdown does with idle
// ones, races with a request the client is sending on it, which most
// clients (Go's among them) do not send again when it is a POST.
const handoffDrain = time.Second

// drain tells the clients of a process that handed over to go.
type drain struct{ on atomic.Bool }

// handler answers every HTTP/1 request with "Connection: close" once
// start was called. An HTTP/2 connection is told to go by Shutdown's
// GOAWAY, which its clients honour without losing a request; an upgrade
// (a WebSocket) is left alone, as its answer's Connection field must say
// "Upgrade", and the connection is the client's from then on.
func (d *drain) handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 1 && d.on.Load() && len(r.Header["Upgrade"]) == 0 {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// start turns the drain on and waits handoffDrain, or until ctx ends,
// while the servers go on serving.
func (d *drain) start(ctx context.Context) {
	d.on.Store(true)
	t := time.NewTimer(handoffDrain)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// forwardSignals passes the SIGHUP and SIGTERM this process gets to p,
// the process it handed over to, for the rest of this process's life.
// While this one drains and finishes its requests, a supervisor
// (handoff.Supervise signals its newest child, which p is not until this
// process exits) or a systemd that has not read the new main pid yet
// still signals this process: a second handoff, or the stop of a
// container, would otherwise never reach the process that serves.
func forwardSignals(p *os.Process, log *slog.Logger) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM)
	go func() {
		for s := range sigs {
			if err := p.Signal(s); err != nil {
				log.Warn("could not pass a signal on to the process that took over", "signal", s, "pid", p.Pid, "err", err)
				continue
			}
			log.Info("passed a signal on to the process that took over", "signal", s, "pid", p.Pid)
		}
	}()
}
