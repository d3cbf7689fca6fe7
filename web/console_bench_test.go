package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web"
	"github.com/seedbed/seedbed/web/auth"
)

// BenchmarkConsolePages serves the console pages of bench/console to a
// signed-in admin, each request whole: routing, CSRF, session lookup, the
// handler and rendering. The data has bench/console's shape: 200 apps × 3
// stages, each build deployed to dev, every 10th promoted to staging and
// every 50th to prod, a live release on each stage and 300 log lines on
// each app's newest build. SEEDBED_BENCH_BUILDS sets the builds per app
// (default 50; bench/console seeds 1,000, which deepens the indexes but
// does not change what a page reads). Pages: the apps overview (/apps), a
// pipeline board (/apps/app077) and a build page (app077's newest build);
// each in process ("handler", the page discarded) and over a loopback
// connection with the client's share ("http").
//
//	go test ./web -run '^$' -bench ConsolePages -benchmem -count 5
//	go test ./web -run '^$' -bench 'ConsolePages/sqlite/apps/handler' -cpuprofile cpu.out -memprofile mem.out
func BenchmarkConsolePages(b *testing.B) {
	builds := 50
	if v := os.Getenv("SEEDBED_BENCH_BUILDS"); v != "" {
		builds, _ = strconv.Atoi(v)
	}
	dbs := []struct {
		name string
		url  func(b *testing.B) string
	}{
		{"sqlite", func(b *testing.B) string { return filepath.Join(b.TempDir(), "seedbed.db") }},
		{"postgres", func(b *testing.B) string { return testutil.PostgresURL(b) }},
	}
	for _, db := range dbs {
		b.Run(db.name, func(b *testing.B) {
			ctx := context.Background()
			st, err := store.Open(ctx, db.url(b))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			newest, err := seedApps(ctx, st, 200, builds)
			if err != nil {
				b.Fatal(err)
			}
			accounts := auth.New(st, 4)
			u, err := accounts.CreateUser(ctx, "ada@example.com", "correct-horse", true, false)
			if err != nil {
				b.Fatal(err)
			}
			secret, _, err := accounts.NewSession(ctx, u, "bench")
			if err != nil {
				b.Fatal(err)
			}
			handler, err := web.New(web.Config{Store: st, Pipelines: pipelines.New(pipelines.Config{Store: st}), Accounts: accounts,
				Assets: fstest.MapFS{}, GatewayURL: "http://gw.example"})
			if err != nil {
				b.Fatal(err)
			}
			pages := []struct{ name, path string }{
				{"apps", "/apps"},
				{"board", "/apps/app077"},
				{"build", fmt.Sprintf("/builds/%d", newest[76])},
			}
			for _, page := range pages {
				req := func(base string) *http.Request {
					r := httptest.NewRequest(http.MethodGet, base+page.path, nil)
					r.RequestURI = "" // a client request when base is a server
					r.AddCookie(&http.Cookie{Name: "seedbed_session", Value: secret})
					r.AddCookie(&http.Cookie{Name: "seedbed_csrf", Value: "0123456789abcdef0123456789abcdef"})
					return r
				}
				b.Run(page.name+"/handler", func(b *testing.B) {
					w := &discardWriter{header: http.Header{}}
					handler.ServeHTTP(w, req(""))
					if w.status != http.StatusOK || w.n < 5000 {
						b.Fatalf("GET %s: %d, %d bytes", page.path, w.status, w.n)
					}
					measure(b, func() int {
						w := &discardWriter{header: http.Header{}}
						handler.ServeHTTP(w, req(""))
						if w.status != http.StatusOK {
							b.Fatalf("GET %s: %d", page.path, w.status)
						}
						return w.n
					})
				})
				b.Run(page.name+"/http", func(b *testing.B) {
					srv := httptest.NewServer(handler)
					defer srv.Close()
					client := srv.Client()
					measure(b, func() int {
						resp, err := client.Do(req(srv.URL))
						if err != nil {
							b.Fatal(err)
						}
						n, _ := io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != http.StatusOK {
							b.Fatalf("GET %s: %s", page.path, resp.Status)
						}
						return int(n)
					})
				})
			}
		})
	}
}

// measure runs view b.N times and reports, besides ns/op, the CPU time of
// the whole process per view (on a shared machine it moves far less than
// ns/op, which counts waiting for a core too) and the page's size.
func measure(b *testing.B, view func() int) {
	b.ReportAllocs()
	var size int
	cpu0 := cpuTime()
	for b.Loop() {
		size = view()
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(size), "bytes/page")
}

// discardWriter is an http.ResponseWriter that keeps the status and the
// body's length only.
type discardWriter struct {
	header http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header { return w.header }
func (w *discardWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}
func (w *discardWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.n += len(p)
	return len(p), nil
}

// seedApps writes n apps with bench/console's history, several apps at
// once, and returns the newest build of each.
func seedApps(ctx context.Context, st *store.Store, n, builds int) ([]uint, error) {
	par := 1
	if st.Dialect() == "postgres" {
		par = 8
	}
	newest := make([]uint, n)
	sem := make(chan struct{}, par)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := 1; i <= n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			id, err := seedApp(ctx, st, i, builds)
			if err != nil {
				errs <- err
			}
			newest[i-1] = id
		}(i)
	}
	wg.Wait()
	close(errs)
	return newest, <-errs
}

func seedApp(ctx context.Context, st *store.Store, i, builds int) (uint, error) {
	name := fmt.Sprintf("app%03d", i)
	app := store.App{Name: name, RepoURL: "https://git.example.com/team/" + name + ".git", Branch: "main"}
	stages := []store.Stage{{Name: "dev", Branch: "main", Target: "local"}, {Name: "staging", Target: "local"}, {Name: "prod", Approval: true, Target: "local"}}
	if err := st.CreateApp(ctx, &app, stages); err != nil {
		return 0, err
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	live := map[int]struct{ build, deploy uint }{}
	var newest uint
	for n := 0; n < builds; n++ {
		at := base.Add(time.Duration(n) * time.Hour)
		finished := at.Add(40 * time.Second)
		status := store.BuildSucceeded
		if n%17 == 5 {
			status = store.BuildFailed
		}
		bd := store.Build{AppID: app.ID, Ref: "main", CommitSHA: fmt.Sprintf("%040d", n), CommitMessage: fmt.Sprintf("Change %d: tweak the handler and its tests", n),
			CommitAuthor: "Dev Eloper <dev@example.com>", Status: status, TriggerKind: "push", CreatedAt: at, StartedAt: &at, FinishedAt: &finished}
		if err := st.CreateBuild(ctx, &bd); err != nil {
			return 0, err
		}
		newest = bd.ID
		targets := []int{0}
		if n%10 == 9 {
			targets = append(targets, 1)
		}
		if n%50 == 49 {
			targets = append(targets, 2)
		}
		for _, s := range targets {
			ds := store.DeploySucceeded
			if status == store.BuildFailed {
				ds = store.DeployCancelled
			}
			d := store.Deploy{AppID: app.ID, StageID: stages[s].ID, BuildID: &bd.ID, Status: ds, TriggerKind: "push", CreatedAt: finished, StartedAt: &finished, FinishedAt: &finished}
			if err := st.CreateDeploy(ctx, &d); err != nil {
				return 0, err
			}
			if ds == store.DeploySucceeded {
				live[s] = struct{ build, deploy uint }{bd.ID, d.ID}
			}
		}
	}
	var lines []store.LogLine
	for l := 0; l < 300; l++ {
		lines = append(lines, store.LogLine{OwnerKind: store.LogBuild, OwnerID: newest, Stream: "stdout",
			Text: fmt.Sprintf("step %d of build %d: compiling package example.com/%s/handler", l, newest, name), CreatedAt: base})
	}
	if err := st.AppendLog(ctx, lines); err != nil {
		return 0, err
	}
	for s, l := range live {
		r := store.Release{AppID: app.ID, BuildID: l.build, Manifest: `{"app":"` + name + `","commit":"0000000000000000000000000000000000000000","message":"the live change","functions":[]}`}
		if err := st.CreateRelease(ctx, &r); err != nil {
			return 0, err
		}
		if err := st.SetStageLive(ctx, stages[s].ID, r.ID, l.deploy); err != nil {
			return 0, err
		}
	}
	return newest, nil
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
