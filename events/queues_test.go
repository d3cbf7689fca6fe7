package events

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
	"github.com/seedbed/seedbed/testutil"
)

// consumer is an Invoker for a queue's subscriber: it records each
// message it got (body and receive count), how many batches ran at once
// at most, and fails the messages whose body starts with "poison".
type consumer struct {
	hold time.Duration // how long a batch runs

	mu       sync.Mutex
	running  int
	overlap  int
	receives map[string][]time.Time // by body
	counts   map[string][]string    // ApproximateReceiveCount, by body
}

func newConsumer(hold time.Duration) *consumer {
	return &consumer{hold: hold, receives: map[string][]time.Time{}, counts: map[string][]string{}}
}

func (c *consumer) Invoke(ctx context.Context, ref targets.StageRef, fn string, ev targets.Event) (targets.Result, error) {
	var e struct {
		Records []sqsRecord `json:"Records"`
	}
	if err := json.Unmarshal(ev.Payload, &e); err != nil {
		return targets.Result{}, err
	}
	c.mu.Lock()
	c.running++
	c.overlap = max(c.overlap, c.running)
	now := time.Now()
	var failures []map[string]string
	for _, r := range e.Records {
		c.receives[r.Body] = append(c.receives[r.Body], now)
		c.counts[r.Body] = append(c.counts[r.Body], r.Attributes["ApproximateReceiveCount"])
		if strings.HasPrefix(r.Body, "poison") {
			failures = append(failures, map[string]string{"itemIdentifier": r.MessageID})
		}
	}
	c.mu.Unlock()
	time.Sleep(c.hold)
	c.mu.Lock()
	c.running--
	c.mu.Unlock()
	b, _ := json.Marshal(map[string]any{"batchItemFailures": failures})
	return targets.Result{Payload: b}, nil
}

func (c *consumer) got(body string) []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.receives[body]...)
}

func (c *consumer) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.receives {
		n += len(r)
	}
	return n
}

// queueStage is the bundle's stage with a queue and a subscriber.
func queueStage(b *bundle, q stack.Queue, ev stack.Event) Stage {
	st := b.stage
	ev.Queue = q.Name
	st.Queues = []stack.Queue{q}
	st.Functions = []targets.Function{{Service: "jobs", Name: "consume", Runtime: "go", Kind: stack.KindLambda, Handler: "bootstrap", Events: []stack.Event{ev}}}
	return st
}

// startConsumers starts one Service per invoker, each standing for one
// Seedbed process, on the bundle's database.
func startConsumers(t *testing.T, b *bundle, st Stage, invokers ...targets.Invoker) []*Service {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	var out []*Service
	for _, inv := range invokers {
		svc := New(Config{Store: b.store, Stages: fixedStages{st}, Queue: &taskLog{}, Invoker: inv})
		wg.Go(func() { svc.RunQueues(ctx, 200*time.Millisecond) })
		out = append(out, svc)
	}
	return out
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", d, what)
		}
	}
}

// TestQueueConcurrencyAcrossProcesses runs two processes consuming one
// queue: however many messages wait, no more batches run at once than the
// subscription's concurrency, and every message is taken once.
func TestQueueConcurrencyAcrossProcesses(t *testing.T) {
	for _, conc := range []int{1, 2} {
		t.Run(fmt.Sprintf("concurrency %d", conc), func(t *testing.T) {
			b := setup(t, "rate(1 minute)")
			st := queueStage(b, stack.Queue{Name: "orders", VisibilityTimeout: 30 * time.Second, MaxReceives: 3}, stack.Event{Batch: 2, Concurrency: conc})
			c := newConsumer(60 * time.Millisecond)
			// Both processes run the same function: one consumer records
			// the overlap across them.
			svcs := startConsumers(t, b, st, c, c)
			const n = 24
			for i := range n {
				if _, err := svcs[i%2].Send(context.Background(), st.Ref, "orders", []byte(fmt.Sprintf("m%d", i))); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "every message", 60*time.Second, func() bool { return c.total() >= n })
			time.Sleep(300 * time.Millisecond)
			if c.total() != n {
				t.Errorf("%d receives of %d messages", c.total(), n)
			}
			if c.overlap > conc {
				t.Errorf("%d batches ran at once; concurrency is %d", c.overlap, conc)
			}
			if conc > 1 && c.overlap < 2 {
				// 12 batches of 60 ms, sent at once, by two processes.
				t.Logf("note: batches never overlapped (machine too slow?)")
			}
			qs, err := svcs[0].ListQueues(context.Background(), st.Ref)
			if err != nil || len(qs) != 1 || qs[0].Depth != 0 || qs[0].InFlight != 0 || qs[0].DeadLetters != 0 {
				t.Errorf("queues after: %+v, %v", qs, err)
			}
		})
	}
}

// TestQueueVisibilityTimeout fails a message: it is received again only
// once the visibility timeout has passed, with its count raised, and
// after max_receives it is a dead letter, which a redrive puts back. The
// queue's numbers follow.
func TestQueueVisibilityTimeout(t *testing.T) {
	b := setup(t, "rate(1 minute)")
	vis := 1500 * time.Millisecond
	st := queueStage(b, stack.Queue{Name: "orders", VisibilityTimeout: vis, MaxReceives: 2}, stack.Event{Batch: 10, Concurrency: 1})
	c := newConsumer(0)
	svc := startConsumers(t, b, st, c)[0]
	ctx := context.Background()
	for _, body := range []string{"poison 1", "good 1"} {
		if _, err := svc.Send(ctx, st.Ref, "orders", []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	info := func() QueueInfo {
		qs, err := svc.ListQueues(ctx, st.Ref)
		if err != nil || len(qs) != 1 {
			t.Fatalf("queues: %+v, %v", qs, err)
		}
		return qs[0]
	}
	waitFor(t, "the first receive", 10*time.Second, func() bool { return len(c.got("poison 1")) == 1 && len(c.got("good 1")) == 1 })
	// Failed once: hidden, counted as waiting, not in flight.
	waitFor(t, "the failure recorded", 5*time.Second, func() bool { q := info(); return q.Depth == 1 && q.InFlight == 0 })
	waitFor(t, "the dead letter", 20*time.Second, func() bool { return info().DeadLetters == 1 })
	got := c.got("poison 1")
	if len(got) != 2 {
		t.Fatalf("poison received %d times, want max_receives (2)", len(got))
	}
	if gap := got[1].Sub(got[0]); gap < vis-50*time.Millisecond {
		t.Errorf("received again after %s; the visibility timeout is %s", gap, vis)
	}
	c.mu.Lock()
	counts := strings.Join(c.counts["poison 1"], ",")
	c.mu.Unlock()
	if counts != "1,2" {
		t.Errorf("ApproximateReceiveCount %s, want 1,2", counts)
	}
	if n := len(c.got("good 1")); n != 1 {
		t.Errorf("the good message was received %d times", n)
	}
	q := info()
	if q.Depth != 0 || q.InFlight != 0 || q.DeadLetters != 1 {
		t.Errorf("queue once the poison is dead: %+v", q)
	}
	dead, err := svc.DeadMessages(ctx, st.Ref, "orders")
	if err != nil || len(dead) != 1 || dead[0].Body != "poison 1" || dead[0].Receives != 2 {
		t.Fatalf("dead letters %+v, %v", dead, err)
	}
	if n, err := svc.RedriveQueue(ctx, st.Ref, "orders"); err != nil || n != 1 {
		t.Fatalf("redrive = %d, %v", n, err)
	}
	waitFor(t, "the redriven message received", 10*time.Second, func() bool { return len(c.got("poison 1")) == 3 })
	c.mu.Lock()
	counts = strings.Join(c.counts["poison 1"], ",")
	c.mu.Unlock()
	if counts != "1,2,1" {
		t.Errorf("after a redrive ApproximateReceiveCount %s, want 1,2,1", counts)
	}
	// Purge takes the waiting (hidden after its failure), not the dead.
	waitFor(t, "the failure recorded", 5*time.Second, func() bool { q := info(); return q.Depth == 1 && q.InFlight == 0 })
	if n, err := svc.PurgeQueue(ctx, st.Ref, "orders"); err != nil || n != 1 {
		t.Errorf("purge = %d, %v", n, err)
	}
	if q := info(); q.Depth != 0 || q.DeadLetters != 0 {
		t.Errorf("after the purge: %+v", q)
	}
}

// TestQueueIdleLatency sends to an idle consumer, on SQLite and on
// PostgreSQL: it gets the message at once, not after a grace period or the
// sweep (an hour apart here).
func TestQueueIdleLatency(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			url := filepath.Join(t.TempDir(), "seedbed.db")
			if db == "postgres" {
				url = testutil.PostgresURL(t)
			}
			b := setupOn(t, url, "rate(1 minute)")
			st := queueStage(b, stack.Queue{Name: "orders", VisibilityTimeout: 30 * time.Second, MaxReceives: 3}, stack.Event{Batch: 10, Concurrency: 2})
			c := newConsumer(0)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			svc := New(Config{Store: b.store, Stages: fixedStages{st}, Queue: &taskLog{}, Invoker: c})
			go svc.RunQueues(ctx, time.Hour)
			var lat []time.Duration
			for i := range 30 {
				body := fmt.Sprintf("m%d", i)
				sent := time.Now()
				if _, err := svc.Send(ctx, st.Ref, "orders", []byte(body)); err != nil {
					t.Fatal(err)
				}
				waitFor(t, body, 10*time.Second, func() bool { return len(c.got(body)) == 1 })
				lat = append(lat, c.got(body)[0].Sub(sent))
				time.Sleep(20 * time.Millisecond) // idle again
			}
			slow := 0
			for _, l := range lat {
				if l > 500*time.Millisecond {
					slow++
				}
			}
			slices.Sort(lat)
			t.Logf("send → handler: p50 %s, max %s", lat[len(lat)/2], lat[len(lat)-1])
			if slow > 3 {
				t.Errorf("%d of %d messages took over 500 ms to reach an idle consumer: %v", slow, len(lat), lat)
			}
		})
	}
}

// TestQueueMessagesSurviveTheProcess stops a process mid-batch: a second
// one, on the same database, takes every message once the first one's
// visibility timeout and slot lease ran out.
func TestQueueMessagesSurviveTheProcess(t *testing.T) {
	b := setup(t, "rate(1 minute)")
	st := queueStage(b, stack.Queue{Name: "orders", VisibilityTimeout: time.Second, MaxReceives: 5}, stack.Event{Batch: 2, Concurrency: 1})
	ctx := context.Background()
	// The first process's function never answers: it is killed.
	stuck := &blockInvoker{started: make(chan struct{}, 10)}
	runCtx, kill := context.WithCancel(ctx)
	first := New(Config{Store: b.store, Stages: fixedStages{st}, Queue: &taskLog{}, Invoker: stuck})
	go first.RunQueues(runCtx, 200*time.Millisecond)
	for i := range 5 {
		if _, err := first.Send(ctx, st.Ref, "orders", []byte(fmt.Sprintf("m%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	<-stuck.started
	kill() // the process is gone; its batch's messages stay hidden, its slot leased
	c := newConsumer(0)
	startConsumers(t, b, st, c)
	waitFor(t, "every message", 30*time.Second, func() bool { return c.total() >= 5 })
	for i := range 5 {
		if n := len(c.got(fmt.Sprintf("m%d", i))); n != 1 {
			t.Errorf("m%d received %d times by the second process", i, n)
		}
	}
	var left []store.QueueMessage
	waitFor(t, "an empty queue", 5*time.Second, func() bool {
		left, _ = b.store.DeadQueueMessages(ctx, st.ID, "orders", 10)
		c, _ := b.store.CountQueueMessages(ctx, st.ID, "orders", time.Now().UnixMilli())
		return len(left) == 0 && c.Waiting == 0 && c.InFlight == 0
	})
}

// blockInvoker never answers (until its context ends, which a killed
// process's would not).
type blockInvoker struct{ started chan struct{} }

func (b *blockInvoker) Invoke(ctx context.Context, ref targets.StageRef, fn string, ev targets.Event) (targets.Result, error) {
	b.started <- struct{}{}
	select {} // a killed process never comes back
}

// TestQueueLegacyBatch hands over messages a Redis kept in asynq groups
// before migration 0025: they are recorded (once, however often the batch
// task comes) and consumed.
func TestQueueLegacyBatch(t *testing.T) {
	b := setup(t, "rate(1 minute)")
	st := queueStage(b, stack.Queue{Name: "orders", VisibilityTimeout: 30 * time.Second, MaxReceives: 3}, stack.Event{Batch: 10, Concurrency: 1})
	// The batch task is handled before any consumer runs: a message taken
	// and deleted in between would be recorded again by the second
	// delivery (at least once).
	svc := New(Config{Store: b.store, Stages: fixedStages{st}, Queue: &taskLog{}})
	var raws []json.RawMessage
	for i := range 3 {
		m, _ := json.Marshal(message{StageID: st.ID, App: st.Ref.App, Stage: st.Ref.Stage, Queue: "orders", ID: fmt.Sprintf("old-%d", i), Body: fmt.Sprintf("old %d", i), SentMS: 1})
		raws = append(raws, m)
	}
	payload, _ := json.Marshal(raws)
	for range 2 { // asynq delivers at least once
		if err := svc.HandleBatch(context.Background(), asynq.NewTask(TaskBatch, payload)); err != nil {
			t.Fatal(err)
		}
	}
	c := newConsumer(0)
	startConsumers(t, b, st, c)
	waitFor(t, "the old messages", 10*time.Second, func() bool { return c.total() >= 3 })
	time.Sleep(300 * time.Millisecond)
	for i := range 3 {
		if n := len(c.got(fmt.Sprintf("old %d", i))); n != 1 {
			t.Errorf("old %d received %d times", i, n)
		}
	}
}
