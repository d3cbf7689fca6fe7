package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/seedbed/seedbed/store"
)

func TestInvocations(t *testing.T) {
	eachDatabase(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		_, stages := newApp(t, s, "shop")
		stageID := stages[0].ID
		now := time.Now().UTC().Truncate(time.Second)
		key := "sched:1:abc:1700000000"
		tick := func(id string) *store.Invocation {
			return &store.Invocation{ID: id, StageID: stageID, App: "shop", Stage: "dev", Function: "api/tick", Source: store.SourceSchedule,
				ScheduleID: "abc", DedupeKey: &key, DueAt: &now, Status: store.InvocationQueued, MaxAttempts: 3, Payload: []byte(`{"a":1}`), CreatedAt: now}
		}

		// One tick is claimed once, whoever tries second.
		if err := s.CreateInvocation(ctx, tick("inv-1")); err != nil {
			t.Fatalf("claim the tick: %v", err)
		}
		if err := s.CreateInvocation(ctx, tick("inv-2")); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("claim the same tick again = %v, want ErrConflict", err)
		}

		// Attempts count up; a finished invocation does not start again.
		for want := 1; want <= 2; want++ {
			inv, started, err := s.StartAttempt(ctx, "inv-1", now)
			if err != nil || !started || inv.Attempts != want || inv.Status != store.InvocationRunning {
				t.Fatalf("attempt %d: %+v started=%v err=%v", want, inv, started, err)
			}
		}
		fin := now.Add(time.Second)
		done := store.Invocation{ID: "inv-1", Status: store.InvocationDead, Error: "boom", LogExcerpt: "last output", DurationMS: 12, FinishedAt: &fin}
		if err := s.FinishAttempt(ctx, &done); err != nil {
			t.Fatal(err)
		}
		if inv, started, err := s.StartAttempt(ctx, "inv-1", now); err != nil || started || inv.Attempts != 2 || inv.Status != store.InvocationDead {
			t.Fatalf("start a dead invocation: %+v started=%v err=%v; want it untouched", inv, started, err)
		}
		dead, err := s.Invocations(ctx, store.InvocationFilter{StageID: stageID, Status: store.InvocationDead})
		if err != nil || len(dead) != 1 || dead[0].Error != "boom" || dead[0].Payload != nil {
			t.Fatalf("dead letters = %+v, %v; want inv-1 without its payload", dead, err)
		}
		if n, err := s.CountUnfinishedInvocations(ctx, stageID); err != nil || n != 0 {
			t.Fatalf("unfinished = %d, %v; want 0", n, err)
		}
		// A redrive queues it again from zero attempts.
		if ok, err := s.RequeueInvocation(ctx, "inv-1"); err != nil || !ok {
			t.Fatalf("redrive = %v, %v", ok, err)
		}
		if inv, err := s.InvocationByID(ctx, "inv-1"); err != nil || inv.Status != store.InvocationQueued || inv.Attempts != 0 || string(inv.Payload) != `{"a":1}` {
			t.Fatalf("after redrive: %+v, %v", inv, err)
		}
		if _, err := s.InvocationByID(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing invocation = %v, want ErrNotFound", err)
		}

		// Retention removes what finished long enough ago, never what is
		// unfinished; dead letters are kept longer.
		old := now.Add(-48 * time.Hour)
		for i, st := range []string{store.InvocationSucceeded, store.InvocationDead, store.InvocationQueued} {
			inv := store.Invocation{ID: "old-" + st, StageID: stageID, App: "shop", Stage: "dev", Function: "api/f", Source: store.SourceAsync,
				Status: st, CreatedAt: old.Add(time.Duration(i) * time.Second), FinishedAt: &old}
			if err := s.CreateInvocation(ctx, &inv); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := s.DeleteFinishedInvocations(ctx, now.Add(-24*time.Hour), now.Add(-72*time.Hour), 100); err != nil || n != 1 {
			t.Fatalf("pruned %d, %v; want the old success only", n, err)
		}
		for _, id := range []string{"old-dead", "old-queued"} {
			if _, err := s.InvocationByID(ctx, id); err != nil {
				t.Errorf("%s was pruned: %v", id, err)
			}
		}
		if _, err := s.InvocationByID(ctx, "old-succeeded"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("old-succeeded kept: %v", err)
		}

		// A schedule is held by one run until it is released or its hold
		// runs out.
		if ok, err := s.ClaimScheduleRun(ctx, stageID, "abc", "run-1", now, now.Add(time.Minute)); err != nil || !ok {
			t.Fatalf("first claim = %v, %v", ok, err)
		}
		if ok, err := s.ClaimScheduleRun(ctx, stageID, "abc", "run-2", now.Add(time.Second), now.Add(time.Minute)); err != nil || ok {
			t.Fatalf("overlapping claim = %v, %v; want refused", ok, err)
		}
		if ok, err := s.ClaimScheduleRun(ctx, stageID, "abc", "run-3", now.Add(2*time.Minute), now.Add(3*time.Minute)); err != nil || !ok {
			t.Fatalf("claim after the hold ran out = %v, %v", ok, err)
		}
		if err := s.ReleaseScheduleRun(ctx, stageID, "abc", "run-3"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetSchedulePaused(ctx, stageID, "abc", true); err != nil {
			t.Fatal(err)
		}
		states, err := s.ScheduleStates(ctx)
		if err != nil || len(states) != 1 || !states[0].Paused || states[0].RunningID != "" {
			t.Fatalf("states = %+v, %v", states, err)
		}
	})
}
