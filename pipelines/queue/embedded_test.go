package queue_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/seedbed/seedbed/pipelines/queue"
)

func TestEmbeddedURL(t *testing.T) {
	e := startEmbedded(t)
	host, port, err := net.SplitHostPort(e.Addr())
	if err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("Addr() = %q, want 127.0.0.1:<port>", e.Addr())
	}
	if got, want := e.RedisURL(), "redis://"+e.Addr(); got != want {
		t.Errorf("RedisURL() = %q, want %q", got, want)
	}
	ctx := context.Background()
	if err := redisClient(t, e.RedisURL()).Ping(ctx).Err(); err != nil {
		t.Errorf("ping %s: %v", e.RedisURL(), err)
	}
}

func TestEmbeddedKeysExpire(t *testing.T) {
	e := startEmbedded(t)
	c := redisClient(t, e.RedisURL())
	ctx := context.Background()
	if err := c.Set(ctx, "lock", "build:1", 300*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "stats", 1, 0).Err(); err != nil {
		t.Fatal(err)
	}
	// EXPIREAT on a key that exists, as asynq ends its daily statistics; it
	// takes whole seconds, so pick the second after the next.
	statsEnd := time.Unix(time.Now().Unix()+2, 0)
	if err := c.ExpireAt(ctx, "stats", statsEnd).Err(); err != nil {
		t.Fatal(err)
	}
	if n := c.Exists(ctx, "lock", "stats").Val(); n != 2 {
		t.Fatalf("right after SET: %d of 2 keys exist", n)
	}
	time.Sleep(300*time.Millisecond + 2*queue.DefaultTick)
	if c.Exists(ctx, "lock").Val() != 0 || c.Exists(ctx, "stats").Val() != 1 {
		t.Errorf("after 300ms + 2 ticks: lock exists %d, stats exists %d; want 0, 1",
			c.Exists(ctx, "lock").Val(), c.Exists(ctx, "stats").Val())
	}
	time.Sleep(time.Until(statsEnd) + 2*queue.DefaultTick)
	if n := c.Exists(ctx, "stats").Val(); n != 0 {
		t.Errorf("key past its EXPIREAT still exists")
	}
}

func TestEmbeddedPassword(t *testing.T) {
	e, err := queue.StartEmbedded(context.Background(), queue.EmbeddedOptions{Password: "p@ss/word"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if !strings.HasPrefix(e.RedisURL(), "redis://:") {
		t.Errorf("RedisURL() = %q, want the password in it", e.RedisURL())
	}
	ctx := context.Background()
	if err := redisClient(t, "redis://"+e.Addr()).Ping(ctx).Err(); err == nil {
		t.Errorf("ping without the password succeeded")
	}
	// Through RedisOpt, as Seedbed connects.
	c := newClient(t, redisOpt(t, e.RedisURL()))
	if _, err := c.Enqueue(asynq.NewTask("build:run", nil)); err != nil {
		t.Errorf("enqueue with the password: %v", err)
	}
}

func TestEmbeddedClose(t *testing.T) {
	e := startEmbedded(t)
	// Without retries: the pings after Close are meant to fail, and fast.
	c := redis.NewClient(&redis.Options{Addr: e.Addr(), MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if e.Addr() == "" {
		t.Errorf("Addr() empty after Close")
	}
	if err := c.Ping(ctx).Err(); err == nil {
		t.Errorf("ping after Close succeeded")
	}
	// The port is free again.
	ln, err := net.Listen("tcp", e.Addr())
	if err != nil {
		t.Errorf("listen on %s after Close: %v", e.Addr(), err)
	} else {
		ln.Close()
	}
}

func TestStartEmbeddedErrors(t *testing.T) {
	e := startEmbedded(t)
	if _, err := queue.StartEmbedded(context.Background(), queue.EmbeddedOptions{Addr: e.Addr()}); err == nil ||
		!strings.Contains(err.Error(), e.Addr()) {
		t.Errorf("start on a port in use: err = %v, want one naming %s", err, e.Addr())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := queue.StartEmbedded(ctx, queue.EmbeddedOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("start with a cancelled context: err = %v, want context.Canceled", err)
	}
}

// The server outlives the context it was started with: a process shuts its
// workers down first, and they need Redis to hand their tasks back.
func TestEmbeddedOutlivesStartContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	e, err := queue.StartEmbedded(ctx, queue.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	cancel()
	time.Sleep(2 * queue.DefaultTick)
	if err := redisClient(t, e.RedisURL()).Ping(context.Background()).Err(); err != nil {
		t.Errorf("ping after the start context ended: %v", err)
	}
}
