package queue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// DefaultTick is how often an Embedded server advances its clock when
// EmbeddedOptions.Tick is zero. Keys outlive their TTL by at most this much,
// which asynq, counting its TTLs in whole seconds, does not notice.
const DefaultTick = 100 * time.Millisecond

// ErrEmbeddedClosed is returned when connecting to an Embedded server after
// Close.
var ErrEmbeddedClosed = errors.New("the embedded queue server is closed")

// EmbeddedOptions configures StartEmbedded. The zero value is ready to use,
// and is what `seedbed serve` uses: a server with no listener at all.
type EmbeddedOptions struct {
	// Addr, if set, makes the server also listen on a TCP address
	// ("127.0.0.1:0" for a free loopback port), for tests and tools that
	// run in another process. Empty means no listener: connections are
	// in-memory pipes that only this process can open (ConnOpt).
	Addr string

	// Password is required from every connection through Addr (AUTH) and
	// is part of RedisURL. When Addr is set and Password is empty, a random
	// one is made: a port on loopback is open to every local user, builds
	// included, and none of them may read, delete or inject jobs.
	Password string

	// Tick is how often expired keys are removed; zero means DefaultTick.
	Tick time.Duration
}

// Embedded is an in-process Redis-compatible server (miniredis) that asynq
// runs on when Seedbed is given no SEEDBED_REDIS_URL.
//
// By default it listens nowhere: asynq's clients and servers reach it
// through ConnOpt, whose connections are in-memory pipes (net.Pipe) made
// inside this process. A build or function, whatever user it runs as,
// finds no port or socket to connect to. (A loopback port without a
// password, as before, let a build running as nobody list, delete and
// inject jobs.)
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

	mu     sync.Mutex
	closed bool

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
	tick := opts.Tick
	if tick <= 0 {
		tick = DefaultTick
	}
	m := miniredis.NewMiniRedis()
	e := &Embedded{
		m:       m,
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	if opts.Addr != "" {
		e.password = opts.Password
		if e.password == "" {
			b := make([]byte, 24)
			if _, err := rand.Read(b); err != nil {
				return nil, fmt.Errorf("start embedded queue server: make a password: %w", err)
			}
			e.password = hex.EncodeToString(b)
		}
		m.RequireAuth(e.password)
		if err := m.StartAddr(opts.Addr); err != nil {
			return nil, fmt.Errorf("start embedded queue server on %s: %w", opts.Addr, err)
		}
		e.addr = m.Addr()
	} else {
		// Start the server without a listener: the first Dial does it.
		c, err := m.Dial()
		if err != nil {
			return nil, fmt.Errorf("start embedded queue server: %w", err)
		}
		c.Close()
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

// Dial opens an in-memory connection to the server. Connections made this
// way need no password: only code in this process can make them.
func (e *Embedded) Dial() (net.Conn, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		// miniredis would start a new, empty server for a Dial after Close.
		return nil, ErrEmbeddedClosed
	}
	return e.m.Dial()
}

// ConnOpt is how asynq clients, servers and inspectors of this process
// connect to the server: through Dial, with no network involved.
func (e *Embedded) ConnOpt() asynq.RedisConnOpt { return embeddedConnOpt{e} }

// embeddedConnOpt is an asynq.RedisConnOpt whose clients dial an Embedded.
type embeddedConnOpt struct{ e *Embedded }

// MakeRedisClient implements asynq.RedisConnOpt.
func (o embeddedConnOpt) MakeRedisClient() any {
	return redis.NewClient(&redis.Options{
		Addr:     "embedded",
		Password: o.e.password, // set only when the server also listens on TCP
		Dialer: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return o.e.Dial()
		},
	})
}

// Addr is the TCP address the server listens on, host:port, or "" when it
// was started without EmbeddedOptions.Addr.
func (e *Embedded) Addr() string { return e.addr }

// RedisURL is the URL of the server's TCP listener, with its password,
// "redis://:password@127.0.0.1:port"; pass it to RedisOpt. It is "" when
// the server has no listener: use ConnOpt.
func (e *Embedded) RedisURL() string {
	if e.addr == "" {
		return ""
	}
	u := url.URL{Scheme: "redis", Host: e.addr, User: url.UserPassword("", e.password)}
	return u.String()
}

// Close stops the clock and the server, dropping every connection and all
// data. It is safe to call more than once.
func (e *Embedded) Close() error {
	e.once.Do(func() {
		e.mu.Lock()
		e.closed = true
		e.mu.Unlock()
		close(e.stop)
		<-e.stopped
		e.m.Close()
	})
	return nil
}
