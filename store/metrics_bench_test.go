package store_test

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/seedbed/seedbed/store"
)

// BenchmarkAddRequestLogs writes request log batches of 1,000 on SQLite:
// the cost the request log's writer adds per request under load.
func BenchmarkAddRequestLogs(b *testing.B) {
	s, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "seedbed.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rows := make([]store.RequestLog, 1000)
	for i := range rows {
		rows[i] = store.RequestLog{At: time.Now(), App: "gw", Stage: "dev", Function: "web/hello", Instance: "web-hello-1", Method: "GET",
			Path: "/gw/dev/http", Status: 200, DurationUS: 812, Bytes: 8, Client: "127.0.0.1"}
	}
	var before syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	b.ResetTimer()
	for range b.N {
		for i := range rows {
			rows[i].ID = 0
		}
		if err := s.AddRequestLogs(context.Background(), rows); err != nil {
			b.Fatal(err)
		}
	}
	var after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/row")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*len(rows)), "cpu-ns/row")
}
