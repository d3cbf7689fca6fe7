// Command promote measures issue 3's benchmark: the time from confirming a
// promotion (POST /api/v1/apps/{app}/promotions) to every route of the next
// stage answering with the promoted release, on the local target, for an
// app with 1 and with 20 functions.
//
//	go run ./bench/promote -iterations 5
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/seedbed/seedbed/bench/harness"
	"github.com/seedbed/seedbed/web/apiv1"
)

func main() {
	iterations := flag.Int("iterations", 5, "promotions measured per app")
	sizes := flag.String("functions", "1,20", "function counts to measure")
	keep := flag.Bool("keep", false, "keep the temporary folder")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	tmp, err := os.MkdirTemp("", "seedbed-bench-promote-")
	if err != nil {
		harness.Fatal(err)
	}
	harness.OnFatal(func() {
		if !*keep {
			os.RemoveAll(tmp)
		}
	})
	if !*keep {
		defer os.RemoveAll(tmp)
	}
	bin, err := harness.BuildBinary(tmp)
	if err != nil {
		harness.Fatal(err)
	}
	srv, err := harness.Start(ctx, harness.Options{Binary: bin, DataDir: filepath.Join(tmp, "data")})
	if err != nil {
		harness.Fatal(err)
	}
	defer srv.Stop()
	fmt.Printf("seedbed at %s, gateway %s, %s\n", srv.Console, srv.Gateway, time.Now().UTC().Format(time.RFC3339))

	for _, n := range strings.Split(*sizes, ",") {
		var count int
		fmt.Sscan(n, &count)
		if err := run(ctx, srv, tmp, count, *iterations); err != nil {
			harness.Fatalf("%d functions: %v (server log: %s)", count, err, srv.LogPath)
		}
	}
}

func stackFile(n int) string {
	var b strings.Builder
	b.WriteString("services:\n  api:\n    path: fn\n    runtime: go\n    functions:\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "      f%d:\n        handler: bootstrap\n        routes: [\"GET /f%d\"]\n", i, i)
	}
	b.WriteString("stages:\n  - name: dev\n    branch: main\n  - name: staging\n  - name: prod\n")
	return b.String()
}

func run(ctx context.Context, srv *harness.Server, tmp string, n, iterations int) error {
	app := fmt.Sprintf("promo%d", n)
	repo, err := harness.NewRepo(filepath.Join(tmp, app))
	if err != nil {
		return err
	}
	if err := repo.Commit("v0", map[string]string{"seedbed.yml": stackFile(n), "fn/go.mod": harness.GoMod, "fn/main.go": harness.GoHTTPFunction("v0")}); err != nil {
		return err
	}
	if _, err := srv.API.CreateApp(ctx, apiv1.CreateAppRequest{Name: app, RepoURL: repo.Dir, Branch: "main"}); err != nil {
		return err
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var total, apiCall, queued, applied []time.Duration
	for it := 0; it <= iterations; it++ { // iteration 0 warms up (first deploy of staging)
		version := fmt.Sprintf("v%d", it+1)
		if err := repo.Commit(version, map[string]string{"fn/main.go": harness.GoHTTPFunction(version)}); err != nil {
			return err
		}
		dr, err := srv.API.Deploy(ctx, app, apiv1.DeployRequest{Stage: "dev"})
		if err != nil {
			return fmt.Errorf("deploy to dev: %w", err)
		}
		if _, err := harness.WaitDeploy(ctx, srv.API, dr.Deploy.ID, 3*time.Minute); err != nil {
			return err
		}
		if err := waitServing(ctx, client, srv.Gateway, app, "dev", n, version, 10*time.Second); err != nil {
			return err
		}

		start := time.Now()
		d, err := srv.API.Promote(ctx, app, apiv1.PromoteRequest{From: "dev", To: "staging", Live: true})
		returned := time.Now()
		if err != nil {
			return fmt.Errorf("promote: %w", err)
		}
		if err := waitServing(ctx, client, srv.Gateway, app, "staging", n, version, 30*time.Second); err != nil {
			return err
		}
		served := time.Now()
		fd, err := harness.WaitDeploy(ctx, srv.API, d.ID, 30*time.Second)
		if err != nil {
			return err
		}
		label := "iteration"
		if it == 0 {
			label = "warm-up  "
		}
		q, a := time.Duration(0), time.Duration(0)
		if fd.StartedAt != nil && fd.FinishedAt != nil {
			q, a = fd.StartedAt.Sub(fd.CreatedAt), fd.FinishedAt.Sub(*fd.StartedAt)
		}
		fmt.Printf("%2d functions %s %d: promote call %s, call returned → all routes serve %s, confirm → serving %s (deploy: queued %s, applying %s)\n",
			n, label, it, harness.Ms(returned.Sub(start)), harness.Ms(served.Sub(returned)), harness.Ms(served.Sub(start)), harness.Ms(q), harness.Ms(a))
		if served.Sub(start) > 500*time.Millisecond && fd.StartedAt != nil {
			// Show where a slow one spent its time.
			page, _ := srv.API.DeployLogs(ctx, fd.ID, 0)
			for _, l := range page.Lines {
				fmt.Printf("      %8.1fms after deploy start: %s\n", float64(l.Time.Sub(*fd.StartedAt))/1e6, l.Text)
			}
		}
		if it == 0 {
			continue
		}
		total = append(total, served.Sub(returned))
		apiCall = append(apiCall, returned.Sub(start))
		queued = append(queued, q)
		applied = append(applied, a)
	}
	t, c, q, a := harness.Summarise(total), harness.Summarise(apiCall), harness.Summarise(queued), harness.Summarise(applied)
	fmt.Printf("RESULT %d functions, %d promotions: call returned → serving median %s max %s | promote call median %s max %s | deploy queued median %s, applying median %s max %s\n",
		n, t.N, harness.Ms(t.P50), harness.Ms(t.Max), harness.Ms(c.P50), harness.Ms(c.Max), harness.Ms(q.P50), harness.Ms(a.P50), harness.Ms(a.Max))
	return nil
}

// waitServing polls every route of a stage in parallel until each answers
// 200 with the given version.
func waitServing(ctx context.Context, client *http.Client, gateway, app, stage string, n int, version string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 1; i <= n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			url := fmt.Sprintf("%s/%s/%s/f%d", gateway, app, stage, i)
			want := version + " /f" + fmt.Sprint(i)
			last := ""
			for time.Now().Before(deadline) {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				resp, err := client.Do(req)
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					last = fmt.Sprintf("%d %q", resp.StatusCode, b)
					if resp.StatusCode == 200 && string(b) == want {
						return
					}
				} else {
					last = err.Error()
				}
				time.Sleep(2 * time.Millisecond)
			}
			errs <- fmt.Errorf("%s did not answer %q within %s (last: %s)", url, want, limit, last)
		}(i)
	}
	wg.Wait()
	close(errs)
	return <-errs
}
