package queue

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/hibiken/asynq"
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

// PollInterval is how often a server built with ServerConfig looks for due
// retries and scheduled tasks, and for new tasks while its queues are empty.
// asynq's defaults (5s and 1s) would add seconds to every retry and to the
// start of every build and deploy; each poll is one small script per queue.
const PollInterval = 50 * time.Millisecond

// ServerConfig returns cfg with Seedbed's queue timings filled in where cfg
// leaves them zero: RetryDelayFunc is RetryDelay, and DelayedTaskCheckInterval
// and TaskCheckInterval are PollInterval. Everything else is left to the caller.
func ServerConfig(cfg asynq.Config) asynq.Config {
	if cfg.RetryDelayFunc == nil {
		cfg.RetryDelayFunc = RetryDelay
	}
	if cfg.DelayedTaskCheckInterval == 0 {
		cfg.DelayedTaskCheckInterval = PollInterval
	}
	if cfg.TaskCheckInterval == 0 {
		cfg.TaskCheckInterval = PollInterval
	}
	return cfg
}
