// Command proxy measures issue 14's gateway benchmark: requests/s and p99
// of one Go HTTP function through Seedbed's gateway next to nginx proxying
// the same function (keep-alive to it, as a production nginx is set up),
// and the function called directly, with wrk -t2 -c32, in one run. The
// three are loaded in turn, rounds rotating, so a machine that gets busier
// during the run tilts every one of them alike; the ratio gateway/nginx is
// computed per round and its median reported.
//
// It needs nginx and wrk on the PATH (Debian: apt-get install nginx wrk).
//
//	go run ./bench/proxy -rounds 3 -duration 10s
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/seedbed/seedbed/bench/harness"
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

// nginxConf proxies every request to the function with a pool of kept-alive
// connections, one worker per core, access log off (Seedbed's gateway keeps
// its request log on: that is its default).
const nginxConf = `worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  upstream fn { server 127.0.0.1:%[2]s; keepalive 64; }
  server {
    listen 127.0.0.1:%[3]s;
    location / {
      proxy_pass http://fn;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
    }
  }
}
`

type result struct {
	rps float64
	p99 time.Duration
}

func main() {
	rounds := flag.Int("rounds", 3, "rounds; each loads nginx, the gateway and the function directly once")
	dur := flag.Duration("duration", 10*time.Second, "how long each wrk run lasts")
	threads := flag.Int("threads", 2, "wrk threads")
	conns := flag.Int("connections", 32, "wrk connections")
	hold := flag.Bool("hold", false, "set up, print the URLs and wait for Ctrl-C instead of loading them: to profile one by hand")
	bare := flag.Bool("bare", false, "load a fourth: a byte-level Go proxy of this program's own (bare.go), the yardstick of what Go costs")
	flag.Parse()
	for _, tool := range []string{"nginx", "wrk"} {
		if _, err := exec.LookPath(tool); err != nil {
			harness.Fatalf("%s is not installed: apt-get install nginx wrk", tool)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	srv, tmp, done := harness.Boot(ctx, "proxy")
	defer done()
	dr := harness.DeployNew(ctx, srv, filepath.Join(tmp, "repo"), "px", map[string]string{"seedbed.yml": stack,
		"web/go.mod": harness.GoMod, "web/main.go": harness.GoHTTPFunction("v1")}, 4*time.Minute)
	port := ""
	dlog, _ := srv.API.DeployLogs(ctx, dr.Deploy.ID, 0)
	re := regexp.MustCompile(`starting web/hello .* on port (\d+)`)
	for _, l := range dlog.Lines {
		if m := re.FindStringSubmatch(l.Text); m != nil {
			port = m[1]
		}
	}
	if port == "" {
		harness.Fatal("the deploy log does not say which port the function listens on")
	}

	ngAddr, err := harness.FreeAddr()
	if err != nil {
		harness.Fatal(err)
	}
	_, ngPort, _ := strings.Cut(ngAddr, ":")
	ngDir := filepath.Join(tmp, "nginx")
	if err := os.MkdirAll(ngDir, 0o755); err != nil {
		harness.Fatal(err)
	}
	conf := filepath.Join(ngDir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(nginxConf, ngDir, port, ngPort)), 0o644); err != nil {
		harness.Fatal(err)
	}
	ng := exec.Command("nginx", "-c", conf, "-p", ngDir, "-g", "daemon off;")
	ng.Stderr = os.Stderr
	if err := ng.Start(); err != nil {
		harness.Fatal(err)
	}
	// SIGTERM, not SIGKILL: nginx's master stops its workers on the way
	// out, and killed it leaves them running.
	harness.OnFatal(func() { _ = ng.Process.Signal(syscall.SIGTERM) })
	defer func() { _ = ng.Process.Signal(syscall.SIGTERM); _ = ng.Wait() }()

	targets := []struct{ name, url string }{
		{"nginx", "http://" + ngAddr + "/px/dev/http"},
		{"gateway", srv.Gateway + "/px/dev/http"},
		{"direct", "http://127.0.0.1:" + port + "/px/dev/http"},
	}
	if *bare {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			harness.Fatal(err)
		}
		defer ln.Close()
		go newBareProxy("127.0.0.1:" + port).serve(ln)
		targets = append(targets, struct{ name, url string }{"bare", "http://" + ln.Addr().String() + "/px/dev/http"})
	}
	for _, t := range targets {
		if err := waitOK(t.url); err != nil {
			harness.Fatalf("%s: %v", t.name, err)
		}
	}
	if *hold {
		for _, t := range targets {
			fmt.Printf("HOLD %s %s\n", t.name, t.url)
		}
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		return
	}
	fmt.Printf("wrk -t%d -c%d -d%s, %d rounds, %s, load %s\n", *threads, *conns, *dur, *rounds, time.Now().UTC().Format(time.RFC3339), loadavg())
	all := map[string][]result{}
	var ratios, p99ratios, bareRatios, bareP99ratios []float64
	for i := 0; i < *rounds; i++ {
		round := map[string]result{}
		for _, t := range targets {
			r, err := runWrk(t.url, *threads, *conns, *dur)
			if err != nil {
				harness.Fatalf("wrk %s: %v", t.name, err)
			}
			round[t.name] = r
			all[t.name] = append(all[t.name], r)
			fmt.Printf("round %d %-8s %8.0f req/s  p99 %s\n", i+1, t.name, r.rps, harness.Ms(r.p99))
		}
		ratios = append(ratios, round["gateway"].rps/round["nginx"].rps)
		p99ratios = append(p99ratios, float64(round["gateway"].p99)/float64(round["nginx"].p99))
		if *bare {
			bareRatios = append(bareRatios, round["bare"].rps/round["nginx"].rps)
			bareP99ratios = append(bareP99ratios, float64(round["bare"].p99)/float64(round["nginx"].p99))
		}
	}
	for _, t := range targets {
		var rps []float64
		var p99 []float64
		for _, r := range all[t.name] {
			rps = append(rps, r.rps)
			p99 = append(p99, float64(r.p99))
		}
		fmt.Printf("RESULT %-8s median %8.0f req/s  p99 median %s\n", t.name, median(rps), harness.Ms(time.Duration(median(p99))))
	}
	fmt.Printf("RESULT gateway/nginx req/s ratio median %.2f (rounds %s); p99 ratio median %.2f (goal: ≥0.90 and ≤1.20)\n",
		median(ratios), fmtList(ratios), median(p99ratios))
	if *bare {
		fmt.Printf("RESULT bare/nginx req/s ratio median %.2f (rounds %s); p99 ratio median %.2f\n",
			median(bareRatios), fmtList(bareRatios), median(bareP99ratios))
	}
}

// runWrk loads url and reads wrk's requests/s and 99th percentile.
func runWrk(url string, threads, conns int, dur time.Duration) (result, error) {
	out, err := exec.Command("wrk", "-t"+strconv.Itoa(threads), "-c"+strconv.Itoa(conns), "-d"+dur.String(), "--latency", url).CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("%v: %s", err, out)
	}
	s := string(out)
	if m := regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`).FindStringSubmatch(s); m != nil {
		return result{}, fmt.Errorf("%s non-2xx answers:\n%s", m[1], s)
	}
	if strings.Contains(s, "Socket errors") {
		return result{}, fmt.Errorf("socket errors:\n%s", s)
	}
	var r result
	m := regexp.MustCompile(`Requests/sec:\s+([\d.]+)`).FindStringSubmatch(s)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec in:\n%s", s)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	m = regexp.MustCompile(`\n\s+99%\s+([\d.]+)(us|ms|s)`).FindStringSubmatch(s)
	if m == nil {
		return r, fmt.Errorf("no 99%% latency in:\n%s", s)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[2]]
	r.p99 = time.Duration(v * float64(unit))
	return r, nil
}

func waitOK(url string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func fmtList(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.2f", x)
	}
	return strings.Join(parts, ", ")
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
