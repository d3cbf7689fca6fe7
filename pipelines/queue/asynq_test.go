package queue_test

// The tests in this file are what asynq needs from its Redis, run against the
// embedded server and a real Redis alike: if the embedded server is a real
// substitute, every one of them passes on both.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
)

func TestEnqueueAndProcess(t *testing.T) {
	// Every byte value, so that nothing between the client, the Lua scripts
	// and the server treats the payload as text.
	payload := make([]byte, 0, 512)
	for i := range 256 {
		payload = append(payload, byte(i))
	}
	payload = append(payload, []byte(`{"build_id":42,"note":"héllo"}`)...)

	for _, s := range testServers(t) {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			opt := redisOpt(t, s.url(t))
			type got struct {
				kind    string
				payload []byte
				id      string
				queue   string
			}
			done := make(chan got, 1)
			runServer(t, opt, asynq.Config{Queues: map[string]int{"builds": 1}}, "build:run",
				func(ctx context.Context, task *asynq.Task) error {
					id, _ := asynq.GetTaskID(ctx)
					q, _ := asynq.GetQueueName(ctx)
					done <- got{task.Type(), task.Payload(), id, q}
					return nil
				})

			info, err := newClient(t, opt).Enqueue(asynq.NewTask("build:run", payload), asynq.Queue("builds"))
			if err != nil {
				t.Fatalf("enqueue: %v", err)
			}
			g := receive(t, done, 10*time.Second, "handler")
			if g.kind != "build:run" || g.id != info.ID || g.queue != "builds" {
				t.Errorf("handled %s %s on %q, want build:run %s on \"builds\"", g.kind, g.id, g.queue, info.ID)
			}
			if !bytes.Equal(g.payload, payload) {
				t.Errorf("payload changed on the way:\n got %q\nwant %q", g.payload, payload)
			}
		})
	}
}

func TestRetryBackOffIsShort(t *testing.T) {
	for _, s := range testServers(t) {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			opt := redisOpt(t, s.url(t))
			var (
				mu       sync.Mutex
				attempts []time.Time
			)
			done := make(chan int, 1)
			runServer(t, opt, asynq.Config{}, "deploy:apply", func(ctx context.Context, task *asynq.Task) error {
				mu.Lock()
				defer mu.Unlock()
				attempts = append(attempts, time.Now())
				if len(attempts) <= 2 {
					return fmt.Errorf("attempt %d fails on purpose", len(attempts))
				}
				n, _ := asynq.GetRetryCount(ctx)
				done <- n
				return nil
			})

			start := time.Now()
			if _, err := newClient(t, opt).Enqueue(asynq.NewTask("deploy:apply", nil), asynq.MaxRetry(3)); err != nil {
				t.Fatalf("enqueue: %v", err)
			}
			retried := receive(t, done, 15*time.Second, "third attempt")
			took := time.Since(start)

			mu.Lock()
			defer mu.Unlock()
			t.Logf("attempts at +%s, +%s, +%s", attempts[0].Sub(start).Round(time.Millisecond),
				attempts[1].Sub(start).Round(time.Millisecond), attempts[2].Sub(start).Round(time.Millisecond))
			if retried != 2 {
				t.Errorf("retry count on the third attempt = %d, want 2", retried)
			}
			// RetryDelay asks for 500ms then 1s; asynq rounds retry times down to
			// the second and moves due ones every DuePollInterval. Its default back-off would
			// wait at least 15s before the first retry.
			if took > 4*time.Second {
				t.Errorf("two retries took %s, want under 4s", took)
			}
		})
	}
}

func TestUniqueLockExpires(t *testing.T) {
	const ttl = 2 * time.Second
	enqueue := func(c *asynq.Client) error {
		_, err := c.Enqueue(asynq.NewTask("build:run", []byte(`{"build_id":7}`)), asynq.Unique(ttl))
		return err
	}
	check := func(t *testing.T, opt asynq.RedisConnOpt, wantExpired bool) {
		t.Helper()
		c := newClient(t, opt)
		if err := enqueue(c); err != nil {
			t.Fatalf("first enqueue: %v", err)
		}
		if err := enqueue(c); !errors.Is(err, asynq.ErrDuplicateTask) {
			t.Fatalf("second enqueue within %s: err = %v, want ErrDuplicateTask", ttl, err)
		}
		// No server runs, so nothing releases the lock but its TTL.
		time.Sleep(ttl + time.Second)
		err := enqueue(c)
		switch {
		case wantExpired && err != nil:
			t.Fatalf("enqueue %s after the lock was taken: %v, want success (the lock should have expired)", ttl+time.Second, err)
		case !wantExpired && !errors.Is(err, asynq.ErrDuplicateTask):
			t.Fatalf("enqueue %s later on miniredis without a clock: err = %v, want ErrDuplicateTask", ttl+time.Second, err)
		}
	}

	for _, s := range testServers(t) {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			check(t, redisOpt(t, s.url(t)), true)
		})
	}
	// The same check on miniredis as it comes, without Embedded's clock: the
	// lock never expires. This is the trap Embedded exists for, and shows
	// that the check above can fail.
	t.Run("miniredis without clock", func(t *testing.T) {
		t.Parallel()
		m := miniredis.RunT(t)
		check(t, redisOpt(t, "redis://"+m.Addr()), false)
	})
}

func TestTaskIDDedupe(t *testing.T) {
	for _, s := range testServers(t) {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			opt := redisOpt(t, s.url(t))
			c := newClient(t, opt)
			enqueue := func() error {
				_, err := c.Enqueue(asynq.NewTask("build:run", []byte(`{"build_id":1}`)), asynq.TaskID("build:1"))
				return err
			}
			if err := enqueue(); err != nil {
				t.Fatalf("first enqueue: %v", err)
			}
			if err := enqueue(); !errors.Is(err, asynq.ErrTaskIDConflict) {
				t.Fatalf("second enqueue while queued: err = %v, want ErrTaskIDConflict", err)
			}

			done := make(chan string, 2)
			runServer(t, opt, asynq.Config{}, "build:run", func(ctx context.Context, task *asynq.Task) error {
				id, _ := asynq.GetTaskID(ctx)
				done <- id
				return nil
			})
			if id := receive(t, done, 10*time.Second, "first run"); id != "build:1" {
				t.Fatalf("ran task %q, want build:1", id)
			}
			// Done deletes a task kept for no retention; until then the ID is taken.
			insp := newInspector(t, opt)
			deadline := time.Now().Add(5 * time.Second)
			for {
				_, err := insp.GetTaskInfo("default", "build:1")
				if errors.Is(err, asynq.ErrTaskNotFound) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("task build:1 still there 5s after it ran (err %v)", err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := enqueue(); err != nil {
				t.Fatalf("enqueue after the task completed: %v", err)
			}
			if id := receive(t, done, 10*time.Second, "second run"); id != "build:1" {
				t.Fatalf("ran task %q, want build:1", id)
			}
		})
	}
}

// TestScheduledAndInspected covers the rest of asynq that Seedbed or its
// console may use: tasks processed later (the forwarder), completed tasks
// kept for a while, and the inspector's queue statistics, listings and
// deletes.
func TestScheduledAndInspected(t *testing.T) {
	for _, s := range testServers(t) {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			opt := redisOpt(t, s.url(t))
			c := newClient(t, opt)
			insp := newInspector(t, opt)

			// A task to list and delete, in a queue no server reads.
			doomed, err := c.Enqueue(asynq.NewTask("build:run", nil), asynq.Queue("idle"))
			if err != nil {
				t.Fatalf("enqueue: %v", err)
			}
			pending, err := insp.ListPendingTasks("idle")
			if err != nil || len(pending) != 1 || pending[0].ID != doomed.ID {
				t.Fatalf("ListPendingTasks(idle) = %v, %v; want the one task", pending, err)
			}
			if err := insp.DeleteTask("idle", doomed.ID); err != nil {
				t.Fatalf("DeleteTask: %v", err)
			}

			done := make(chan time.Time, 1)
			runServer(t, opt, asynq.Config{}, "deploy:apply", func(ctx context.Context, task *asynq.Task) error {
				done <- time.Now()
				return nil
			})
			start := time.Now()
			info, err := c.Enqueue(asynq.NewTask("deploy:apply", nil), asynq.ProcessIn(time.Second), asynq.Retention(time.Hour))
			if err != nil {
				t.Fatalf("enqueue: %v", err)
			}
			if info.State != asynq.TaskStateScheduled {
				t.Errorf("state = %v, want scheduled", info.State)
			}
			ran := receive(t, done, 10*time.Second, "scheduled task")
			// asynq keeps times to the second, so "in 1s" may come a little early.
			if d := ran.Sub(start); d > 3*time.Second {
				t.Errorf("task scheduled in 1s ran after %s", d)
			}

			var q *asynq.QueueInfo
			deadline := time.Now().Add(5 * time.Second)
			for {
				q, err = insp.GetQueueInfo("default")
				if err != nil {
					t.Fatalf("GetQueueInfo: %v", err)
				}
				if q.Completed == 1 || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if q.Completed != 1 || q.Processed != 1 || q.Scheduled != 0 {
				t.Errorf("queue info: completed %d, processed %d, scheduled %d; want 1, 1, 0", q.Completed, q.Processed, q.Scheduled)
			}
			kept, err := insp.GetTaskInfo("default", info.ID)
			if err != nil || kept.State != asynq.TaskStateCompleted {
				t.Errorf("completed task kept for an hour: %+v, %v", kept, err)
			}
			queues, err := insp.Queues()
			if err != nil {
				t.Fatalf("Queues: %v", err)
			}
			t.Logf("queues %v, memory usage %d bytes", queues, q.MemoryUsage)
		})
	}
}
