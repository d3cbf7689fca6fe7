// Command gateway measures issue 5's gateway benchmark: requests/s and
// p50/p99 latency of a Go HTTP function and of a Go Lambda-style function
// (aws-lambda-go, served the Lambda Runtime API by the local target) under
// the same closed-loop load, in one run, through Seedbed's gateway; plus
// the HTTP function called directly on its own port as a baseline.
//
// The Lambda function's build needs github.com/aws/aws-lambda-go v1.55.1 in
// the Go module cache of the machine (GOMODCACHE is passed to the server and
// GOPROXY=off, so nothing is downloaded).
//
//	go run ./bench/gateway -workers 4 -duration 10s
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
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
  lam:
    path: lam
    runtime: go
    functions:
      hello:
        type: lambda
        handler: bootstrap
        routes: ["GET /lambda"]
`

const lambdaMain = `package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func handler(ctx context.Context, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "v1 " + e.RawPath}, nil
}

func main() { lambda.Start(handler) }
`

const lambdaMod = "module example.com/lam\n\ngo 1.26\n\nrequire github.com/aws/aws-lambda-go v1.55.1\n"

const lambdaSum = "github.com/aws/aws-lambda-go v1.55.1 h1:We2cCp4BwqqH/JW+bEEo1FhgG71rslvjfi4y7KmlrR0=\n" +
	"github.com/aws/aws-lambda-go v1.55.1/go.mod h1:V+NzkHNR6vBC8C1PDloqSLE+7jYWFiPvJJFiCiTm8nE=\n"

func main() {
	workers := flag.Int("workers", 4, "concurrent clients")
	dur := flag.Duration("duration", 10*time.Second, "how long each target is loaded")
	max := flag.Int("max", 500000, "most requests per target")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	modcache, _ := exec.Command("go", "env", "GOMODCACHE").Output()
	srv, tmp, done := harness.Boot(ctx, "gateway", "GOMODCACHE="+strings.TrimSpace(string(modcache)), "GOPROXY=off")
	defer done()
	fmt.Printf("seedbed at %s, %s, %d workers × %s per target\n", srv.Console, time.Now().UTC().Format(time.RFC3339), *workers, *dur)
	dr := harness.DeployNew(ctx, srv, filepath.Join(tmp, "repo"), "gw", map[string]string{"seedbed.yml": stack,
		"web/go.mod": harness.GoMod, "web/main.go": harness.GoHTTPFunction("v1"),
		"lam/go.mod": lambdaMod, "lam/go.sum": lambdaSum, "lam/main.go": lambdaMain}, 4*time.Minute)
	// The HTTP function's own port, from the deploy log, for the baseline.
	direct := ""
	dlog, _ := srv.API.DeployLogs(ctx, dr.Deploy.ID, 0)
	re := regexp.MustCompile(`starting web/hello .* on port (\d+)`)
	for _, l := range dlog.Lines {
		if m := re.FindStringSubmatch(l.Text); m != nil {
			direct = "http://127.0.0.1:" + m[1] + "/http"
		}
	}

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *workers * 2, DisableCompression: true}}
	get := func(url, want string) func(context.Context) error {
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
			if resp.StatusCode != 200 || string(b) != want {
				return fmt.Errorf("%s: %d %q", url, resp.StatusCode, b)
			}
			return nil
		}
	}
	targets := []struct{ name, url, want string }{
		{"http function via gateway", srv.Gateway + "/gw/dev/http", "v1 /http"},
		{"lambda function via gateway", srv.Gateway + "/gw/dev/lambda", "v1 /lambda"},
	}
	if direct != "" {
		targets = append(targets, struct{ name, url, want string }{"http function direct (no gateway)", direct, "v1 /http"})
	}
	for _, t := range targets {
		if err := get(t.url, t.want)(ctx); err != nil {
			harness.Fatalf("%s does not answer: %v", t.name, err)
		}
		harness.Closed(ctx, *workers, time.Second, *max, get(t.url, t.want)) // warm-up
	}
	for _, t := range targets {
		r := harness.Closed(ctx, *workers, *dur, *max, get(t.url, t.want))
		s := harness.Summarise(r.Latencies)
		fmt.Printf("RESULT %-34s %8.0f req/s  p50 %s  p99 %s  max %s  (ok %d, failed %d)\n", t.name, r.RPS(), harness.Ms(s.P50), harness.Ms(s.P99), harness.Ms(s.Max), r.OK, r.Failed)
		if r.FirstErr != nil {
			fmt.Println("  first error:", r.FirstErr)
		}
	}
}
