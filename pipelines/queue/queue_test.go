package queue_test

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/seedbed/seedbed/pipelines/queue"
	"github.com/seedbed/seedbed/testutil"
)

// server is one Redis-compatible server the queue tests run against.
type server struct {
	name string
	// url returns the URL of an empty database on the server for t, and
	// frees it when t ends; it skips t (fails it under CI=true) when the
	// server cannot be reached.
	url func(t *testing.T) string
}

// testServers lists the servers every queue test runs on: the embedded
// server, and a real Redis at SEEDBED_TEST_REDIS_URL (default
// redis://127.0.0.1:6379) in a database of its own, emptied first.
func testServers(t *testing.T) []server {
	t.Helper()
	return []server{
		{"embedded", func(t *testing.T) string { return startEmbedded(t).RedisURL() }},
		{"redis", func(t *testing.T) string { return testutil.RedisURL(t) }},
	}
}

// startEmbedded starts an embedded server that also listens on a loopback
// port (so that URLs and child processes reach it, with its random
// password), and closes it when t ends.
func startEmbedded(t *testing.T) *queue.Embedded {
	t.Helper()
	e, err := queue.StartEmbedded(context.Background(), queue.EmbeddedOptions{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("start embedded server: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// redisOpt parses url or fails t.
func redisOpt(t *testing.T, url string) asynq.RedisConnOpt {
	t.Helper()
	opt, err := queue.RedisOpt(url)
	if err != nil {
		t.Fatalf("RedisOpt(%q): %v", url, err)
	}
	return opt
}

// newClient returns an asynq client that is closed when t ends.
func newClient(t *testing.T, opt asynq.RedisConnOpt) *asynq.Client {
	t.Helper()
	c := asynq.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// newInspector returns an asynq inspector that is closed when t ends.
func newInspector(t *testing.T, opt asynq.RedisConnOpt) *asynq.Inspector {
	t.Helper()
	i := asynq.NewInspector(opt)
	t.Cleanup(func() { i.Close() })
	return i
}

// runServer starts an asynq server with Seedbed's timings (ServerConfig)
// and cfg's other settings, handling kind with h; it is shut down when t ends.
func runServer(t *testing.T, opt asynq.RedisConnOpt, cfg asynq.Config, kind string, h asynq.HandlerFunc) *asynq.Server {
	t.Helper()
	if cfg.LogLevel == 0 {
		cfg.LogLevel = asynq.WarnLevel
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 2 * time.Second
	}
	srv := asynq.NewServer(opt, queue.ServerConfig(cfg))
	mux := asynq.NewServeMux()
	mux.HandleFunc(kind, h)
	if err := srv.Start(mux); err != nil {
		t.Fatalf("start asynq server: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// receive waits up to d for a value on ch, or fails t.
func receive[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("%s: nothing after %s", what, d)
		panic("unreachable")
	}
}

func TestRedisOpt(t *testing.T) {
	tests := []struct {
		name string
		url  string
		want asynq.RedisClientOpt
	}{
		{"host, port and database", "redis://127.0.0.1:6379/9", asynq.RedisClientOpt{Addr: "127.0.0.1:6379", DB: 9}},
		{"default port", "redis://redis.internal", asynq.RedisClientOpt{Addr: "redis.internal:6379"}},
		{"spaces around", "  redis://h:1  ", asynq.RedisClientOpt{Addr: "h:1"}},
		{"password", "redis://:s3cret@h:1/2", asynq.RedisClientOpt{Addr: "h:1", Password: "s3cret", DB: 2}},
		{"ACL user", "redis://seedbed:s3cret@h:1", asynq.RedisClientOpt{Addr: "h:1", Username: "seedbed", Password: "s3cret"}},
		{"IPv6", "redis://[::1]:7000", asynq.RedisClientOpt{Addr: "[::1]:7000"}},
		{"TLS", "rediss://cache.example.com", asynq.RedisClientOpt{Addr: "cache.example.com:6379", TLSConfig: &tls.Config{ServerName: "cache.example.com"}}},
		{"unix socket", "redis-socket:///run/redis.sock?db=3", asynq.RedisClientOpt{Network: "unix", Addr: "/run/redis.sock", DB: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt, err := queue.RedisOpt(tt.url)
			if err != nil {
				t.Fatalf("RedisOpt(%q): %v", tt.url, err)
			}
			got, ok := opt.(asynq.RedisClientOpt)
			if !ok {
				t.Fatalf("RedisOpt(%q) = %T, want asynq.RedisClientOpt", tt.url, opt)
			}
			if (got.TLSConfig == nil) != (tt.want.TLSConfig == nil) ||
				got.TLSConfig != nil && got.TLSConfig.ServerName != tt.want.TLSConfig.ServerName {
				t.Errorf("TLSConfig = %+v, want %+v", got.TLSConfig, tt.want.TLSConfig)
			}
			got.TLSConfig, tt.want.TLSConfig = nil, nil
			if got != tt.want {
				t.Errorf("RedisOpt(%q) = %+v, want %+v", tt.url, got, tt.want)
			}
		})
	}
}

func TestRedisOptErrors(t *testing.T) {
	tests := []struct {
		name, url, want string
	}{
		{"empty", "", "empty"},
		{"no scheme", "localhost:6379", `unsupported scheme "localhost"`},
		{"path only", "/var/run/redis", "no scheme"},
		{"other scheme", "http://h:6379", `unsupported scheme "http"`},
		{"no host", "redis:///3", "no host"},
		{"database not a number", "redis://:s3cret@h:1/cache", "database number"},
		{"bad port", "redis://:s3cret@h:port", "invalid port"},
		{"bad escape", "redis://:s3cret%zz@h", "invalid URL escape"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := queue.RedisOpt(tt.url)
			if err == nil {
				t.Fatalf("RedisOpt(%q) succeeded, want an error", tt.url)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not say %q", msg, tt.want)
			}
			if !strings.Contains(msg, "redis://[[user]:password@]host") {
				t.Errorf("error %q does not show what a Redis URL looks like", msg)
			}
			if strings.Contains(msg, "s3cret") {
				t.Errorf("error %q shows the password", msg)
			}
		})
	}
}

func TestRetryDelay(t *testing.T) {
	want := []time.Duration{
		500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
		10 * time.Second, 10 * time.Second,
	}
	for n, w := range want {
		if got := queue.RetryDelay(n, nil, nil); got != w {
			t.Errorf("RetryDelay(%d) = %s, want %s", n, got, w)
		}
	}
	for _, n := range []int{-1, 1000, int(^uint(0) >> 1)} {
		if got := queue.RetryDelay(n, nil, nil); got < 500*time.Millisecond || got > 10*time.Second {
			t.Errorf("RetryDelay(%d) = %s, want between 500ms and 10s", n, got)
		}
	}
}

func TestServerConfig(t *testing.T) {
	cfg := queue.ServerConfig(asynq.Config{Concurrency: 3})
	if cfg.RetryDelayFunc == nil || cfg.RetryDelayFunc(1, nil, nil) != time.Second {
		t.Errorf("RetryDelayFunc is not RetryDelay")
	}
	if cfg.DelayedTaskCheckInterval != queue.DuePollInterval || cfg.TaskCheckInterval != queue.PollInterval {
		t.Errorf("check intervals = %s, %s; want %s, %s", cfg.DelayedTaskCheckInterval, cfg.TaskCheckInterval, queue.DuePollInterval, queue.PollInterval)
	}
	if cfg.Concurrency != 3 {
		t.Errorf("Concurrency = %d, want the caller's 3", cfg.Concurrency)
	}
	mine := func(int, error, *asynq.Task) time.Duration { return time.Minute }
	cfg = queue.ServerConfig(asynq.Config{RetryDelayFunc: mine, DelayedTaskCheckInterval: time.Second})
	if cfg.RetryDelayFunc(0, nil, nil) != time.Minute || cfg.DelayedTaskCheckInterval != time.Second {
		t.Errorf("ServerConfig replaced the caller's settings")
	}
}
