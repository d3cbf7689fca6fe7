package queue_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/seedbed/seedbed/pipelines/queue"
)

// helperWorkerEnv carries the Redis URL to TestHelperWorker; the test only
// does something when TestLeaseRecovery starts it in a child process.
const helperWorkerEnv = "SEEDBED_QUEUE_HELPER_WORKER_URL"

// startedMarker is the line the helper worker prints when its handler starts.
const startedMarker = "helper-worker: handling"

// TestLeaseRecovery proves that a task whose worker crashed is run again by
// another worker, on both servers. The worker is a child process, killed
// with SIGKILL while its handler runs, so it neither finishes the task nor
// hands it back.
//
// What asynq v0.26.0 does (internal/rdb/rdb.go, heartbeat.go, recoverer.go,
// server.go): a worker leases a task for rdb.LeaseDuration (30s) and its
// heartbeater extends the lease every 5s. Every server's recoverer looks for
// expired leases when it starts and then every minute (fixed), and only takes
// leases that expired at least 30s ago, to allow for clock skew. So a crashed
// worker's task is run again 55–60s after the crash by a server that was
// already running, and within a minute of its start by a new one. Neither
// interval can be configured, so this test takes about a minute.
func TestLeaseRecovery(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("takes about a minute (asynq's 30s lease + 30s skew allowance); skipped by -short except under CI=true")
	}
	for _, s := range testServers(t) {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			url := s.url(t)
			opt := redisOpt(t, url)
			info, err := newClient(t, opt).Enqueue(asynq.NewTask("deploy:apply", []byte(`{"deploy_id":9}`)), asynq.MaxRetry(3))
			if err != nil {
				t.Fatalf("enqueue: %v", err)
			}

			child := startHelperWorker(t, url)
			child.waitFor(t, startedMarker+" "+info.ID, 60*time.Second)
			insp := newInspector(t, opt)
			if ti, err := insp.GetTaskInfo("default", info.ID); err != nil || ti.State != asynq.TaskStateActive {
				t.Fatalf("task while the helper worker handles it: %+v, %v; want active", ti, err)
			}
			child.kill(t)
			killed := time.Now()

			// The lease the dead worker left behind, as a Unix time in seconds.
			rc := redisClient(t, url)
			score, err := rc.ZScore(context.Background(), "asynq:{default}:lease", info.ID).Result()
			if err != nil {
				t.Fatalf("read the task's lease: %v", err)
			}
			leaseEnd := time.Unix(int64(score), 0)
			t.Logf("worker killed; its lease ends at kill %+.1fs", leaseEnd.Sub(killed).Seconds())

			type run struct {
				at      time.Time
				retried int
			}
			again := make(chan run, 1)
			runServer(t, opt, asynq.Config{}, "deploy:apply", func(ctx context.Context, task *asynq.Task) error {
				n, _ := asynq.GetRetryCount(ctx)
				again <- run{time.Now(), n}
				return nil
			})
			r := receive(t, again, 75*time.Second, "the crashed worker's task run again")
			t.Logf("run again at kill +%.1fs (lease end +%.1fs)", r.at.Sub(killed).Seconds(), r.at.Sub(leaseEnd).Seconds())
			if r.at.Before(leaseEnd) {
				t.Errorf("task run again at %s, before its lease ended at %s", r.at.Format(time.TimeOnly), leaseEnd.Format(time.TimeOnly))
			}
			if d := r.at.Sub(killed); d > 70*time.Second {
				t.Errorf("task run again %s after the crash, want within 70s", d.Round(time.Second))
			}
			if r.retried != 1 {
				t.Errorf("retry count = %d, want 1 (the lease expiry counts as a failure)", r.retried)
			}
		})
	}
}

// TestHelperWorker is the worker TestLeaseRecovery starts in a child process
// and kills; run on its own it is skipped.
func TestHelperWorker(t *testing.T) {
	url := os.Getenv(helperWorkerEnv)
	if url == "" {
		t.Skip("helper process for TestLeaseRecovery")
	}
	// If the parent test dies, stdin closes: do not outlive it.
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(3)
	}()
	opt, err := queue.RedisOpt(url)
	if err != nil {
		t.Fatal(err)
	}
	srv := asynq.NewServer(opt, queue.ServerConfig(asynq.Config{Concurrency: 1, LogLevel: asynq.WarnLevel}))
	mux := asynq.NewServeMux()
	mux.HandleFunc("deploy:apply", func(ctx context.Context, task *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		fmt.Printf("%s %s\n", startedMarker, id)
		<-ctx.Done() // until killed
		return ctx.Err()
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Minute)
	t.Fatal("helper worker was not killed within 3 minutes")
}

// helperWorker is a running TestHelperWorker child process.
type helperWorker struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *bytes.Buffer
	once   sync.Once
}

// startHelperWorker starts TestHelperWorker in a child process against url;
// it is killed when t ends if it still runs.
func startHelperWorker(t *testing.T, url string) *helperWorker {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWorker$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperWorkerEnv+"="+url)
	if _, err := cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	w := &helperWorker{cmd: cmd, lines: make(chan string, 16), stderr: new(bytes.Buffer)}
	cmd.Stderr = w.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper worker: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case w.lines <- sc.Text():
			default: // nobody waits for more
			}
		}
		close(w.lines)
	}()
	t.Cleanup(func() { w.kill(t) })
	return w
}

// waitFor waits up to d for the child to print line.
func (w *helperWorker) waitFor(t *testing.T, line string, d time.Duration) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case l, ok := <-w.lines:
			if !ok {
				w.kill(t)
				t.Fatalf("helper worker exited before printing %q; stderr:\n%s", line, w.stderr)
			}
			if strings.TrimSpace(l) == line {
				return
			}
		case <-timeout:
			w.kill(t)
			t.Fatalf("helper worker did not print %q within %s; stderr:\n%s", line, d, w.stderr)
		}
	}
}

// kill sends SIGKILL, as a crash would end the process, and reaps it.
func (w *helperWorker) kill(t *testing.T) {
	t.Helper()
	w.once.Do(func() {
		if err := w.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("kill helper worker: %v", err)
		}
		_ = w.cmd.Wait() // "signal: killed"
	})
}

// redisClient returns a go-redis client for url, closed when t ends.
func redisClient(t *testing.T, url string) *redis.Client {
	t.Helper()
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return c
}
