// Command scaling measures issue 14's cold start from zero: a request
// that arrives while a function runs no instance, until its response, for
// a Go, a Node and a Python HTTP function and a Go Lambda-style handler
// (aws-lambda-go), all with instances {min: 0, max: 1,
// scale_down_after: 1s}, through the real `seedbed serve`'s gateway.
//
// Each round waits -idle (long enough for every function to scale to
// zero), then calls each function once, one after the other. Every
// function answers with an id it drew at random when its process started
// (not its pid: a sandboxed process has a pid namespace of its own, where
// pids repeat): a round whose answer came from the process of the round
// before was no cold start and is counted as a miss, not measured. A second call right after each cold one gives the
// warm latency beside it. The server's log lines for each start (where
// the time went: prepare, spawn, ready) are summarised at the end.
//
// The Lambda function's build needs github.com/aws/aws-lambda-go v1.55.1
// in the Go module cache of the machine: the packages it uses are copied
// from there into the function's vendor folder, since a sandboxed build
// user cannot read the module cache and GOPROXY=off is passed to the
// server (nothing is downloaded).
//
//	go run ./bench/scaling -rounds 30 -idle 2.5s
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/seedbed/seedbed/bench/harness"
)

const scale = `
        instances: {min: 0, max: 1, scale_down_after: 1s}`

const stack = `services:
  goweb:
    path: goweb
    runtime: go
    functions:
      hello:
        handler: bootstrap
        routes: ["GET /go"]` + scale + `
  nodeweb:
    path: nodeweb
    runtime: node
    functions:
      hello:
        handler: server.js
        routes: ["GET /node"]` + scale + `
  pyweb:
    path: pyweb
    runtime: python
    functions:
      hello:
        handler: app.py
        routes: ["GET /python"]` + scale + `
  lam:
    path: lam
    runtime: go
    # The builder's GOFLAGS say -mod=mod; the flag wins.
    build: go build -mod=vendor -trimpath -o bootstrap .
    functions:
      hello:
        type: lambda
        handler: bootstrap
        routes: ["GET /lambda"]` + scale + `
`

const goMain = `package main

import (
	"crypto/rand"
	"net/http"
	"os"
)

func main() {
	pid := rand.Text()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(pid)) })
	http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil)
}
`

const nodeServer = `const http = require("http");
const pid = require("crypto").randomBytes(12).toString("hex");
http.createServer((req, res) => res.end(pid)).listen(Number(process.env.PORT), "127.0.0.1");
`

const pyApp = `import os
from http.server import BaseHTTPRequestHandler, HTTPServer

PID = os.urandom(12).hex().encode()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(PID)))
        self.end_headers()
        self.wfile.write(PID)

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
`

const lambdaMain = `package main

import (
	"context"
	"crypto/rand"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

var pid = rand.Text()

func handler(ctx context.Context, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: pid}, nil
}

func main() { lambda.Start(handler) }
`

const lambdaMod = "module example.com/lam\n\ngo 1.26\n\nrequire github.com/aws/aws-lambda-go v1.55.1\n"

const lambdaSum = "github.com/aws/aws-lambda-go v1.55.1 h1:We2cCp4BwqqH/JW+bEEo1FhgG71rslvjfi4y7KmlrR0=\n" +
	"github.com/aws/aws-lambda-go v1.55.1/go.mod h1:V+NzkHNR6vBC8C1PDloqSLE+7jYWFiPvJJFiCiTm8nE=\n"

type target struct {
	name, path, function string
	cold, warm           []time.Duration
	misses, failures     int
	lastPID              string
}

func main() {
	rounds := flag.Int("rounds", 30, "cold starts per function")
	idle := flag.Duration("idle", 2500*time.Millisecond, "wait between rounds (scale_down_after is 1s, checked every second)")
	isolation := flag.String("isolation", "auto", "the server's --isolation: auto (sandboxed where bubblewrap and pasta work), sandbox or none")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	modcache, _ := exec.Command("go", "env", "GOMODCACHE").Output()
	srv, tmp, done := harness.Boot(ctx, "scaling", "GOMODCACHE="+strings.TrimSpace(string(modcache)), "GOPROXY=off", "SEEDBED_ISOLATION="+*isolation)
	defer done()
	fmt.Printf("seedbed at %s, %s, %d rounds, %s idle between them, isolation %s\n", srv.Console, time.Now().UTC().Format(time.RFC3339), *rounds, *idle, *isolation)
	files := map[string]string{"seedbed.yml": stack,
		"goweb/go.mod": harness.GoMod, "goweb/main.go": goMain,
		"nodeweb/server.js": nodeServer, "nodeweb/package.json": `{"name": "nodeweb", "private": true}` + "\n",
		"pyweb/app.py": pyApp,
		"lam/go.mod":   lambdaMod, "lam/go.sum": lambdaSum, "lam/main.go": lambdaMain}
	if err := vendorLambda(strings.TrimSpace(string(modcache)), files); err != nil {
		harness.Fatal(err)
	}
	harness.DeployNew(ctx, srv, filepath.Join(tmp, "repo"), "cold", files, 6*time.Minute)
	targets := []*target{
		{name: "go http", path: "/go", function: "goweb/hello"},
		{name: "node http", path: "/node", function: "nodeweb/hello"},
		{name: "python http", path: "/python", function: "pyweb/hello"},
		{name: "go lambda (aws-lambda-go)", path: "/lambda", function: "lam/hello"},
	}
	// A fresh connection per request, as a client arriving at an idle
	// function has.
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(path string) (string, time.Duration, error) {
		began := time.Now()
		resp, err := client.Get(srv.Gateway + "/cold/dev" + path)
		if err != nil {
			return "", 0, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(began)
		if err != nil {
			return "", 0, err
		}
		if resp.StatusCode != 200 {
			return "", 0, fmt.Errorf("%d %q", resp.StatusCode, b)
		}
		return string(b), took, nil
	}
	for round := 1; round <= *rounds; round++ {
		time.Sleep(*idle)
		for _, t := range targets {
			pid, took, err := get(t.path)
			switch {
			case err != nil:
				t.failures++
				fmt.Printf("round %d %s: %v\n", round, t.name, err)
				continue
			case pid == t.lastPID:
				t.misses++ // the instance had not stopped: no cold start
			default:
				t.cold = append(t.cold, took)
			}
			t.lastPID = pid
			if _, w, err := get(t.path); err == nil {
				t.warm = append(t.warm, w)
			}
		}
		if round%10 == 0 {
			fmt.Printf("round %d done\n", round)
		}
	}
	for _, t := range targets {
		c, w := harness.Summarise(t.cold), harness.Summarise(t.warm)
		fmt.Printf("RESULT cold start %-26s n=%-3d median %-9s p99 %-9s min %-9s max %-9s | warm median %-8s | misses %d, failures %d\n",
			t.name, c.N, harness.Ms(c.P50), harness.Ms(c.P99), harness.Ms(c.Min), harness.Ms(c.Max), harness.Ms(w.P50), t.misses, t.failures)
	}
	phases(srv.LogPath, targets)
}

// vendorLambda copies the packages of aws-lambda-go the Lambda function
// uses from the module cache into lam/vendor, with their modules.txt.
func vendorLambda(modcache string, files map[string]string) error {
	const mod, version = "github.com/aws/aws-lambda-go", "v1.55.1"
	src := filepath.Join(modcache, mod+"@"+version)
	pkgs := []string{"events", "lambda", "lambda/handlertrace", "lambda/messages", "lambdacontext"}
	list := "# " + mod + " " + version + "\n## explicit; go 1.26\n"
	for _, p := range pkgs {
		entries, err := os.ReadDir(filepath.Join(src, p))
		if err != nil {
			return fmt.Errorf("aws-lambda-go %s is not in the module cache (go mod download %s@%s): %w", version, mod, version, err)
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
				continue
			}
			b, err := os.ReadFile(filepath.Join(src, p, e.Name()))
			if err != nil {
				return err
			}
			files["lam/vendor/"+mod+"/"+p+"/"+e.Name()] = string(b)
		}
		list += mod + "/" + p + "\n"
	}
	files["lam/vendor/modules.txt"] = list
	return nil
}

// phases summarises the server's "instance started" lines per function:
// the median of the whole start and of its parts.
func phases(logPath string, targets []*target) {
	f, err := os.Open(logPath)
	if err != nil {
		fmt.Println("no server log:", err)
		return
	}
	defer f.Close()
	field := func(line, key string) time.Duration {
		m := regexp.MustCompile(`\b` + key + `=(\S+)`).FindStringSubmatch(line)
		if m == nil {
			return 0
		}
		d, _ := time.ParseDuration(strings.Trim(m[1], `"`))
		return d
	}
	type parts struct{ took, prepare, spawn, ready []time.Duration }
	by := map[string]*parts{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, "instance started") {
			continue
		}
		for _, t := range targets {
			if strings.Contains(line, "function="+t.function) {
				p := by[t.function]
				if p == nil {
					p = &parts{}
					by[t.function] = p
				}
				p.took = append(p.took, field(line, "took"))
				p.prepare = append(p.prepare, field(line, "prepare"))
				p.spawn = append(p.spawn, field(line, "spawn"))
				p.ready = append(p.ready, field(line, "ready"))
			}
		}
	}
	for _, t := range targets {
		p := by[t.function]
		if p == nil {
			fmt.Printf("PHASES %-26s (no start logged)\n", t.name)
			continue
		}
		med := func(ds []time.Duration) string { return harness.Ms(harness.Summarise(ds).P50) }
		fmt.Printf("PHASES %-26s starts %-3d median start %-9s = prepare %-8s + spawn %-8s + until ready %s\n",
			t.name, len(p.took), med(p.took), med(p.prepare), med(p.spawn), med(p.ready))
	}
}
