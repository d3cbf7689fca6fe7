package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/seedbed/seedbed/store"
)

// TestQueueMessages walks messages through receive, failure, dead letter,
// redrive and purge on both databases, and has receivers race: each
// message goes to one of them.
func TestQueueMessages(t *testing.T) {
	eachDatabase(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const stage, q = 7, "orders"
		for i := range 20 {
			m := store.QueueMessage{ID: fmt.Sprintf("m%02d", i), StageID: stage, Queue: q, Body: []byte("b"), SentMS: int64(1000 + i), VisibleMS: 1000}
			if err := s.CreateQueueMessage(ctx, &m); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CreateQueueMessage(ctx, &store.QueueMessage{ID: "m00", StageID: stage, Queue: q, SentMS: 1, VisibleMS: 1}); err == nil {
			t.Error("a message recorded twice")
		}
		// Four receivers race for batches of 3 at t=2000.
		var mu sync.Mutex
		got := map[string]string{}
		var wg sync.WaitGroup
		for r := range 4 {
			wg.Go(func() {
				for {
					mu.Lock()
					receipt := fmt.Sprintf("r%d-%d", r, len(got))
					mu.Unlock()
					msgs, err := s.ReceiveQueueMessages(ctx, stage, q, receipt, 2000, 5000, 3, 3)
					if err != nil {
						t.Error(err)
						return
					}
					if len(msgs) == 0 {
						return
					}
					mu.Lock()
					for _, m := range msgs {
						if prev, ok := got[m.ID]; ok {
							t.Errorf("%s received by %s and %s", m.ID, prev, receipt)
						}
						got[m.ID] = receipt
						if m.Receives != 1 || m.FirstMS != 2000 || m.VisibleMS != 5000 {
							t.Errorf("received %+v", m)
						}
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(got) != 20 {
			t.Fatalf("%d of 20 messages received", len(got))
		}
		c, err := s.CountQueueMessages(ctx, stage, q, 3000)
		if err != nil || c != (store.QueueCounts{InFlight: 20}) {
			t.Fatalf("counts while in flight: %+v, %v", c, err)
		}
		// The holder of m00 succeeds on it, fails m01 (stays hidden till
		// 5000), buries m02; another receipt cannot delete m03.
		if err := s.DeleteQueueMessages(ctx, got["m00"], []string{"m00"}); err != nil {
			t.Fatal(err)
		}
		if err := s.FailQueueMessages(ctx, got["m01"], []string{"m01"}, false); err != nil {
			t.Fatal(err)
		}
		if err := s.FailQueueMessages(ctx, got["m02"], []string{"m02"}, true); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteQueueMessages(ctx, "someone else", []string{"m03"}); err != nil {
			t.Fatal(err)
		}
		c, _ = s.CountQueueMessages(ctx, stage, q, 3000)
		if c.Waiting != 1 || c.InFlight != 17 || c.Dead != 1 || c.OldestMS != 1001 {
			t.Errorf("counts: %+v", c)
		}
		if ready, err := s.ReadyQueues(ctx, 3000); err != nil || len(ready) != 0 {
			t.Errorf("ready before the visibility timeout: %+v, %v", ready, err)
		}
		if ready, _ := s.ReadyQueues(ctx, 5000); len(ready) != 1 || ready[0] != (store.QueueRef{StageID: stage, Queue: q}) {
			t.Errorf("ready after it: %+v", ready)
		}
		// At 5000 all 18 left are visible again (the 17 whose holders
		// vanished too); received a second time, counts at 2.
		msgs, err := s.ReceiveQueueMessages(ctx, stage, q, "again", 5000, 9000, 100, 3)
		if err != nil || len(msgs) != 18 || msgs[0].Receives != 2 || msgs[0].FirstMS != 2000 {
			t.Fatalf("second receive: %d messages (%+v), %v", len(msgs), msgs[:min(1, len(msgs))], err)
		}
		if err := s.ReturnQueueMessages(ctx, "again", 9000); err != nil {
			t.Fatal(err)
		}
		// Returned: that receive does not count. Received twice more (3 =
		// max_receives) and visible again, the next receive buries them
		// instead of handing them out.
		if msgs, _ := s.ReceiveQueueMessages(ctx, stage, q, "third", 9000, 9500, 100, 3); len(msgs) != 18 || msgs[0].Receives != 2 {
			t.Fatalf("third receive: %d", len(msgs))
		}
		if msgs, _ := s.ReceiveQueueMessages(ctx, stage, q, "fourth", 9500, 9600, 100, 3); len(msgs) != 18 || msgs[0].Receives != 3 {
			t.Fatalf("fourth receive: %d", len(msgs))
		}
		if msgs, _ := s.ReceiveQueueMessages(ctx, stage, q, "fifth", 9600, 9700, 100, 3); len(msgs) != 0 {
			t.Fatalf("a message received past max_receives: %d", len(msgs))
		}
		dead, err := s.DeadQueueMessages(ctx, stage, q, 100)
		if err != nil || len(dead) != 19 {
			t.Fatalf("dead letters: %d, %v", len(dead), err)
		}
		if n, err := s.RedriveQueueMessages(ctx, stage, q, 10000); err != nil || n != 19 {
			t.Fatalf("redrive = %d, %v", n, err)
		}
		if n, err := s.PurgeQueueMessages(ctx, stage, q, 10000); err != nil || n != 19 {
			t.Fatalf("purge = %d, %v", n, err)
		}
	})
}

// TestQueueSlots leases a queue's concurrency slots: no more than n
// holders at once, a lease that ran out is taken over, a released slot is
// free again.
func TestQueueSlots(t *testing.T) {
	eachDatabase(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var mu sync.Mutex
		held := 0
		var wg sync.WaitGroup
		for i := range 6 {
			wg.Go(func() {
				ok, err := s.ClaimQueueSlot(ctx, 3, "orders", 2, fmt.Sprintf("h%d", i), 1000, 2000)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					held++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if held != 2 {
			t.Fatalf("%d holders of 2 slots", held)
		}
		if ok, _ := s.ClaimQueueSlot(ctx, 3, "orders", 2, "late", 1500, 2500); ok {
			t.Error("a third holder while both leases run")
		}
		if ok, _ := s.ClaimQueueSlot(ctx, 3, "orders", 2, "after", 2001, 3000); !ok {
			t.Error("a lease that ran out was not taken over")
		}
		if ok, _ := s.ExtendQueueSlot(ctx, "after", 4000); !ok {
			t.Error("extend a held slot")
		}
		if err := s.ReleaseQueueSlot(ctx, "after"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.ExtendQueueSlot(ctx, "after", 5000); ok {
			t.Error("extended a released slot")
		}
		if ok, _ := s.ClaimQueueSlot(ctx, 3, "orders", 3, "grown", 2100, 3000); !ok {
			t.Error("concurrency raised to 3: no third slot")
		}
	})
}
