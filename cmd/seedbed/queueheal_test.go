package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/seedbed/seedbed/pipelines/queue"
	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web/apiv1"
)

// queueClient is a Redis client on the queue a test app runs on: the
// in-process server, or the test's Redis database.
func (a *testApp) queueClient() redis.UniversalClient {
	a.t.Helper()
	var opt asynq.RedisConnOpt
	if a.embed != nil {
		opt = a.embed.ConnOpt()
	} else {
		o, err := queue.RedisOpt(a.cfg.RedisURL)
		if err != nil {
			a.t.Fatal(err)
		}
		opt = o
	}
	c := opt.MakeRedisClient().(redis.UniversalClient)
	a.t.Cleanup(func() { c.Close() })
	return c
}

// A FLUSHDB while one build runs and another waits loses both jobs. The
// waiting build is queued again and runs within 30s; the running one is not
// run a second time beside the first.
func TestFlushDBIsHealed(t *testing.T) {
	for _, be := range []backend{embedded, servers} {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			a := bootApp(t, Config{
				Addr: "127.0.0.1:0", GatewayAddr: "127.0.0.1:0", DataDir: dir,
				DatabaseURL: be.database(t, dir), RedisURL: be.redis(t), Domain: "localhost",
				// One at a time: the second build waits in the queue.
				Workers: 1, AdminEmail: adminEmail, AdminPassword: adminPassword,
				BuildTimeout: 5 * time.Minute, BuildEnv: testutil.GoEnv(t), Deploys: true, Builds: true,
				ReconcileInterval: 500 * time.Millisecond,
			})
			if a.embed != nil && (a.embed.Addr() != "" || a.embed.RedisURL() != "") {
				t.Errorf("the in-process queue listens on %q; want no port or socket", a.embed.Addr())
			}
			repo := a.newAppRepoOnly()
			repo.Commit("a slow build", map[string]string{"seedbed.yml": `services:
  api:
    path: services/api
    runtime: go
    hooks:
      before_build: ["echo hook-ran; sleep 3"]
    functions:
` + helloFunction})
			ctx := context.Background()
			if _, err := a.api.CreateApp(ctx, apiv1.CreateAppRequest{Name: "heal", RepoURL: repo.Dir, Branch: "main"}); err != nil {
				t.Fatal(err)
			}
			first, err := a.api.Deploy(ctx, "heal", apiv1.DeployRequest{Stage: "dev"})
			if err != nil {
				t.Fatal(err)
			}
			second, err := a.api.Deploy(ctx, "heal", apiv1.DeployRequest{Stage: "staging"})
			if err != nil {
				t.Fatal(err)
			}
			// Flush while the first build's hook sleeps.
			deadline := time.Now().Add(2 * time.Minute)
			for !strings.Contains(a.logText("build", first.Build.ID), "hook-ran") {
				if time.Now().After(deadline) {
					t.Fatalf("build %d did not reach its hook", first.Build.ID)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if b, err := a.api.Build(ctx, second.Build.ID); err != nil || b.Status != "queued" {
				t.Fatalf("build %d before the flush: %+v, %v; want queued", second.Build.ID, b, err)
			}
			qc := a.queueClient()
			flushed := time.Now()
			if err := qc.FlushDB(ctx).Err(); err != nil {
				t.Fatalf("FLUSHDB: %v", err)
			}
			// The waiting build's job is back within 30s (its key, in
			// asynq v0.26.0's layout); it runs once the one worker is free.
			key := "asynq:{builds}:t:build:" + strconv.FormatUint(uint64(second.Build.ID), 10)
			for qc.Exists(ctx, key).Val() == 0 {
				if time.Since(flushed) > 30*time.Second {
					t.Fatalf("build %d was not queued again within 30s of the flush", second.Build.ID)
				}
				time.Sleep(50 * time.Millisecond)
			}
			t.Logf("the waiting build was queued again %s after the flush", time.Since(flushed).Round(time.Millisecond))

			for _, d := range []apiv1.DeployResponse{first, second} {
				got := a.waitDeploy(d.Deploy.ID)
				if got.Status != "succeeded" {
					t.Errorf("deploy %d: %s %q, want succeeded", got.ID, got.Status, got.Error)
				}
			}
			b1, err := a.api.Build(ctx, first.Build.ID)
			if err != nil {
				t.Fatal(err)
			}
			b, err := a.api.Build(ctx, second.Build.ID)
			if err != nil {
				t.Fatal(err)
			}
			// The worker is free from the end of the first build.
			free := flushed
			if b1.FinishedAt != nil && b1.FinishedAt.After(free) {
				free = *b1.FinishedAt
			}
			if b.StartedAt == nil || b.StartedAt.Sub(free) > 30*time.Second {
				t.Errorf("the waiting build started at %v, more than 30s after the flush and the worker was free (%v)", b.StartedAt, free)
			} else {
				t.Logf("the waiting build started %s after the flush", b.StartedAt.Sub(flushed).Round(time.Millisecond))
			}
			log := a.logText("build", first.Build.ID)
			// The hook's output line, not the command line that echoes it.
			if n := strings.Count(log, "\nhook-ran\n"); n != 1 || strings.Contains(log, "starting it over") {
				t.Errorf("the running build ran its hook %d times (want once):\n%s", n, log)
			}
		})
	}
}

// serve and worker refuse to start on a queue they cannot reach, and say
// where (without the password) and what to check.
func TestServeRefusesUnreachableQueue(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	redisURL := "redis://:hunter2@" + closed + "/3"
	tests := []struct {
		name string
		args []string
	}{
		{"serve", []string{"serve"}},
		{"worker", []string{"worker", "--database-url", testutil.PostgresURL(t)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(tt.args, "--redis-url", redisURL, "--data-dir", t.TempDir(), "--build-user", "none",
				"--addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0")
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			start := time.Now()
			code := run(ctx, args, func(string) string { return "" }, strings.NewReader(""), &stdout, &stderr)
			took := time.Since(start)
			out := stdout.String() + stderr.String()
			if code != 1 {
				t.Fatalf("exit %d, want 1; output:\n%s", code, out)
			}
			for _, want := range []string{"cannot reach the queue at redis://:xxxxx@" + closed + "/3", "connection refused", "SEEDBED_REDIS_URL", "Check that Redis runs"} {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr does not say %q:\n%s", want, stderr.String())
				}
			}
			if strings.Contains(out, "hunter2") {
				t.Errorf("the output shows the password:\n%s", out)
			}
			if strings.Contains(stdout.String(), "is running") {
				t.Errorf("it says it is running:\n%s", stdout.String())
			}
			if took > 15*time.Second {
				t.Errorf("refusing took %s", took)
			}
			t.Logf("refused in %s: %s", took.Round(time.Millisecond), strings.TrimSpace(stderr.String()))
		})
	}
}

// /healthz reports the database and the queue, and answers 503 when the
// queue goes away; a deploy asked for meanwhile is recorded, answered with
// a message saying so, and runs once the queue is back.
func TestQueueOutage(t *testing.T) {
	proxy := newTCPProxy(t, testutil.RedisURL(t))
	dir := t.TempDir()
	a := bootApp(t, Config{
		Addr: "127.0.0.1:0", GatewayAddr: "127.0.0.1:0", DataDir: dir,
		DatabaseURL: testutil.PostgresURL(t), RedisURL: proxy.url, Domain: "localhost",
		Workers: 2, AdminEmail: adminEmail, AdminPassword: adminPassword,
		BuildTimeout: 5 * time.Minute, BuildEnv: testutil.GoEnv(t), Deploys: true, Builds: true,
		ReconcileInterval: 500 * time.Millisecond,
	})
	a.newAppRepo("outage")

	health := func(wantStatus int, want map[string]string) {
		t.Helper()
		resp, err := http.Get(a.ConsoleURL() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var got map[string]string
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("/healthz body %q is not JSON: %v", body, err)
		}
		if resp.StatusCode != wantStatus || len(got) != len(want) || got["database"] != want["database"] || got["queue"] != want["queue"] {
			t.Errorf("/healthz = %d %s, want %d %v", resp.StatusCode, body, wantStatus, want)
		}
		if strings.Contains(string(body), proxy.addr) || strings.Contains(string(body), "127.0.0.1") {
			t.Errorf("/healthz tells where the queue is: %s", body)
		}
	}
	health(http.StatusOK, map[string]string{"database": "ok", "queue": "ok"})

	proxy.down()
	health(http.StatusServiceUnavailable, map[string]string{"database": "ok", "queue": "unreachable"})

	ctx := context.Background()
	_, err := a.api.Deploy(ctx, "outage", apiv1.DeployRequest{Stage: "dev"})
	var apiErr *apiv1.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusServiceUnavailable || !strings.Contains(apiErr.Body.Message, "is recorded") {
		t.Fatalf("deploy with the queue down: %v, want 503 saying the build is recorded", err)
	}
	t.Logf("deploy with the queue down: %d %s", apiErr.Status, apiErr.Body.Message)
	builds, err := a.api.Builds(ctx, "outage")
	if err != nil || len(builds) != 1 || builds[0].Status != "queued" {
		t.Fatalf("builds after the refused deploy: %+v, %v; want one, queued", builds, err)
	}
	app, err := a.store.AppByName(ctx, "outage")
	if err != nil {
		t.Fatal(err)
	}
	deploys, err := a.store.Deploys(ctx, app.ID, 10)
	if err != nil || len(deploys) != 1 {
		t.Fatalf("deploys after the refused deploy: %+v, %v; want one", deploys, err)
	}

	proxy.up()
	back := time.Now()
	health(http.StatusOK, map[string]string{"database": "ok", "queue": "ok"})
	d := a.waitDeploy(deploys[0].ID)
	if d.Status != "succeeded" {
		t.Fatalf("deploy %d after the queue came back: %s %q", d.ID, d.Status, d.Error)
	}
	b, err := a.api.Build(ctx, builds[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if b.StartedAt == nil || b.StartedAt.Sub(back) > 30*time.Second {
		t.Errorf("the build started at %v, more than 30s after the queue came back", b.StartedAt)
	} else {
		t.Logf("the build started %s after the queue came back", b.StartedAt.Sub(back).Round(time.Millisecond))
	}
}

// tcpProxy forwards a port to a Redis server, and can be cut and restored
// on the same port: the queue going away and coming back, as a network or
// a Redis restart does, without touching the real server other tests share.
type tcpProxy struct {
	t      *testing.T
	target string // host:port of the real server
	addr   string // host:port the proxy listens on
	url    string // the Redis URL with the proxy's address

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
}

func newTCPProxy(t *testing.T, redisURL string) *tcpProxy {
	t.Helper()
	u, err := url.Parse(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{t: t, target: u.Host, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	u.Host = p.addr
	p.url = u.String()
	p.serve(ln)
	t.Cleanup(p.down)
	return p
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[s] = true, true
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
}

// down closes the port and every connection through it.
func (p *tcpProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// up listens on the same port again.
func (p *tcpProxy) up() {
	p.t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("listen on %s again: %v", p.addr, err)
	}
	p.serve(ln)
}
