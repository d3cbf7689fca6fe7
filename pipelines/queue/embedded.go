package queue

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// DefaultTick is how often an Embedded server advances its clock when
// EmbeddedOptions.Tick is zero. Keys outlive their TTL by at most this much,
// which asynq, counting its TTLs in whole seconds, does not notice.
const DefaultTick = 100 * time.Millisecond

// EmbeddedOptions configures StartEmbedded. The zero value is ready to use.
type EmbeddedOptions struct {
	// Addr is the address to listen on; empty means 127.0.0.1 on a free port.
	// Keep it on loopback: the server is meant for one process's own workers.
	Addr string

	// Password, if set, is required from every connection (AUTH) and is part
	// of RedisURL. Without it any local user who finds the port can queue work.
	Password string

	// Tick is how often expired keys are removed; zero means DefaultTick.
	Tick time.Duration
}

// Embedded is an in-process Redis-compatible server (miniredis) that asynq
// runs on when Seedbed is given no SEEDBED_REDIS_URL.
//
// miniredis never expires keys by itself: TTLs only shrink when its
// FastForward is called. asynq relies on TTLs (unique-task locks, the
// heartbeat records of servers and workers, daily statistics), so Embedded
// calls FastForward with the wall time that passed, every tick. Leases,
// scheduled tasks and retries are scores in sorted sets that asynq compares
// with its own clock, and need nothing from the server's.
//
// miniredis's own ClockTTL option does the same on every command instead of
// on a ticker, but each of its ticks walks and sorts every key: measured on
// v2.40, a command took 0.6ms with 1,000 keys and 10ms with 20,000 (asynq
// keeps a key per task), against 10µs without it. A tick of FastForward costs
// the same walk (0.14ms and 4ms) but only ten times a second.
//
// Everything is kept in memory and lost on Close or a crash. That is by
// design: the database is the source of truth, and Seedbed enqueues its
// pending builds and deploys again at start-up.
type Embedded struct {
	m        *miniredis.Miniredis
	addr     string
	password string

	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

// StartEmbedded starts an embedded queue server. ctx bounds the start only:
// the server runs until Close, so that a process can first shut down its
// asynq servers (which hand their in-flight tasks back to Redis) and then the
// queue server.
func StartEmbedded(ctx context.Context, opts EmbeddedOptions) (*Embedded, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start embedded queue server: %w", err)
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	tick := opts.Tick
	if tick <= 0 {
		tick = DefaultTick
	}
	m := miniredis.NewMiniRedis()
	if opts.Password != "" {
		m.RequireAuth(opts.Password)
	}
	if err := m.StartAddr(addr); err != nil {
		return nil, fmt.Errorf("start embedded queue server on %s: %w", addr, err)
	}
	e := &Embedded{
		m:        m,
		addr:     m.Addr(),
		password: opts.Password,
		stop:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	go e.advance(tick)
	return e, nil
}

// advance moves miniredis's TTLs forward by the wall time that passed, every
// tick, until Close. Measuring the time passed (rather than adding tick)
// keeps the clock right when a tick is late.
func (e *Embedded) advance(tick time.Duration) {
	defer close(e.stopped)
	t := time.NewTicker(tick)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			now := time.Now()
			e.m.FastForward(now.Sub(last))
			last = now
		}
	}
}

// Addr is the address the server listens on, host:port.
func (e *Embedded) Addr() string { return e.addr }

// RedisURL is the server's URL, "redis://127.0.0.1:port", with the password
// if one was set; pass it to RedisOpt.
func (e *Embedded) RedisURL() string {
	u := url.URL{Scheme: "redis", Host: e.addr}
	if e.password != "" {
		u.User = url.UserPassword("", e.password)
	}
	return u.String()
}

// Close stops the clock and the server, dropping every connection and all
// data. It is safe to call more than once.
func (e *Embedded) Close() error {
	e.once.Do(func() {
		close(e.stop)
		<-e.stopped
		e.m.Close()
	})
	return nil
}
