package queue_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/seedbed/seedbed/pipelines/queue"
)

func TestCheckReachable(t *testing.T) {
	for _, s := range testServers(t) {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			if err := queue.CheckReachable(context.Background(), redisOpt(t, s.url(t)), 3, time.Second); err != nil {
				t.Errorf("CheckReachable: %v", err)
			}
		})
	}
	t.Run("embedded without listener", func(t *testing.T) {
		e, err := queue.StartEmbedded(context.Background(), queue.EmbeddedOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		if err := queue.CheckReachable(context.Background(), e.ConnOpt(), 1, time.Second); err != nil {
			t.Errorf("CheckReachable: %v", err)
		}
	})
}

func TestCheckReachableFails(t *testing.T) {
	// A port nobody listens on: take one and give it back.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	// A port that accepts and never answers, like a firewall that drops.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	tests := []struct {
		name    string
		url     string
		longest time.Duration
	}{
		{"closed port", "redis://" + closed, 2 * time.Second},
		{"no answer", "redis://" + silent.Addr().String(), 3 * time.Second},
		{"wrong password", "", 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := tt.url
			if u == "" {
				e := startEmbedded(t)
				u = "redis://:wrong@" + e.Addr()
			}
			start := time.Now()
			err := queue.CheckReachable(context.Background(), redisOpt(t, u), 3, 300*time.Millisecond)
			took := time.Since(start)
			if err == nil {
				t.Fatalf("CheckReachable(%s) succeeded", u)
			}
			if took > tt.longest {
				t.Errorf("CheckReachable took %s, want under %s", took, tt.longest)
			}
			t.Logf("%s after %s", err, took.Round(time.Millisecond))
		})
	}
}
