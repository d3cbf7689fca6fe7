package alerts_test

import (
	"testing"
	"time"

	"github.com/seedbed/seedbed/alerts"
	"github.com/seedbed/seedbed/store"
)

// BenchmarkDeployFailedToWebhook measures one notification from the event
// to the receiver: record the delivery (SQLite), queue it (embedded
// queue), a worker picks it up, signs it and posts it over HTTP.
func BenchmarkDeployFailedToWebhook(b *testing.B) {
	bd := setup(b, setupOptions{network: allowPrivate})
	recv := bd.webhook(b, "hook", 0)
	bd.rule(b, alerts.NewRule{Name: "deploys", Kind: store.RuleDeployFailed, Channel: "hook"})
	var recording time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		d := bd.deploy(b, "prod", store.DeployFailed)
		b.StartTimer()
		start := time.Now()
		if err := bd.svc.DeployFailed(bd.ctx, d); err != nil {
			b.Fatal(err)
		}
		recording += time.Since(start)
		if r := recv.Next(b, 10*time.Second); !r.Valid {
			b.Fatal("bad signature")
		}
	}
	// What the deploy's job waits for: recording and queueing, not sending.
	b.ReportMetric(float64(recording.Microseconds())/float64(b.N), "µs-in-job/op")
}
