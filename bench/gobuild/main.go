// Command gobuild measures issue 5's build-cache benchmark: a cold build of
// a one-function Go app (a new app, so its per-app Go caches under the data
// dir are empty) against warm rebuilds of the same app, unchanged and with
// a one-line change. The server is started without GOCACHE/GOMODCACHE in
// its environment, so the builder uses its per-app caches.
//
// With -std (the default) the server compiles the shared standard-library
// cache at start (--warm-go-cache) and the benchmark waits for it before
// the first app, so a cold build is a new app's first build on a running
// Seedbed; -std=false measures cold builds that compile the standard
// library themselves.
//
//	go run ./bench/gobuild -apps 3 -rebuilds 3
//	go run ./bench/gobuild -apps 3 -rebuilds 1 -std=false
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/seedbed/seedbed/bench/harness"
	"github.com/seedbed/seedbed/web/apiv1"
)

const stack = `services:
  api:
    path: fn
    runtime: go
    functions:
      hello:
        handler: bootstrap
        routes: ["GET /hello"]
`

func main() {
	apps := flag.Int("apps", 3, "cold builds (one new app each)")
	rebuilds := flag.Int("rebuilds", 3, "warm rebuilds of each kind per app")
	std := flag.Bool("std", true, "let the server compile the shared standard-library cache at start, and wait for it")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	// Keep the builder on its per-app caches: no GOCACHE from our env.
	for _, k := range []string{"GOCACHE", "GOMODCACHE"} {
		os.Unsetenv(k)
	}
	srv, tmp, done := harness.Boot(ctx, "gobuild", fmt.Sprintf("SEEDBED_WARM_GO_CACHE=%t", *std))
	defer done()
	fmt.Printf("seedbed at %s, %s\n", srv.Console, time.Now().UTC().Format(time.RFC3339))
	if *std {
		began := time.Now()
		for {
			if m, _ := filepath.Glob(filepath.Join(tmp, "data", "cache", "go-std", "go*", "build")); len(m) > 0 {
				break
			}
			if ctx.Err() != nil {
				harness.Fatalf("the std cache did not appear: %v", ctx.Err())
			}
			time.Sleep(200 * time.Millisecond)
		}
		fmt.Printf("std cache ready %s after start\n", harness.Ms(time.Since(began)))
	}
	var cold, unchanged, full, changed, coldCmd, unchangedCmd, fullCmd, changedCmd []time.Duration
	for a := 1; a <= *apps; a++ {
		name := fmt.Sprintf("gob%d", a)
		repo, err := harness.NewRepo(filepath.Join(tmp, name))
		if err != nil {
			harness.Fatal(err)
		}
		if err := repo.Commit("v0", map[string]string{"seedbed.yml": stack, "fn/go.mod": harness.GoMod, "fn/main.go": harness.GoHTTPFunction("v0")}); err != nil {
			harness.Fatal(err)
		}
		if _, err := srv.API.CreateApp(ctx, apiv1.CreateAppRequest{Name: name, RepoURL: repo.Dir, Branch: "main"}); err != nil {
			harness.Fatal(err)
		}
		d, c, lines := build(ctx, srv, name, false)
		fmt.Printf("%s cold build: %s (go build + package %s)\n", name, harness.Ms(d), harness.Ms(c))
		cold, coldCmd = append(cold, d), append(coldCmd, c)
		if a == 1 {
			fmt.Println(lines)
		}
		for r := 1; r <= *rebuilds; r++ {
			d, c, lines := build(ctx, srv, name, false)
			fmt.Printf("%s warm rebuild, unchanged commit: %s (go build + package %s)\n", name, harness.Ms(d), harness.Ms(c))
			if a == 1 && r == 1 {
				fmt.Println(lines)
			}
			unchanged, unchangedCmd = append(unchanged, d), append(unchangedCmd, c)
			d, c, lines = build(ctx, srv, name, true)
			fmt.Printf("%s warm rebuild, unchanged commit, full (no reuse): %s (go build + package %s)\n", name, harness.Ms(d), harness.Ms(c))
			if a == 1 && r == 1 {
				fmt.Println(lines)
			}
			full, fullCmd = append(full, d), append(fullCmd, c)
			v := fmt.Sprintf("v%d", r)
			if err := repo.Commit(v, map[string]string{"fn/main.go": harness.GoHTTPFunction(v)}); err != nil {
				harness.Fatal(err)
			}
			d, c, _ = build(ctx, srv, name, false)
			fmt.Printf("%s warm rebuild, one-line change: %s (go build + package %s)\n", name, harness.Ms(d), harness.Ms(c))
			changed, changedCmd = append(changed, d), append(changedCmd, c)
		}
	}
	for _, r := range []struct {
		name   string
		d, cmd []time.Duration
	}{{coldName(*std), cold, coldCmd}, {"warm, unchanged commit", unchanged, unchangedCmd}, {"warm, unchanged, full rebuild", full, fullCmd}, {"warm, one-line change", changed, changedCmd}} {
		s, c := harness.Summarise(r.d), harness.Summarise(r.cmd)
		fmt.Printf("RESULT %-28s n=%d build (started→finished) median %s min %s max %s | go build + package median %s\n", r.name, s.N, harness.Ms(s.P50), harness.Ms(s.Min), harness.Ms(s.Max), harness.Ms(c.P50))
	}
}

// build deploys the app's main branch to dev and returns the build's
// duration (started → finished), the span from the "$ go build" line to the
// last "Packaged" line, and the build log.
func build(ctx context.Context, srv *harness.Server, app string, full bool) (time.Duration, time.Duration, string) {
	dr, err := srv.API.Deploy(ctx, app, apiv1.DeployRequest{Stage: "dev", Full: full})
	if err != nil {
		harness.Fatal(err)
	}
	if _, err := harness.WaitDeploy(ctx, srv.API, dr.Deploy.ID, 3*time.Minute); err != nil {
		harness.Fatal(err)
	}
	b, err := srv.API.Build(ctx, dr.Build.ID)
	if err != nil || b.StartedAt == nil || b.FinishedAt == nil {
		harness.Fatalf("build %d: %v", dr.Build.ID, err)
	}
	page, _ := srv.API.BuildLogs(ctx, b.ID, 0)
	var cmdAt, pkgAt time.Time
	var sb strings.Builder
	for _, l := range page.Lines {
		fmt.Fprintf(&sb, "    %7.1fms %s\n", float64(l.Time.Sub(*b.StartedAt))/1e6, l.Text)
		if strings.HasPrefix(l.Text, "$ ") && cmdAt.IsZero() {
			cmdAt = l.Time
		}
		if strings.HasPrefix(l.Text, "Packaged ") {
			pkgAt = l.Time
		}
	}
	var cmd time.Duration
	if !cmdAt.IsZero() && !pkgAt.IsZero() {
		cmd = pkgAt.Sub(cmdAt)
	}
	return b.FinishedAt.Sub(*b.StartedAt), cmd, sb.String()
}

func coldName(std bool) string {
	if std {
		return "cold (new app, std cache)"
	}
	return "cold (empty per-app cache)"
}
