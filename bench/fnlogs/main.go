// Command fnlogs measures issue 12's function log benchmark on the real
// binary:
//
//  1. a Go function writes -rate lines/s for -duration: how many lines the
//     function log lost (goal 0), Seedbed's CPU meanwhile (from
//     /proc/PID/stat), and how long a line takes from the function's write
//     to a `seedbed logs -f`-style follower (the API's event stream);
//
//  2. the same function is writing when Seedbed is stopped (SIGTERM) and
//     started again: every line it wrote before it was stopped is kept;
//
//  3. -lines lines (10 million) are written into another stage's log, then
//     `seedbed logs --grep` (the real CLI binary) is timed over them for a
//     rare text, a common one, a time range and the plain tail.
//
//     go run ./bench/fnlogs                      # 10,000 lines/s for 1m, 10M lines
//     go run ./bench/fnlogs -duration 10s -lines 1000000
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/seedbed/seedbed/bench/harness"
	"github.com/seedbed/seedbed/fnlog"
	"github.com/seedbed/seedbed/web/apiv1"
)

const stack = `services:
  api:
    path: api
    runtime: go
    functions:
      chatty:
        handler: bootstrap
        routes: ["GET /burst"]
`

// burster writes ?rate= lines a second for ?seconds=, each with its
// sequence number and the time it was written; every 1000th line is
// marked for the latency follower. On SIGTERM it says how many it wrote.
const burster = `package main

import (
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

var written atomic.Int64
var run atomic.Value

func burst(id string, rate, secs int) {
	total := rate * secs
	start := time.Now()
	for i := 0; i < total; i++ {
		if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); d > 0 {
			time.Sleep(d)
		}
		mark := ""
		if i%1000 == 0 {
			mark = " mark"
		}
		fmt.Printf("burst %s seq %d t=%d level=info msg=\"handled request\" path=/api/orders/%d status=200%s\n", id, i, time.Now().UnixNano(), i%997, mark)
		written.Store(int64(i + 1))
	}
	fmt.Printf("burst %s done %d in %s\n", id, total, time.Since(start).Round(time.Millisecond))
}

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	go func() {
		<-stop
		id, _ := run.Load().(string)
		fmt.Printf("burst %s stopped after %d\n", id, written.Load())
		os.Exit(0)
	}()
	http.HandleFunc("/burst", func(w http.ResponseWriter, r *http.Request) {
		rate, _ := strconv.Atoi(r.URL.Query().Get("rate"))
		secs, _ := strconv.Atoi(r.URL.Query().Get("seconds"))
		id := r.URL.Query().Get("run")
		run.Store(id)
		go burst(id, rate, secs)
	})
	http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil)
}
`

func main() {
	rate := flag.Int("rate", 10_000, "lines a second the function writes")
	dur := flag.Duration("duration", time.Minute, "how long it writes")
	lines := flag.Int("lines", 10_000_000, "lines stored for the grep measurement")
	runs := flag.Int("runs", 5, "times each query is timed")
	grepOnly := flag.Bool("grep-only", false, "only the search over -lines stored lines: skip the burst and the restart")
	before := flag.String("before", "", "another seedbed binary (say, built from an earlier commit) that answers the same queries on the same data, in rounds alternating with this one")
	rounds := flag.Int("rounds", 1, "rounds of queries per binary (with -before: this one, then the other, per round)")
	flag.Parse()
	ctx := context.Background()
	srv, tmp, done := harness.Boot(ctx, "fnlogs")
	defer done()
	data := filepath.Join(tmp, "data")
	fmt.Printf("seedbed at %s, %s, load average %s\n", srv.Console, time.Now().UTC().Format(time.RFC3339), loadAvg())

	repo, err := harness.NewRepo(filepath.Join(tmp, "repo"))
	if err != nil {
		harness.Fatal(err)
	}
	if err := repo.Commit("a chatty function", map[string]string{"seedbed.yml": stack, "api/go.mod": harness.GoMod, "api/main.go": burster}); err != nil {
		harness.Fatal(err)
	}
	for _, name := range []string{"chatty", "big"} {
		if _, err := srv.API.CreateApp(ctx, apiv1.CreateAppRequest{Name: name, RepoURL: repo.Dir, Branch: "main"}); err != nil {
			harness.Fatal(err)
		}
	}
	bin := filepath.Join(tmp, "seedbed")
	if b := os.Getenv("SEEDBED_BENCH_BINARY"); b != "" {
		bin = b
	}
	if !*grepOnly {
		srv = burstAndRestart(ctx, srv, data, bin, *rate, *dur)
	}

	// 3. Ten million lines, then the CLI.
	srv.Stop()
	fill := time.Now()
	size, needles := fillLog(data, *lines)
	took := time.Since(fill)
	fmt.Printf("RESULT fill %d lines (%d MB on disk) in %s = %.0f lines/s through fnlog.Store.Append, batches of 512, indexes of sealed segments included\n", *lines, size>>20, took.Round(time.Millisecond), float64(*lines)/took.Seconds())
	bins := []string{bin}
	if *before != "" {
		bins = append(bins, *before)
	}
	for r := range *rounds {
		for _, b := range bins {
			fmt.Printf("round %d, %s\n", r+1, b)
			timeQueries(ctx, b, data, *runs, needles)
		}
	}
}

// timeQueries starts bin on data and times the CLI's queries over the
// stored lines, runs times each.
func timeQueries(ctx context.Context, bin, data string, runs, needles int) {
	srv, err := harness.Start(ctx, harness.Options{Binary: bin, DataDir: data})
	if err != nil {
		harness.Fatal(err)
	}
	harness.OnFatal(srv.Stop)
	defer srv.Stop()
	env := append(os.Environ(), "SEEDBED_SERVER="+srv.Console, "SEEDBED_TOKEN="+srv.API.Token)
	fmt.Printf("queries at load average %s (CPU time is /proc/PID/stat's, in 10 ms ticks)\n", loadAvg())
	queries := []struct {
		name string
		args []string
		want int // lines printed; -1: any
	}{
		{"grep a rare text over every line", []string{"--grep", "needle-7f3a", "--since", "30d"}, needles},
		{"grep a rare text, no time range", []string{"--grep", "needle-7f3a"}, needles},
		{"grep a common text (newest 500)", []string{"--grep", "status=200"}, 500},
		{"tail: the newest 500", nil, 500},
		{"an hour 12h ago, grep", []string{"--since", time.Now().Add(-13 * time.Hour).UTC().Format(time.RFC3339), "--until", time.Now().Add(-12 * time.Hour).UTC().Format(time.RFC3339), "--grep", "user=u42 "}, -1},
	}
	for _, q := range queries {
		var ds, cpus []time.Duration
		printed := 0
		for range runs {
			cmd := exec.Command(bin, append([]string{"logs", "big", "--stage", "dev", "--output", "json"}, q.args...)...)
			cmd.Env = env
			cpu0 := cpuTime(srv.PID())
			began := time.Now()
			out, err := cmd.Output()
			ds = append(ds, time.Since(began))
			cpus = append(cpus, cpuTime(srv.PID())-cpu0)
			if err != nil {
				harness.Fatalf("seedbed logs %v: %v\n%s", q.args, err, out)
			}
			var page apiv1.FunctionLogPage
			if err := json.Unmarshal(out, &page); err != nil {
				harness.Fatalf("seedbed logs %v printed no JSON page: %v", q.args, err)
			}
			printed = len(page.Lines)
		}
		st := harness.Summarise(ds)
		if q.want >= 0 && printed != q.want {
			harness.Fatalf("%s: printed %d lines, want %d", q.name, printed, q.want)
		}
		cs := harness.Summarise(cpus)
		fmt.Printf("RESULT cli %-40s %d lines printed; wall min %s p50 %s max %s; serve's CPU p50 %s, max %s; %d runs\n", q.name+":", printed,
			harness.Ms(st.Min), harness.Ms(st.P50), harness.Ms(st.Max), harness.Ms(cs.P50), harness.Ms(cs.Max), st.N)
	}
}

// burstAndRestart is parts 1 and 2: the function writes rate lines a
// second for dur, then again while serve restarts. It returns the server
// running after the restart.
func burstAndRestart(ctx context.Context, srv *harness.Server, data, bin string, rate int, dur time.Duration) *harness.Server {
	dep, err := srv.API.Deploy(ctx, "chatty", apiv1.DeployRequest{Stage: "dev"})
	if err != nil {
		harness.Fatal(err)
	}
	if d, err := harness.WaitDeploy(ctx, srv.API, dep.Deploy.ID, 5*time.Minute); err != nil || d.Status != "succeeded" {
		harness.Fatalf("deploy: %v %+v", err, d)
	}

	// 1. The burst.
	secs := int(dur.Seconds())
	total := rate * secs
	follow, latencies := followMarks(ctx, srv.API, "b1")
	cpu0 := cpuTime(srv.PID())
	wall0 := time.Now()
	get(srv.Gateway + fmt.Sprintf("/chatty/dev/burst?rate=%d&seconds=%d&run=b1", rate, secs))
	doneLine := waitLine(ctx, srv.API, "burst b1 done", dur+2*time.Minute)
	wall := time.Since(wall0)
	cpu := cpuTime(srv.PID()) - cpu0
	follow()
	got, dup := countSeq(ctx, data, "b1", total)
	lat := harness.Summarise(*latencies)
	fmt.Printf("burst: %s (%d lines asked at %d/s)\n", doneLine, total, rate)
	fmt.Printf("RESULT burst_lines_lost %d of %d (duplicates %d)\n", total-got, total, dup)
	fmt.Printf("RESULT burst_seedbed_cpu %.2f s in %.1f s wall = %.1f%% of one core\n", cpu.Seconds(), wall.Seconds(), 100*cpu.Seconds()/wall.Seconds())
	fmt.Printf("RESULT burst_follow_latency n=%d p50 %s p99 %s max %s (function's write → API event stream)\n", lat.N, harness.Ms(lat.P50), harness.Ms(lat.P99), harness.Ms(lat.Max))

	// 2. Restart while it writes.
	get(srv.Gateway + fmt.Sprintf("/chatty/dev/burst?rate=%d&seconds=60&run=b2", rate))
	time.Sleep(5 * time.Second)
	srv.Stop()
	srv, err = harness.Start(ctx, harness.Options{Binary: bin, DataDir: data})
	if err != nil {
		harness.Fatal(err)
	}
	harness.OnFatal(srv.Stop)
	stopped := waitLine(ctx, srv.API, "burst b2 stopped after", time.Minute)
	n, _ := strconv.Atoi(stopped[strings.LastIndexByte(stopped, ' ')+1:])
	kept, _ := countSeq(ctx, data, "b2", n)
	fmt.Printf("RESULT restart_lines_lost %d of the %d the function wrote before Seedbed stopped it\n", n-kept, n)

	return srv
}

// loadAvg is the machine's 1-minute load average: this machine is shared,
// and wall times mean little without it.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Fields(string(b))[0]
}

func get(u string) {
	resp, err := http.Get(u)
	if err != nil {
		harness.Fatalf("GET %s: %v", u, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		harness.Fatalf("GET %s: %s", u, resp.Status)
	}
}

// cpuTime reads a process's user+system CPU time from /proc.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		harness.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

// waitLine waits until the stage's log has a line containing text.
func waitLine(ctx context.Context, api *apiv1.Client, text string, limit time.Duration) string {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		p, err := api.FunctionLogs(ctx, "chatty", "dev", apiv1.FunctionLogQuery{Grep: text, Limit: 1})
		if err == nil && len(p.Lines) > 0 {
			return p.Lines[0].Text
		}
		time.Sleep(200 * time.Millisecond)
	}
	harness.Fatalf("no line %q within %s", text, limit)
	return ""
}

// followMarks follows the marked lines of a run through the API's event
// stream and records how long after its write each arrived.
func followMarks(ctx context.Context, api *apiv1.Client, run string) (stop func(), lat *[]time.Duration) {
	var ds []time.Duration
	var mu sync.Mutex
	ctx, cancel := context.WithCancel(ctx)
	page, err := api.FunctionLogs(ctx, "chatty", "dev", apiv1.FunctionLogQuery{Limit: 1})
	if err != nil {
		harness.Fatal(err)
	}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		_ = api.FollowFunctionLogs(ctx, "chatty", "dev", page.Cursor, apiv1.FunctionLogQuery{Grep: " mark"}, func(l apiv1.FunctionLogLine) error {
			now := time.Now()
			i := strings.Index(l.Text, " t=")
			if i < 0 || !strings.Contains(l.Text, "burst "+run+" ") {
				return nil
			}
			ns, err := strconv.ParseInt(strings.Fields(l.Text[i+3:])[0], 10, 64)
			if err != nil {
				return nil
			}
			mu.Lock()
			ds = append(ds, now.Sub(time.Unix(0, ns)))
			mu.Unlock()
			return nil
		})
	}()
	return func() { time.Sleep(time.Second); cancel(); <-finished }, &ds
}

// countSeq reads the chatty stage's log through fnlog (as serve does) and
// counts the distinct sequence numbers of a run below total.
func countSeq(ctx context.Context, data, run string, total int) (distinct, dup int) {
	st, err := fnlog.Open(fnlog.Options{Dir: filepath.Join(data, "fnlogs")})
	if err != nil {
		harness.Fatal(err)
	}
	defer st.Close()
	seen := make([]bool, total)
	prefix := "burst " + run + " seq "
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	idle := time.AfterFunc(3*time.Second, cancel)
	err = st.Follow(ctx, fnlog.Query{App: "chatty", Stage: "dev", Grep: prefix}, "", func(ls []fnlog.Line) error {
		idle.Reset(3 * time.Second)
		for _, l := range ls {
			rest, ok := strings.CutPrefix(l.Text, prefix)
			if !ok {
				continue
			}
			n, err := strconv.Atoi(rest[:strings.IndexByte(rest, ' ')])
			if err != nil || n >= total {
				continue
			}
			if seen[n] {
				dup++
			}
			seen[n] = true
			distinct++
		}
		if distinct == total {
			cancel()
		}
		return nil
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		harness.Fatal(err)
	}
	distinct -= dup
	return distinct, dup
}

// fillLog writes n lines into big/dev's log, spread over the last 24
// hours, from 20 functions; a rare text is in every millionth line. It
// returns the bytes on disk and how many lines hold the rare text.
func fillLog(data string, n int) (size int64, needles int) {
	st, err := fnlog.Open(fnlog.Options{Dir: filepath.Join(data, "fnlogs")})
	if err != nil {
		harness.Fatal(err)
	}
	start := time.Now().Add(-24 * time.Hour)
	step := 24 * time.Hour / time.Duration(n)
	const batch = 512
	entries := make([]fnlog.Entry, 0, batch)
	levels := []string{"info", "info", "info", "debug", "warn", "error"}
	for i := 0; i < n; {
		fn := i / batch % 20
		src := fnlog.Source{App: "big", Stage: "dev", Function: fmt.Sprintf("svc%d/fn%d", fn%4, fn), Instance: strconv.Itoa(1000 + fn), Release: 7}
		entries = entries[:0]
		for j := 0; j < batch && i < n; j++ {
			text := fmt.Sprintf(`{"level":"%s","msg":"handled request","path":"/api/orders/%d","status=200","user=u%d ","ms":%d,"trace":"%08x"}`,
				levels[i%len(levels)], i%9973, i%1000, i%250, uint32(i)*2654435761)
			if i%1_000_000 == 500_000 {
				text += " needle-7f3a"
				needles++
			}
			entries = append(entries, fnlog.Entry{Time: start.Add(time.Duration(i) * step), Stream: fnlog.StreamStdout, Text: text})
			i++
		}
		if err := st.Append(src, entries); err != nil {
			harness.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		harness.Fatal(err)
	}
	filepath.Walk(filepath.Join(data, "fnlogs", "big"), func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			size += info.Size()
		}
		return nil
	})
	return size, needles
}
