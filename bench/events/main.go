// Command events measures issue 13's events benchmark on one `seedbed
// serve`: schedule precision (a rate(1 second) schedule; how long after
// its due time each tick was claimed and its run started) and async
// invocation overhead (a Lambda-style function called with
// X-Seedbed-Invocation-Type: Event, one at a time and in bursts: the 202's
// latency, and enqueue → handler start from the invocation's record),
// with a synchronous call of the same function as the baseline. With
// -queue N, queue delivery too: N messages sent one at a time to an idle
// consumer (batch 10, concurrency 2), then N sent by 8 senders at once;
// the consumer prints each message's send time beside the time it got it,
// read back from the function log: enqueue→handler p50/p99 and messages/s.
//
// It runs on the embedded default (SQLite + in-process queue) or, with
// -pg and -redis, on PostgreSQL + Redis (give an empty database and a
// Redis database of its own; both are left as they are).
//
// The function's build fetches github.com/aws/aws-lambda-go v1.55.1 from
// the module proxy into the app's own cache (with -offline, from this
// machine's module cache instead, when builds run as Seedbed's own user).
//
//	go run ./bench/events -ticks 30 -async 200
//	go run ./bench/events -pg postgres://postgres@127.0.0.1:5432/ev?sslmode=disable -redis redis://127.0.0.1:6379/9
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/seedbed/seedbed/bench/harness"
	"github.com/seedbed/seedbed/web/apiv1"
)

const stack = `queues:
  orders:
    visibility_timeout: 30s
services:
  jobs:
    path: jobs
    runtime: go
    functions:
      tick:
        type: lambda
        events:
          - schedule: rate(1 second)
      work:
        type: lambda
        routes: ["POST /work"]
      consume:
        type: lambda
        events:
          - {queue: orders, batch: 10, concurrency: 2}
`

const lambdaMain = `package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(ctx context.Context, e json.RawMessage) (any, error) {
		var q struct {
			Records []struct {
				Body string ` + "`json:\"body\"`" + `
			}
		}
		if json.Unmarshal(e, &q) == nil && len(q.Records) > 0 {
			now := time.Now().UnixNano()
			for _, r := range q.Records {
				fmt.Println("qlat", r.Body, now)
			}
			return map[string]any{"batchItemFailures": []any{}}, nil
		}
		return map[string]int{"statusCode": 200}, nil
	})
}
`

const lambdaMod = "module example.com/jobs\n\ngo 1.26\n\nrequire github.com/aws/aws-lambda-go v1.55.1\n"

const lambdaSum = "github.com/aws/aws-lambda-go v1.55.1 h1:We2cCp4BwqqH/JW+bEEo1FhgG71rslvjfi4y7KmlrR0=\n" +
	"github.com/aws/aws-lambda-go v1.55.1/go.mod h1:V+NzkHNR6vBC8C1PDloqSLE+7jYWFiPvJJFiCiTm8nE=\n"

func main() {
	ticks := flag.Int("ticks", 30, "how many schedule ticks to measure")
	async := flag.Int("async", 200, "async invocations per series")
	burst := flag.Int("burst", 8, "concurrent callers in the burst series")
	pg := flag.String("pg", "", "PostgreSQL URL (an empty database); empty: SQLite")
	rd := flag.String("redis", "", "Redis URL (a database of its own); empty: the in-process queue")
	queueN := flag.Int("queue", 0, "queue messages per series (0: no queue series)")
	onlyQueue := flag.Bool("only-queue", false, "run the queue series alone")
	offline := flag.Bool("offline", false, "build with this machine's module cache and GOPROXY=off (when builds run as Seedbed's own user)")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var env []string
	if *offline {
		modcache, _ := exec.Command("go", "env", "GOMODCACHE").Output()
		env = []string{"GOMODCACHE=" + strings.TrimSpace(string(modcache)), "GOPROXY=off"}
	}
	backend := "sqlite + embedded queue"
	if *pg != "" {
		env = append(env, "SEEDBED_DATABASE_URL="+*pg, "SEEDBED_REDIS_URL="+*rd)
		backend = "postgresql + redis"
	}
	srv, tmp, done := harness.Boot(ctx, "events", env...)
	defer done()
	fmt.Printf("seedbed at %s on %s, %s\n", srv.Console, backend, time.Now().UTC().Format(time.RFC3339))
	harness.DeployNew(ctx, srv, filepath.Join(tmp, "repo"), "ev", map[string]string{"seedbed.yml": stack,
		"jobs/go.mod": lambdaMod, "jobs/go.sum": lambdaSum, "jobs/main.go": lambdaMain}, 4*time.Minute)
	client := &http.Client{Timeout: 10 * time.Second}
	if *queueN > 0 {
		queueSeries(ctx, srv, client, *queueN)
	}
	if *onlyQueue {
		return
	}

	// Async invocations, one at a time, then in a burst; a sync call of
	// the same function first, as the baseline.
	post := func(typ string) (string, time.Duration, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.Gateway+"/ev/dev/work", strings.NewReader(`{"n":1}`))
		req.Header.Set("Content-Type", "application/json")
		if typ != "" {
			req.Header.Set("X-Seedbed-Invocation-Type", typ)
		}
		began := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return "", 0, err
		}
		resp.Body.Close()
		took := time.Since(began)
		if typ == "" && resp.StatusCode != 200 || typ != "" && resp.StatusCode != 202 {
			return "", 0, fmt.Errorf("POST /work (%s): %d", typ, resp.StatusCode)
		}
		return resp.Header.Get("X-Seedbed-Invocation-Id"), took, nil
	}
	var syncLat []time.Duration
	for range *async {
		_, d, err := post("")
		if err != nil {
			harness.Fatal(err)
		}
		syncLat = append(syncLat, d)
	}
	s := harness.Summarise(syncLat)
	fmt.Printf("RESULT %-40s p50 %s  p99 %s  (n %d)\n", "sync call (baseline)", harness.Ms(s.P50), harness.Ms(s.P99), s.N)
	for _, series := range []struct {
		name    string
		callers int
	}{{"async, one at a time (each waited for)", 1}, {fmt.Sprintf("async, %d callers (backlog)", *burst), *burst}} {
		var mu sync.Mutex
		var ids []string
		var accept []time.Duration
		var wg sync.WaitGroup
		per := *async / series.callers
		began := time.Now()
		for range series.callers {
			wg.Go(func() {
				for range per {
					id, d, err := post("Event")
					if err != nil {
						harness.Fatal(err)
					}
					mu.Lock()
					ids, accept = append(ids, id), append(accept, d)
					mu.Unlock()
					if series.callers == 1 {
						waitFinished(ctx, srv.API, id) // no backlog: the overhead alone
					}
				}
			})
		}
		wg.Wait()
		var startLag, total []time.Duration
		for _, id := range ids {
			inv := waitFinished(ctx, srv.API, id)
			if inv.Status != "succeeded" {
				harness.Fatalf("invocation %s: %s %s", id, inv.Status, inv.Error)
			}
			startLag = append(startLag, inv.StartedAt.Sub(inv.CreatedAt))
			total = append(total, inv.FinishedAt.Sub(inv.CreatedAt))
		}
		elapsed := time.Since(began)
		a, sl, tt := harness.Summarise(accept), harness.Summarise(startLag), harness.Summarise(total)
		fmt.Printf("RESULT %-40s 202 p50 %s p99 %s | enqueue→handler p50 %s p99 %s | enqueue→done p50 %s p99 %s | %.0f/s (n %d)\n",
			series.name, harness.Ms(a.P50), harness.Ms(a.P99), harness.Ms(sl.P50), harness.Ms(sl.P99), harness.Ms(tt.P50), harness.Ms(tt.P99),
			float64(len(ids))/elapsed.Seconds(), len(ids))
	}

	// Schedule precision: the ticks after the async series.
	since := time.Now()
	fmt.Printf("waiting for %d ticks of rate(1 second)…\n", *ticks)
	time.Sleep(time.Duration(*ticks)*time.Second + 2*time.Second)
	ev, err := srv.API.StageEvents(ctx, "ev", "dev", "")
	if err != nil {
		harness.Fatal(err)
	}
	var claim, start []time.Duration
	for _, b := range ev.Invocations {
		if b.Source != "schedule" || b.DueAt == nil || b.DueAt.Before(since) {
			continue
		}
		inv, err := srv.API.Invocation(ctx, "ev", "dev", b.ID)
		if err != nil || inv.StartedAt == nil {
			continue
		}
		claim = append(claim, inv.CreatedAt.Sub(*inv.DueAt))
		start = append(start, inv.StartedAt.Sub(*inv.DueAt))
	}
	c, st := harness.Summarise(claim), harness.Summarise(start)
	fmt.Printf("RESULT %-40s claimed p50 %s p99 %s max %s | started p50 %s p99 %s max %s (n %d)\n",
		"schedule lag after due time", harness.Ms(c.P50), harness.Ms(c.P99), harness.Ms(c.Max), harness.Ms(st.P50), harness.Ms(st.P99), harness.Ms(st.Max), c.N)
}

func waitFinished(ctx context.Context, api *apiv1.Client, id string) apiv1.Invocation {
	deadline := time.Now().Add(60 * time.Second)
	for {
		inv, err := api.Invocation(ctx, "ev", "dev", id)
		if err != nil {
			harness.Fatal(err)
		}
		if inv.Status == "succeeded" || inv.Status == "dead" {
			return inv
		}
		if time.Now().After(deadline) {
			harness.Fatalf("invocation %s still %s after 60 s", id, inv.Status)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// queueSeries sends n messages one at a time to an idle consumer, then n
// from 8 senders at once, and prints enqueue→handler latency and the rate
// the consumer took them at.
func queueSeries(ctx context.Context, srv *harness.Server, client *http.Client, n int) {
	creds, err := srv.API.QueueCredentials(ctx, "ev", "dev")
	if err != nil {
		harness.Fatal(err)
	}
	sendOne := func(body string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.Gateway+"/ev/dev/_seedbed/queues/orders", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+creds.Token)
		resp, err := client.Do(req)
		if err != nil {
			harness.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			harness.Fatalf("send: %d", resp.StatusCode)
		}
	}
	for _, series := range []struct {
		name    string
		senders int
	}{{"queue, one at a time (idle consumer)", 1}, {"queue, 8 senders at once (backlog)", 8}} {
		tag := fmt.Sprintf("s%d", series.senders)
		var wg sync.WaitGroup
		per := n / series.senders
		for range series.senders {
			wg.Go(func() {
				for range per {
					// The send time goes in the body: the handler prints it.
					sendOne(fmt.Sprintf("%s-%d", tag, time.Now().UnixNano()))
					if series.senders == 1 {
						time.Sleep(100 * time.Millisecond) // idle again
					}
				}
			})
		}
		wg.Wait()
		want := per * series.senders
		var lat []time.Duration
		var first, last int64
		for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(500 * time.Millisecond) {
			page, err := srv.API.FunctionLogs(ctx, "ev", "dev", apiv1.FunctionLogQuery{Function: "jobs/consume", Grep: "qlat " + tag + "-", Since: "1h", Limit: 10000})
			if err != nil {
				harness.Fatal(err)
			}
			seen := map[string]bool{}
			lat, first, last = lat[:0], 0, 0
			for _, l := range page.Lines {
				var body string
				var got int64
				if _, err := fmt.Sscanf(strings.TrimSpace(l.Text), "qlat %s %d", &body, &got); err != nil || seen[body] {
					continue
				}
				seen[body] = true
				var sent int64
				fmt.Sscanf(strings.TrimPrefix(body, tag+"-"), "%d", &sent)
				lat = append(lat, time.Duration(got-sent))
				if first == 0 || sent < first {
					first = sent
				}
				last = max(last, got)
			}
			if len(lat) >= want {
				break
			}
			if time.Now().After(deadline) {
				harness.Fatalf("%s: the consumer got %d of %d messages", series.name, len(lat), want)
			}
		}
		s := harness.Summarise(lat)
		rate := float64(len(lat)) / time.Duration(last-first).Seconds()
		over := 0
		for _, l := range lat {
			if l > 250*time.Millisecond {
				over++
			}
		}
		fmt.Printf("RESULT %-40s enqueue→handler p50 %s p90 %s p99 %s max %s, %d over 250 ms | %.0f messages/s (n %d)\n",
			series.name, harness.Ms(s.P50), harness.Ms(s.P90), harness.Ms(s.P99), harness.Ms(s.Max), over, rate, s.N)
	}
}
