// Command console measures issue 6's benchmark: console pages under load
// with 200 apps × 3 stages × 1,000 builds of history each. It seeds the
// database through package store, starts the real binary on it, signs in
// through the console form and loads each page at a fixed rate (an open
// loop, latency counted from each request's scheduled start) and then as
// fast as 4 clients go (capacity).
//
//	go run ./bench/console -db sqlite
//	go run ./bench/console -db postgres -pg postgres://postgres@127.0.0.1:5432/test?sslmode=disable
//
// Seeding takes most of a run. To measure again without it, keep the
// database: -keep-db FILE for SQLite (PostgreSQL's is kept anyway; its
// name is printed), then -reuse-db FILE or -reuse-db URL.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/seedbed/seedbed/bench/harness"
	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
)

func main() {
	db := flag.String("db", "sqlite", "sqlite or postgres")
	pg := flag.String("pg", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL server; a fresh database is created next to this one")
	apps := flag.Int("apps", 200, "apps")
	builds := flag.Int("builds", 1000, "builds of history per app")
	rate := flag.Int("rate", 200, "requests per second of the fixed-rate run")
	dur := flag.Duration("duration", 10*time.Second, "length of the fixed-rate run per page")
	capDur := flag.Duration("capacity", 5*time.Second, "length of the closed-loop (capacity) run per page; 0 skips it")
	reuse := flag.String("reuse-db", "", "a database seeded by an earlier run, to skip seeding: a PostgreSQL URL, or with -db sqlite a file kept by -keep-db")
	keep := flag.String("keep-db", "", "with -db sqlite: seed this file (it must not exist) instead of one in the temporary data dir, and leave it for -reuse-db")
	whatIf := flag.Bool("what-if-index", false, "experiment, not the product: add an index on deploys(app_id, id) to the benchmark database before starting")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	tmp, err := os.MkdirTemp("", "seedbed-bench-console-")
	if err != nil {
		harness.Fatal(err)
	}
	harness.OnFatal(func() { os.RemoveAll(tmp) })
	defer os.RemoveAll(tmp)
	bin, err := harness.BuildBinary(tmp)
	if err != nil {
		harness.Fatal(err)
	}
	dataDir := filepath.Join(tmp, "data")
	dbURL := filepath.Join(dataDir, "seedbed.db")
	switch {
	case *db != "sqlite" && *db != "postgres":
		harness.Fatalf("-db %q: want sqlite or postgres", *db)
	case *reuse != "":
		dbURL = *reuse
		if *db == "sqlite" {
			if _, err := os.Stat(*reuse); err != nil {
				harness.Fatalf("-reuse-db: %v", err)
			}
		}
	case *db == "postgres":
		dbURL, err = freshDatabase(*pg)
		if err != nil {
			harness.Fatalf("PostgreSQL at %s: %v", *pg, err)
		}
		fmt.Println("fresh database:", redact(dbURL))
	case *keep != "":
		if _, err := os.Stat(*keep); err == nil {
			harness.Fatalf("-keep-db %s exists: measure on it with -reuse-db %[1]s, or remove it", *keep)
		}
		if dbURL, err = filepath.Abs(*keep); err != nil {
			harness.Fatal(err)
		}
	}
	t := time.Now()
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		harness.Fatal(err)
	}
	var newest []uint
	if *reuse != "" {
		newest, err = newestBuilds(ctx, st)
	} else {
		newest, err = seed(ctx, st, *db, *apps, *builds)
	}
	st.Close()
	if err != nil {
		harness.Fatal(err)
	}
	if *whatIf {
		if err := addIndex(*db, dbURL); err != nil {
			harness.Fatal(err)
		}
		fmt.Println("WHAT-IF: added index bench_deploys_app_id ON deploys(app_id, id) to the benchmark database (not in the product's migrations)")
	}
	if *reuse != "" {
		fmt.Printf("reused %s (%d apps)\n", redact(*reuse), len(newest))
	} else {
		fmt.Printf("seeded %d apps × 3 stages × %d builds (+1 deploy each, promotions, 5 log lines per build, 300 on each app's newest build) into %s in %s\n",
			*apps, *builds, *db, time.Since(t).Round(time.Second))
	}

	opts := harness.Options{Binary: bin, DataDir: dataDir, NoLogin: true}
	if dbURL != filepath.Join(dataDir, "seedbed.db") { // PostgreSQL, or a kept SQLite file
		opts.DatabaseURL = dbURL
	}
	t = time.Now()
	srv, err := harness.Start(ctx, opts)
	if err != nil {
		harness.Fatal(err)
	}
	defer srv.Stop()
	fmt.Printf("seedbed started in %s at %s, %s\n", time.Since(t).Round(time.Millisecond), srv.Console, time.Now().UTC().Format(time.RFC3339))

	client, err := signIn(srv.Console)
	if err != nil {
		harness.Fatal(err)
	}
	// Cheapest page first: an overloaded page leaves a backlog behind, so
	// each page also waits for the server to be idle again (settle).
	pages := []struct {
		name string
		path func() string
	}{
		{"build page /builds/{id}", func() string { return fmt.Sprintf("/builds/%d", newest[rand.IntN(len(newest))]) }},
		{"pipeline board /apps/{app}", func() string { return fmt.Sprintf("/apps/app%03d", 1+rand.IntN(*apps)) }},
		{"apps overview /apps", func() string { return "/apps" }},
	}
	for _, p := range pages {
		get := func(ctx context.Context) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.Console+p.path(), nil)
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("%s: %s", req.URL.Path, resp.Status)
			}
			if n < 500 {
				return fmt.Errorf("%s: only %d bytes", req.URL.Path, n)
			}
			return nil
		}
		settle(client, srv.Console)
		// One at a time first: the page's own cost without queueing.
		single := harness.Closed(ctx, 1, 3*time.Second, 50, get)
		if single.FirstErr != nil {
			harness.Fatalf("%s: %v", p.name, single.FirstErr)
		}
		s1 := harness.Summarise(single.Latencies)
		fmt.Printf("RESULT %-28s %-6s one at a time: p50 %s p99 %s (n=%d)\n", p.name, *db, harness.Ms(s1.P50), harness.Ms(s1.P99), s1.N)

		settle(client, srv.Console)
		rctx, rcancel := context.WithTimeout(ctx, *dur+10*time.Second) // requests still waiting 10 s after the last slot fail
		r := harness.Rate(rctx, *rate, *dur, 256, get)
		rcancel()
		s := harness.Summarise(r.Latencies)
		verdict := "MET"
		if s.P99 >= 25*time.Millisecond || r.Failed > 0 {
			verdict = "MISSED"
		}
		fmt.Printf("RESULT %-28s %-6s at %d req/s for %s: achieved %.1f req/s, p50 %s p99 %s max %s, ok %d failed %d, generator late %d → goal p99<25ms %s\n",
			p.name, *db, *rate, *dur, r.RPS(), harness.Ms(s.P50), harness.Ms(s.P99), harness.Ms(s.Max), r.OK, r.Failed, r.Late, verdict)
		if r.FirstErr != nil {
			fmt.Println("  first error:", r.FirstErr)
		}
		if *capDur > 0 {
			settle(client, srv.Console)
			c := harness.Closed(ctx, 4, *capDur, 100000, get)
			cs := harness.Summarise(c.Latencies)
			fmt.Printf("RESULT %-28s %-6s capacity, 4 clients for %s: %.1f req/s, p50 %s p99 %s\n", p.name, *db, *capDur, c.RPS(), harness.Ms(cs.P50), harness.Ms(cs.P99))
		}
	}
}

// signIn logs in through the console form: GET /login for the CSRF cookie
// and field, then POST /login; the jar keeps the session cookie.
func signIn(base string) (*http.Client, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(base + "/login")
	if err != nil {
		return nil, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="_csrf" value="([^"]+)"`).FindSubmatch(b)
	if m == nil {
		return nil, fmt.Errorf("no _csrf field on /login")
	}
	resp, err = c.PostForm(base+"/login", url.Values{"_csrf": {string(m[1])}, "email": {harness.AdminEmail}, "password": {harness.AdminPassword}})
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("POST /login answered %s", resp.Status)
	}
	return c, nil
}

func freshDatabase(server string) (string, error) {
	db, err := gorm.Open(postgres.Open(server), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		return "", err
	}
	sqlDB, _ := db.DB()
	defer sqlDB.Close()
	name := fmt.Sprintf("seedbed_bench_%d", time.Now().UnixNano())
	if err := db.Exec("CREATE DATABASE " + name).Error; err != nil {
		return "", err
	}
	u, err := url.Parse(server)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

func redact(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return s
}

func hexOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// seed writes the history and returns the newest build id of every app.
// SQLite has one writer, so apps go one after another there; PostgreSQL
// gets 8 at once.
func seed(ctx context.Context, st *store.Store, db string, apps, builds int) ([]uint, error) {
	par := 1
	if db == "postgres" {
		par = 8
	}
	newest := make([]uint, apps)
	var wg sync.WaitGroup
	errs := make(chan error, apps)
	sem := make(chan struct{}, par)
	for i := 1; i <= apps; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			id, err := seedApp(ctx, st, i, builds)
			if err != nil {
				errs <- err
				return
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
	base := time.Now().UTC().Add(-time.Duration(builds) * time.Hour)
	var lastID uint
	live := map[int]struct{ build, deploy uint }{}
	var lines []store.LogLine
	for n := 0; n < builds; n++ {
		at := base.Add(time.Duration(n) * time.Hour)
		started, finished := at.Add(2*time.Second), at.Add(40*time.Second)
		status := store.BuildSucceeded
		if n%17 == 5 {
			status = store.BuildFailed
		}
		commit := hexOf(fmt.Sprint(name, n))[:40]
		b := store.Build{AppID: app.ID, Ref: "main", CommitSHA: commit, CommitMessage: fmt.Sprintf("Change %d: tweak the handler and its tests", n),
			CommitAuthor: "Dev Eloper <dev@example.com>", Status: status, TriggerKind: "push", TriggeredBy: "dev@example.com",
			CreatedAt: at, StartedAt: &started, FinishedAt: &finished}
		if status == store.BuildFailed {
			b.Error = "build command failed: exit status 1"
		}
		if err := st.CreateBuild(ctx, &b); err != nil {
			return 0, err
		}
		lastID = b.ID
		nlines := 5
		if n == builds-1 {
			nlines = 300
		}
		for l := 0; l < nlines; l++ {
			lines = append(lines, store.LogLine{OwnerKind: store.LogBuild, OwnerID: b.ID, Stream: "stdout", Text: fmt.Sprintf("step %d of build %d: compiling package example.com/%s/handler", l, b.ID, name), CreatedAt: started.Add(time.Duration(l) * time.Millisecond)})
		}
		targets := []int{0} // every build goes to dev
		if n%10 == 9 {
			targets = append(targets, 1) // promoted to staging
		}
		if n%50 == 49 {
			targets = append(targets, 2) // and to prod
		}
		for _, s := range targets {
			bid := b.ID
			ds := store.DeploySucceeded
			if status == store.BuildFailed {
				ds = store.DeployCancelled
			}
			d := store.Deploy{AppID: app.ID, StageID: stages[s].ID, BuildID: &bid, Status: ds, TriggerKind: "push", TriggeredBy: "dev@example.com",
				ChangeSet: `{"summary":"Minor change (code or env only): 0 added, 1 changed, 0 removed","functions":[]}`,
				CreatedAt: finished, StartedAt: &finished, FinishedAt: &finished}
			if s > 0 {
				d.TriggerKind = "promotion"
				src := stages[s-1].ID
				d.SourceStageID = &src
			}
			if err := st.CreateDeploy(ctx, &d); err != nil {
				return 0, err
			}
			if ds == store.DeploySucceeded {
				live[s] = struct{ build, deploy uint }{b.ID, d.ID}
			}
		}
		if len(lines) >= 2000 {
			if err := st.AppendLog(ctx, lines); err != nil {
				return 0, err
			}
			lines = lines[:0]
		}
	}
	if err := st.AppendLog(ctx, lines); err != nil {
		return 0, err
	}
	// The live release of each stage. Its function list is empty so that
	// the server's start-up restore has nothing to start (no artifacts
	// exist); the board shows commit, message, author and age all the same.
	for s, l := range live {
		m := pipelines.Manifest{App: name, BuildID: l.build, Commit: hexOf(fmt.Sprint(name, l.build))[:40], Message: "the live change", Author: "Dev Eloper",
			Functions: []targets.Function{}}
		b, _ := json.Marshal(m)
		r := store.Release{AppID: app.ID, BuildID: l.build, Manifest: string(b)}
		if err := st.CreateRelease(ctx, &r); err != nil {
			return 0, err
		}
		if err := st.SetStageLive(ctx, stages[s].ID, r.ID, l.deploy); err != nil {
			return 0, err
		}
	}
	return lastID, nil
}

func newestBuilds(ctx context.Context, st *store.Store) ([]uint, error) {
	apps, err := st.Apps(ctx)
	if err != nil {
		return nil, err
	}
	var out []uint
	for _, a := range apps {
		bs, err := st.Builds(ctx, a.ID, 1)
		if err != nil {
			return nil, err
		}
		if len(bs) > 0 {
			out = append(out, bs[0].ID)
		}
	}
	return out, nil
}

func addIndex(db, dbURL string) error {
	var g *gorm.DB
	var err error
	if db == "postgres" {
		g, err = gorm.Open(postgres.Open(dbURL), &gorm.Config{Logger: logger.Discard})
	} else {
		g, err = gorm.Open(sqlite.Open(dbURL), &gorm.Config{Logger: logger.Discard})
	}
	if err != nil {
		return err
	}
	sqlDB, _ := g.DB()
	defer sqlDB.Close()
	return g.Exec("CREATE INDEX IF NOT EXISTS bench_deploys_app_id ON deploys(app_id, id)").Error
}

// settle waits until the server answers /healthz in under 5 ms five times
// in a row (at most 2 minutes), so one measurement's backlog does not
// leak into the next.
func settle(c *http.Client, base string) {
	start := time.Now()
	good := 0
	for good < 5 && time.Since(start) < 2*time.Minute {
		t := time.Now()
		resp, err := c.Get(base + "/healthz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if err == nil && time.Since(t) < 5*time.Millisecond {
			good++
		} else {
			good = 0
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d := time.Since(start); d > time.Second {
		fmt.Printf("  (waited %s for the server to be idle)\n", d.Round(100*time.Millisecond))
	}
}
