// Command restart measures issue 14's "restarts nobody notices": requests
// at a fixed rate through the gateway to one Go function while the real
// `seedbed serve` restarts, two ways:
//
//   - handoff: SIGHUP. A new process takes over the listening sockets and
//     starts the stages' functions; the old one serves until the new one is
//     ready, then finishes its requests and exits (package handoff).
//   - stop and start: SIGTERM, then a new `seedbed serve` on the same data
//     dir and ports, which is what a restart was before the handoff.
//
// For each it reports the requests scheduled from the signal until the
// restart was over (the old process exited; the new one answered
// /healthz), how many failed, and their latency from the scheduled start
// (an open loop: a server that holds requests shows it), and the failures
// of the whole run. The goal: 0 failed and p99 under 100 ms.
//
//	go run ./bench/restart -rate 400 -rounds 3
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/seedbed/seedbed/bench/harness"
)

const stack = `services:
  api:
    path: services/api
    runtime: go
    functions:
      hello:
        routes: ["GET /hello"]
`

// sample is one request of the load.
type sample struct {
	slot time.Time     // when it was due
	took time.Duration // from slot to the end of the response
	err  error
}

// load sends GETs to url at rate per second until stop is closed.
type load struct {
	mu      sync.Mutex
	samples []sample
	wg      sync.WaitGroup
}

func runLoad(url string, rate int, stop <-chan struct{}) *load {
	l := &load{}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}
	gap := time.Second / time.Duration(rate)
	start := time.Now()
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for i := 0; ; i++ {
			slot := start.Add(time.Duration(i) * gap)
			select {
			case <-stop:
				return
			case <-time.After(time.Until(slot)):
			}
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				err := get(client, url)
				l.mu.Lock()
				l.samples = append(l.samples, sample{slot: slot, took: time.Since(slot), err: err})
				l.mu.Unlock()
			}()
		}
	}()
	return l
}

func get(client *http.Client, url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return err
}

// report prints what the samples due in [from, to] saw, and the failures
// of the whole run.
func (l *load) report(name string, from, to time.Time) {
	l.wg.Wait()
	var lat []time.Duration
	failed, all, allFailed := 0, 0, 0
	var firstErr error
	for _, s := range l.samples {
		if s.err != nil {
			allFailed++
			if firstErr == nil {
				firstErr = s.err
			}
		}
		if s.slot.Before(from) || s.slot.After(to) {
			continue
		}
		all++
		if s.err != nil {
			failed++
			continue
		}
		lat = append(lat, s.took)
	}
	st := harness.Summarise(lat)
	fmt.Printf("%-15s window %7s  requests %5d  failed %4d  p50 %9s  p99 %9s  max %9s  (whole run: %d requests, %d failed)\n",
		name, to.Sub(from).Round(time.Millisecond), all, failed, harness.Ms(st.P50), harness.Ms(st.P99), harness.Ms(st.Max), len(l.samples), allFailed)
	if firstErr != nil {
		fmt.Printf("%-15s first failure: %v\n", "", firstErr)
	}
}

// handedTo returns the pid the n-th handoff in the server's log went to.
func handedTo(logPath string, n int) (int, bool) {
	b, _ := os.ReadFile(logPath)
	m := regexp.MustCompile(`handed over; finishing the requests in flight" pid=(\d+)`).FindAllStringSubmatch(string(b), -1)
	if len(m) < n {
		return 0, false
	}
	pid, _ := strconv.Atoi(m[n-1][1])
	return pid, true
}

// gone reports whether pid has exited (a zombie counts as exited).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || strings.HasPrefix(s[i+1:], " Z")
}

func waitFor(what string, limit time.Duration, ok func() bool) {
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			harness.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func main() {
	rate := flag.Int("rate", 400, "requests per second")
	rounds := flag.Int("rounds", 3, "restarts of each kind")
	settle := flag.Duration("settle", 2*time.Second, "load before and after each restart")
	flag.Parse()
	ctx := context.Background()

	srv, tmp, done := harness.Boot(ctx, "restart")
	defer done()
	harness.DeployNew(ctx, srv, filepath.Join(tmp, "repo"), "relay", map[string]string{
		"seedbed.yml": stack, "services/api/go.mod": harness.GoMod, "services/api/main.go": harness.GoHTTPFunction("v1"),
	}, 5*time.Minute)
	url := srv.Gateway + "/relay/dev/hello"
	if err := get(http.DefaultClient, url); err != nil {
		harness.Fatal(err)
	}
	fmt.Printf("restart: %d requests/s to one Go function, %s of load before and after each restart\n", *rate, *settle)

	bin := os.Getenv("SEEDBED_BENCH_BINARY") // as harness.BuildBinary
	if bin == "" {
		bin = filepath.Join(tmp, "seedbed")
	}
	pid := srv.PID()
	current := func() { _ = syscall.Kill(pid, syscall.SIGTERM) }
	harness.OnFatal(current)
	for round := 1; round <= *rounds; round++ {
		stop := make(chan struct{})
		l := runLoad(url, *rate, stop)
		time.Sleep(*settle)
		from := time.Now()
		if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
			harness.Fatal(err)
		}
		old := pid
		waitFor("the handoff", 3*time.Minute, func() bool { return gone(old) })
		to := time.Now()
		next, ok := handedTo(srv.LogPath, round)
		if !ok {
			harness.Fatalf("process %d exited without handing over (log: %s)", old, srv.LogPath)
		}
		pid = next
		time.Sleep(*settle)
		close(stop)
		l.report(fmt.Sprintf("handoff %d", round), from, to)
	}

	// For comparison: a stop and a new start on the same ports.
	for round := 1; round <= *rounds; round++ {
		stop := make(chan struct{})
		l := runLoad(url, *rate, stop)
		time.Sleep(*settle)
		from := time.Now()
		_ = syscall.Kill(pid, syscall.SIGTERM)
		old := pid
		waitFor("the stop", time.Minute, func() bool { return gone(old) })
		next, err := harness.Start(ctx, harness.Options{Binary: bin, DataDir: filepath.Join(tmp, "data"),
			Addr: strings.TrimPrefix(srv.Console, "http://"), GatewayAddr: strings.TrimPrefix(srv.Gateway, "http://"), NoLogin: true})
		if err != nil {
			close(stop)
			harness.Fatal(err)
		}
		to := time.Now()
		pid = next.PID()
		time.Sleep(*settle)
		close(stop)
		l.report(fmt.Sprintf("stop+start %d", round), from, to)
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	waitFor("the last stop", time.Minute, func() bool { return gone(pid) })
}
