// Command metrics measures issue 12's metrics benchmark: requests/s and
// p99 latency of a Go HTTP function through the gateway with request
// metrics and the request log on, against a server started with
// --metrics-off. Three servers run at once, deployed from the same
// repository: metrics off; metrics on with the defaults (the request log
// keeps at most 200 successful requests a second); metrics on with every
// request logged (--request-log-rate 0). The load moves from one to the
// next, and each round starts with the next server, so that a noisy
// machine hurts all alike. At the end
// each "on" server's own count of the requests is checked against the
// number the load generator had answered.
//
//	go run ./bench/metrics -workers 4 -duration 10s -rounds 3
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/seedbed/seedbed/bench/harness"
	"github.com/seedbed/seedbed/web/apiv1"
)

const stack = `services:
  web:
    path: web
    runtime: go
    functions:
      hello:
        handler: bootstrap
        routes: ["GET /http"]
`

func main() {
	workers := flag.Int("workers", 4, "concurrent clients")
	dur := flag.Duration("duration", 10*time.Second, "how long each round loads one server")
	rounds := flag.Int("rounds", 3, "rounds per server, alternating")
	max := flag.Int("max", 1000000, "most requests per round")
	modeList := flag.String("modes", "off,on,all", "the servers, compared with the first: off (--metrics-off), on (defaults), all (every request logged); off,on,off also compares two identical servers")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	tmp, err := os.MkdirTemp("", "seedbed-bench-metrics-")
	if err != nil {
		harness.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	harness.OnFatal(func() { os.RemoveAll(tmp) })
	bin, err := harness.BuildBinary(tmp)
	if err != nil {
		harness.Fatal(err)
	}
	repo, err := harness.NewRepo(filepath.Join(tmp, "repo"))
	if err != nil {
		harness.Fatal(err)
	}
	if err := repo.Commit("v1", map[string]string{"seedbed.yml": stack, "web/go.mod": harness.GoMod, "web/main.go": harness.GoHTTPFunction("v1")}); err != nil {
		harness.Fatal(err)
	}
	type server struct {
		name string
		srv  *harness.Server
		res  []harness.LoadResult
		sent atomic.Int64 // requests answered 200, warm-up included
		off  bool
	}
	modes := map[string]struct {
		name string
		env  []string
	}{
		"off": {"metrics off", []string{"SEEDBED_METRICS_OFF=true"}},
		"on":  {"metrics on, defaults", nil},
		"all": {"metrics on, every request logged", []string{"SEEDBED_REQUEST_LOG_SAMPLE=1", "SEEDBED_REQUEST_LOG_RATE=0"}},
	}
	var servers []*server
	var envs [][]string
	for i, m := range strings.Split(*modeList, ",") {
		mode, ok := modes[m]
		if !ok {
			harness.Fatalf("-modes: %q is not off, on or all", m)
		}
		servers = append(servers, &server{name: fmt.Sprintf("%s (#%d)", mode.name, i+1), off: m == "off"})
		envs = append(envs, mode.env)
	}
	if len(servers) < 2 || !servers[0].off {
		harness.Fatal("-modes must start with off and name at least two servers")
	}
	for i, s := range servers {
		s.srv, err = harness.Start(ctx, harness.Options{Binary: bin, DataDir: filepath.Join(tmp, fmt.Sprintf("data%d", i)), Env: envs[i]})
		if err != nil {
			harness.Fatal(err)
		}
		defer s.srv.Stop()
		if _, err := s.srv.API.CreateApp(ctx, apiv1.CreateAppRequest{Name: "gw", RepoURL: repo.Dir, Branch: "main"}); err != nil {
			harness.Fatal(err)
		}
		dr, err := s.srv.API.Deploy(ctx, "gw", apiv1.DeployRequest{Stage: "dev"})
		if err != nil {
			harness.Fatal(err)
		}
		if _, err := harness.WaitDeploy(ctx, s.srv.API, dr.Deploy.ID, 4*time.Minute); err != nil {
			harness.Fatal(err)
		}
	}
	fmt.Printf("%d servers up, %s, %d workers × %s per round, %d rounds each\n", len(servers), time.Now().UTC().Format(time.RFC3339), *workers, *dur, *rounds)

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *workers * 2, DisableCompression: true}}
	get := func(s *server) func(context.Context) error {
		url := s.srv.Gateway + "/gw/dev/http"
		return func(ctx context.Context) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			if resp.StatusCode != 200 || string(b) != "v1 /http" {
				return fmt.Errorf("%s: %d %q", url, resp.StatusCode, b)
			}
			s.sent.Add(1)
			return nil
		}
	}
	for _, s := range servers {
		harness.Closed(ctx, *workers, 2*time.Second, *max, get(s)) // warm-up
	}
	for r := 1; r <= *rounds; r++ {
		// Each round starts with another server: whatever the machine does
		// at a round's start or end falls on each in turn.
		for k := range servers {
			s := servers[(r-1+k)%len(servers)]
			res := harness.Closed(ctx, *workers, *dur, *max, get(s))
			st := harness.Summarise(res.Latencies)
			fmt.Printf("round %d  %-26s %8.0f req/s  p50 %s  p99 %s  (ok %d, failed %d)\n", r, s.name, res.RPS(), harness.Ms(st.P50), harness.Ms(st.P99), res.OK, res.Failed)
			if res.FirstErr != nil {
				fmt.Println("  first error:", res.FirstErr)
			}
			s.res = append(s.res, res)
		}
	}
	median := func(xs []float64) float64 {
		sort.Float64s(xs)
		return xs[len(xs)/2]
	}
	rps, p99 := make([]float64, len(servers)), make([]float64, len(servers))
	for i, s := range servers {
		var rs, ps []float64
		for _, res := range s.res {
			rs = append(rs, res.RPS())
			ps = append(ps, float64(harness.Summarise(res.Latencies).P99)/float64(time.Millisecond))
		}
		rps[i], p99[i] = median(rs), median(ps)
		fmt.Printf("RESULT %-38s median %8.0f req/s  median p99 %.2f ms\n", s.name, rps[i], p99[i])
	}
	for i := 1; i < len(servers); i++ {
		fmt.Printf("RESULT %-38s throughput %+.1f %% against %s (goal: no worse than -5 %%); p99 %+.2f ms\n", servers[i].name, (rps[i]/rps[0]-1)*100, servers[0].name, p99[i]-p99[0])
	}

	// Each "on" server counted every request the load generator saw answered.
	time.Sleep(2 * time.Second) // the request log's writer runs every second
	for _, on := range servers {
		if on.off {
			continue
		}
		sm, err := on.srv.API.StageMetrics(ctx, "gw", "dev", "1h")
		if err != nil {
			harness.Fatal(err)
		}
		var counted int64
		for _, f := range sm.Functions {
			counted += f.Requests
		}
		logged, err := countLog(ctx, on.srv.API)
		if err != nil {
			harness.Fatal(err)
		}
		fmt.Printf("RESULT %-38s counted by the server: %d requests; answered 200 to the load generator: %d; request log rows: %d\n", on.name, counted, on.sent.Load(), logged)
		if counted != on.sent.Load() {
			harness.Fatalf("%s counted %d requests but answered %d", on.name, counted, on.sent.Load())
		}
	}
}

// countLog pages through the stage's request log.
func countLog(ctx context.Context, api *apiv1.Client) (int, error) {
	n := 0
	var before uint
	for {
		page, err := api.RequestLog(ctx, "gw", "dev", apiv1.RequestLogQuery{Before: before, Limit: 1000})
		if err != nil {
			return n, err
		}
		n += len(page)
		if len(page) < 1000 {
			return n, nil
		}
		before = page[len(page)-1].ID
	}
}
