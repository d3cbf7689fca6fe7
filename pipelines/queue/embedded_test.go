package queue_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
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
	if !strings.HasPrefix(e.RedisURL(), "redis://:") || !strings.HasSuffix(e.RedisURL(), "@"+e.Addr()) {
		t.Errorf("RedisURL() = %q, want redis://:<password>@%s", e.RedisURL(), e.Addr())
	}
	ctx := context.Background()
	if err := redisClient(t, e.RedisURL()).Ping(ctx).Err(); err != nil {
		t.Errorf("ping %s: %v", e.RedisURL(), err)
	}
}

// The default embedded server, the one `seedbed serve` runs, opens no port
// and no socket: asynq reaches it through in-memory pipes, and no other
// process, whatever its user, has anything to connect to.
func TestEmbeddedListensNowhere(t *testing.T) {
	before := listeningSockets(t)
	e, err := queue.StartEmbedded(context.Background(), queue.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if e.Addr() != "" || e.RedisURL() != "" {
		t.Errorf("Addr() = %q, RedisURL() = %q; want both empty", e.Addr(), e.RedisURL())
	}

	// asynq works through ConnOpt: enqueue, run, inspect.
	opt := e.ConnOpt()
	done := make(chan string, 1)
	runServer(t, opt, asynq.Config{Queues: map[string]int{"builds": 1}}, "build:run", func(ctx context.Context, task *asynq.Task) error {
		done <- string(task.Payload())
		return nil
	})
	if _, err := newClient(t, opt).Enqueue(asynq.NewTask("build:run", []byte("7")), asynq.Queue("builds"), asynq.TaskID("build:7")); err != nil {
		t.Fatalf("enqueue through ConnOpt: %v", err)
	}
	if got := receive(t, done, 10*time.Second, "handler"); got != "7" {
		t.Errorf("handled %q, want 7", got)
	}
	if _, err := newInspector(t, opt).Queues(); err != nil {
		t.Errorf("inspect through ConnOpt: %v", err)
	}

	for sock := range listeningSockets(t) {
		if !before[sock] {
			t.Errorf("the embedded server opened a listening socket: %s", sock)
		}
	}
}

// listeningSockets returns the TCP and Unix sockets this process listens
// on, read from /proc: the socket inodes among its open files that
// /proc/net lists in the LISTEN state.
func listeningSockets(t *testing.T) map[string]bool {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	mine := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			mine[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	out := map[string]bool{}
	for _, table := range []struct {
		file        string
		state, node int // field indexes
		listen      string
	}{
		{"/proc/net/tcp", 3, 9, "0A"},
		{"/proc/net/tcp6", 3, 9, "0A"},
		{"/proc/net/unix", 5, 6, "01"}, // St 01 with the listening flag
	} {
		f, err := os.Open(table.file)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) <= table.node {
				continue
			}
			listening := fields[table.state] == table.listen
			if table.file == "/proc/net/unix" {
				listening = fields[3] == "00010000" // __SO_ACCEPTCON
			}
			if listening && mine[fields[table.node]] {
				out[fmt.Sprintf("%s inode %s", table.file, fields[table.node])] = true
			}
		}
		f.Close()
	}
	return out
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

// A server that listens on a port requires a password, random unless one is
// given: a build or any other local process that finds the port can run no
// command, neither read jobs nor delete nor inject them.
func TestEmbeddedPassword(t *testing.T) {
	tests := []struct {
		name     string
		password string
	}{
		{"random", ""},
		{"given", "p@ss/word"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := queue.StartEmbedded(context.Background(), queue.EmbeddedOptions{Addr: "127.0.0.1:0", Password: tt.password})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { e.Close() })
			u, err := url.Parse(e.RedisURL())
			if err != nil {
				t.Fatal(err)
			}
			pw, _ := u.User.Password()
			switch {
			case tt.password != "" && pw != tt.password:
				t.Errorf("RedisURL() password = %q, want %q", pw, tt.password)
			case tt.password == "" && len(pw) < 32:
				t.Errorf("RedisURL() password = %q, want a long random one", pw)
			}

			// Through RedisOpt, as Seedbed connects, and through ConnOpt.
			for name, opt := range map[string]asynq.RedisConnOpt{"url": redisOpt(t, e.RedisURL()), "ConnOpt": e.ConnOpt()} {
				if _, err := newClient(t, opt).Enqueue(asynq.NewTask("build:run", nil), asynq.TaskID("build:"+name)); err != nil {
					t.Errorf("enqueue through %s: %v", name, err)
				}
			}

			ctx := context.Background()
			for _, who := range []struct{ name, password string }{{"no password", ""}, {"wrong password", "guess"}} {
				c := redis.NewClient(&redis.Options{Addr: e.Addr(), Password: who.password, MaxRetries: -1})
				t.Cleanup(func() { c.Close() })
				cmds := map[string]error{
					"PING":  c.Ping(ctx).Err(),
					"KEYS":  c.Keys(ctx, "*").Err(),
					"DEL":   c.Del(ctx, "asynq:{default}:t:build:url").Err(),
					"LPUSH": c.LPush(ctx, "asynq:{default}:pending", "evil").Err(),
				}
				for cmd, err := range cmds {
					if err == nil {
						t.Errorf("%s with %s succeeded", cmd, who.name)
					}
				}
			}
			if n := redisClient(t, e.RedisURL()).Exists(ctx, "asynq:{default}:t:build:url").Val(); n != 1 {
				t.Errorf("the task is gone after the refused DEL")
			}
		})
	}
}

func TestEmbeddedClose(t *testing.T) {
	e := startEmbedded(t)
	// Without retries: the pings after Close are meant to fail, and fast.
	o, err := redis.ParseURL(e.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	o.MaxRetries, o.DialerRetries = -1, 1
	c := redis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	inProcess := asynq.NewInspector(e.ConnOpt())
	t.Cleanup(func() { inProcess.Close() })
	ctx := context.Background()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := inProcess.Queues(); err != nil {
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
	// An in-memory connection is refused too, rather than reaching a new,
	// empty server.
	if _, err := e.Dial(); !errors.Is(err, queue.ErrEmbeddedClosed) {
		t.Errorf("Dial after Close: err = %v, want ErrEmbeddedClosed", err)
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
	p, err := queue.NewPinger(e.ConnOpt())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.Ping(context.Background()); err != nil {
		t.Errorf("ping after the start context ended: %v", err)
	}
}
