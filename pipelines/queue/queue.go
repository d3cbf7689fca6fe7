package queue

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// urlForm is the shape of a Redis URL, quoted in every parse error so the
// user sees what to write instead.
const urlForm = "redis://[[user]:password@]host[:port][/db] (rediss:// for TLS)"

// RedisOpt parses a Redis URL into asynq's connection options.
//
// It accepts what asynq.ParseRedisURI accepts (redis://, rediss://,
// redis-socket://, redis-sentinel://) and is stricter and kinder about
// redis:// and rediss://: a missing host is an error instead of a silent
// fallback to localhost, a missing port means 6379, and an ACL user name is
// kept (asynq drops it). Errors never contain the password.
func RedisOpt(rawURL string) (asynq.RedisConnOpt, error) {
	s := strings.TrimSpace(rawURL)
	if s == "" {
		return nil, fmt.Errorf("parse Redis URL: the URL is empty; want %s", urlForm)
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Error repeats the whole URL, password included: keep only the cause.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("parse Redis URL: %w; want %s", err, urlForm)
	}
	switch u.Scheme {
	case "redis", "rediss":
	case "redis-socket", "redis-sentinel":
		opt, err := asynq.ParseRedisURI(s)
		if err != nil {
			return nil, fmt.Errorf("parse Redis URL %q: %w", u.Redacted(), err)
		}
		return opt, nil
	case "":
		return nil, fmt.Errorf("parse Redis URL %q: no scheme; want %s", u.Redacted(), urlForm)
	default:
		return nil, fmt.Errorf("parse Redis URL %q: unsupported scheme %q; want %s", u.Redacted(), u.Scheme, urlForm)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("parse Redis URL %q: no host; want %s", u.Redacted(), urlForm)
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), "6379")
	}
	opt, err := asynq.ParseRedisURI(u.String())
	if err != nil {
		return nil, fmt.Errorf("parse Redis URL %q: %w; want %s", u.Redacted(), err, urlForm)
	}
	co, ok := opt.(asynq.RedisClientOpt)
	if !ok {
		return nil, fmt.Errorf("parse Redis URL %q: asynq returned %T, want asynq.RedisClientOpt", u.Redacted(), opt)
	}
	if u.User != nil {
		co.Username = u.User.Username()
	}
	return co, nil
}

// The retry back-off: retryBase for the first retry, doubling up to retryMax.
const (
	retryBase = 500 * time.Millisecond
	retryMax  = 10 * time.Second
)

// RetryDelay is Seedbed's asynq.RetryDelayFunc: 500ms before the first
// retry, then 1s, 2s, 4s, 8s, and 10s from then on. n is the number of
// times the task has been retried so far (0 before the first retry); err and
// t are not used.
//
// asynq's default waits tens of seconds growing to hours, far too long for a
// deploy a person is watching. The delay is approximate: asynq stores the
// retry time in whole seconds, rounded down, and a server only moves due
// retries to their queue every asynq.Config.DelayedTaskCheckInterval (5s by
// default), so use ServerConfig, which sets both.
func RetryDelay(n int, err error, t *asynq.Task) time.Duration {
	d := retryBase
	for i := 0; i < n && d < retryMax; i++ {
		d *= 2
	}
	return min(d, retryMax)
}

// PollInterval is how often a server built with ServerConfig looks for new
// tasks while its queues are empty. asynq's default (1s) would add up to a
// second to the start of every build and deploy; each poll is one small
// script per queue.
const PollInterval = 50 * time.Millisecond

// DuePollInterval is how often a server built with ServerConfig moves due
// retries and scheduled tasks to their queues (asynq's default, 5s, would
// add seconds to every retry). Their due times are whole seconds anyway
// (see the package comment), so a quarter of a second adds little; each
// poll is two scripts per queue, and on the in-process queue every script
// runs in a fresh Lua interpreter: at PollInterval these polls were most
// of an idle Seedbed's CPU (about a tenth of a core, measured).
const DuePollInterval = 250 * time.Millisecond

// ServerConfig returns cfg with Seedbed's queue timings filled in where cfg
// leaves them zero: RetryDelayFunc is RetryDelay, DelayedTaskCheckInterval
// DuePollInterval and TaskCheckInterval PollInterval. Everything else is
// left to the caller.
func ServerConfig(cfg asynq.Config) asynq.Config {
	if cfg.RetryDelayFunc == nil {
		cfg.RetryDelayFunc = RetryDelay
	}
	if cfg.DelayedTaskCheckInterval == 0 {
		cfg.DelayedTaskCheckInterval = DuePollInterval
	}
	if cfg.TaskCheckInterval == 0 {
		cfg.TaskCheckInterval = PollInterval
	}
	return cfg
}

// Pinger asks a queue server whether it answers, over a pool of its own.
// It is what /healthz and the start-up check use.
type Pinger struct {
	c redis.UniversalClient
}

// NewPinger makes a Pinger for the server opt points at; it connects on
// the first Ping. Close it when done.
func NewPinger(opt asynq.RedisConnOpt) (*Pinger, error) {
	if o, ok := opt.(asynq.RedisClientOpt); ok {
		// asynq's own client retries three times and bounds a read by
		// ReadTimeout (3s) whatever the context says: a ping of a server
		// that accepts and never answers took 15s. One try, bounded by
		// the caller's context, and the cause (connection refused, wrong
		// password) is the error rather than a deadline.
		return &Pinger{c: redis.NewClient(&redis.Options{
			Network: o.Network, Addr: o.Addr, Username: o.Username, Password: o.Password, DB: o.DB,
			TLSConfig: o.TLSConfig, PoolSize: 2, MaxRetries: -1, DialerRetries: 1, ContextTimeoutEnabled: true,
		})}, nil
	}
	c, ok := opt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, fmt.Errorf("queue connection options %T make no Redis client", opt)
	}
	return &Pinger{c: c}, nil
}

// Ping sends PING and waits for the answer until ctx ends.
func (p *Pinger) Ping(ctx context.Context) error {
	if err := p.c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping the queue server: %w", err)
	}
	return nil
}

// Close closes the Pinger's connections.
func (p *Pinger) Close() error { return p.c.Close() }

// CheckReachable pings the queue server opt points at up to attempts times,
// each ping bounded by timeout, with a pause of timeout between them. It
// returns nil at the first answer and the last error otherwise, so that a
// process refuses to start on a queue it cannot reach instead of leaving
// every build it records queued.
func CheckReachable(ctx context.Context, opt asynq.RedisConnOpt, attempts int, timeout time.Duration) error {
	p, err := NewPinger(opt)
	if err != nil {
		return err
	}
	defer p.Close()
	attempts = max(attempts, 1)
	for i := 1; ; i++ {
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err = p.Ping(pctx)
		cancel()
		if err == nil || i == attempts {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%w)", err, ctx.Err())
		case <-time.After(timeout):
		}
	}
}
