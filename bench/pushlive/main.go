// Command pushlive measures issue 4's benchmark: push-to-live latency of a
// one-function Go app through the built-in git remote, split into phases
// taken from the push's own output (each `remote:` line timestamped as it
// arrives) and from the build's and deploy's stored log timestamps.
//
//	go run ./bench/pushlive -pushes 5
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
	"strings"
	"time"

	"github.com/seedbed/seedbed/bench/harness"
	"github.com/seedbed/seedbed/builders/artifact"
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

type line struct {
	at   time.Time
	text string
}

func main() {
	pushes := flag.Int("pushes", 5, "measured pushes (after one warm-up push)")
	verbose := flag.Bool("v", false, "print every push, build and deploy line with its time")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	srv, tmp, done := harness.Boot(ctx, "push")
	defer done()
	fmt.Printf("seedbed at %s, %s\n", srv.Console, time.Now().UTC().Format(time.RFC3339))
	if _, err := srv.API.CreateApp(ctx, apiv1.CreateAppRequest{Name: "pushy"}); err != nil {
		harness.Fatal(err)
	}
	repo, err := harness.NewRepo(filepath.Join(tmp, "repo"))
	if err != nil {
		harness.Fatal(err)
	}
	remote := "http://bench:" + srv.API.Token + "@" + strings.TrimPrefix(srv.Console, "http://") + "/git/pushy.git"

	type row struct{ total, seedbed, build, seedbedMin time.Duration }
	var rows []row
	phaseSums := map[string][]time.Duration{}
	var packs []time.Duration
	var phaseOrder []string
	for i := 0; i <= *pushes; i++ {
		version := fmt.Sprintf("v%d", i)
		files := map[string]string{"fn/main.go": harness.GoHTTPFunction(version)}
		if i == 0 {
			files["seedbed.yml"] = stack
			files["fn/go.mod"] = harness.GoMod
		}
		if err := repo.Commit(version, files); err != nil {
			harness.Fatal(err)
		}
		start := time.Now()
		lines, err := push(repo.Dir, remote)
		end := time.Now()
		if err != nil {
			harness.Fatalf("push %d: %v\n%s", i, err, dump(lines, start))
		}
		// Live means the gateway answers with the new version.
		liveAt, err := waitLive(srv.Gateway+"/pushy/dev/hello", version+" /hello", 10*time.Second)
		if err != nil {
			harness.Fatal(err)
		}
		builds, err := srv.API.Builds(ctx, "pushy")
		if err != nil || len(builds) == 0 {
			harness.Fatalf("builds: %v", err)
		}
		b := builds[0]
		blog, _ := srv.API.BuildLogs(ctx, b.ID, 0)
		deploys, _ := srv.API.Deploys(ctx, "pushy")
		var d apiv1.Deploy
		for _, x := range deploys {
			if x.BuildID == b.ID {
				d = x
			}
		}
		dlog, _ := srv.API.DeployLogs(ctx, d.ID, 0)
		if *verbose || i == 0 {
			fmt.Printf("--- push %d (%s): push lines\n%s", i, version, dump(lines, start))
			fmt.Printf("build #%d created %s started %s finished %s\n", b.ID, rel(b.CreatedAt, start), relp(b.StartedAt, start), relp(b.FinishedAt, start))
			for _, l := range blog.Lines {
				fmt.Printf("  build %8s %s\n", rel(l.Time, start), l.Text)
			}
			fmt.Printf("deploy #%d created %s started %s finished %s\n", d.ID, rel(d.CreatedAt, start), relp(d.StartedAt, start), relp(d.FinishedAt, start))
			for _, l := range dlog.Lines {
				fmt.Printf("  deploy %8s %s\n", rel(l.Time, start), l.Text)
			}
		}
		ph := phases(start, end, liveAt, b, blog.Lines, d, dlog.Lines)
		if liveAt.Before(end) {
			liveAt = end
		}
		total := liveAt.Sub(start)
		buildCmd, pack, err := buildCommandTime(ctx, filepath.Join(tmp, "data"), repo.Dir, i)
		if err != nil {
			harness.Fatal(err)
		}
		buildPkg := time.Duration(0)
		for _, p := range ph {
			if p.name == "build command + package" {
				buildPkg = p.d
			}
		}
		if i == 0 {
			fmt.Printf("warm-up push (cold Go cache): push→live %s, build command alone (cache now warm) %s\n", harness.Ms(total), harness.Ms(buildCmd))
			continue
		}
		var parts []string
		for _, p := range ph {
			if _, ok := phaseSums[p.name]; !ok {
				phaseOrder = append(phaseOrder, p.name)
			}
			phaseSums[p.name] = append(phaseSums[p.name], p.d)
			parts = append(parts, fmt.Sprintf("%s %s", p.name, harness.Ms(p.d)))
		}
		packs = append(packs, pack)
		fmt.Printf("push %d: push→live %s, build command (re-run by hand) %s, package (by hand) %s, Seedbed's share %s (at least %s) | %s\n", i, harness.Ms(total), harness.Ms(buildCmd), harness.Ms(pack), harness.Ms(total-buildCmd), harness.Ms(total-buildPkg), strings.Join(parts, ", "))
		rows = append(rows, row{total, total - buildCmd, buildCmd, total - buildPkg})
	}
	pk := harness.Summarise(packs)
	fmt.Printf("RESULT packaging the 2.3 MiB binary by hand (artifact.Pack + Put): median %s max %s\n", harness.Ms(pk.P50), harness.Ms(pk.Max))
	var tot, sb, bc, sm []time.Duration
	for _, r := range rows {
		tot, sb, bc, sm = append(tot, r.total), append(sb, r.seedbed), append(bc, r.build), append(sm, r.seedbedMin)
	}
	t, s, c, m := harness.Summarise(tot), harness.Summarise(sb), harness.Summarise(bc), harness.Summarise(sm)
	fmt.Printf("RESULT %d warm pushes: push→live median %s max %s | build command re-run by hand median %s | Seedbed's share median %s max %s (lower bound, all of build command + package counted as the user's: median %s max %s)\n",
		t.N, harness.Ms(t.P50), harness.Ms(t.Max), harness.Ms(c.P50), harness.Ms(s.P50), harness.Ms(s.Max), harness.Ms(m.P50), harness.Ms(m.Max))
	for _, name := range phaseOrder {
		st := harness.Summarise(phaseSums[name])
		fmt.Printf("RESULT phase %-28s median %9s max %9s\n", name, harness.Ms(st.P50), harness.Ms(st.Max))
	}
}

type phase struct {
	name string
	d    time.Duration
}

// find returns the time of the first (or last) log line containing sub.
func find(ls []apiv1.LogLine, sub string, last bool) time.Time {
	var t time.Time
	for _, l := range ls {
		if strings.Contains(l.Text, sub) {
			t = l.Time
			if !last {
				return t
			}
		}
	}
	return t
}

// phases cuts push→live into named parts from the build's and deploy's
// records and the time stamps of their log lines. The build command and
// packaging are not separated by a log line, so they form one phase here;
// the build command alone is timed separately (see buildCommandTime).
func phases(start, end, liveAt time.Time, b apiv1.Build, blog []apiv1.LogLine, d apiv1.Deploy, dlog []apiv1.LogLine) []phase {
	var out []phase
	add := func(name string, from, to time.Time) {
		if from.IsZero() || to.IsZero() {
			name += " (not found in the log)"
		}
		out = append(out, phase{name, to.Sub(from)})
	}
	bStarted, bFinished := derefOr(b.StartedAt), derefOr(b.FinishedAt)
	dStarted, dFinished := derefOr(d.StartedAt), derefOr(d.FinishedAt)
	checkedOut := find(blog, "Checked out", false)
	cmdStart := find(blog, "$ ", false)
	packaged := find(blog, "Packaged ", true)
	starting := find(dlog, "starting ", false)
	healthy := find(dlog, "healthy in", true)
	add("receive (push start → build recorded)", start, b.CreatedAt)
	add("build queue wait", b.CreatedAt, bStarted)
	add("checkout (fetch from the built-in remote)", bStarted, checkedOut)
	add("prepare workspace", checkedOut, cmdStart)
	add("build command + package", cmdStart, packaged)
	add("record release, end build", packaged, bFinished)
	add("deploy queue wait", bFinished, dStarted)
	add("deploy: plan, unpack artifact", dStarted, starting)
	add("deploy: start + health check", starting, healthy)
	add("deploy: switch routes, stop old", healthy, dFinished)
	add("push returns (hook notices the end)", dFinished, end)
	if liveAt.After(end) {
		add("gateway serves after push returned", end, liveAt)
	}
	return out
}

func push(dir, remote string) ([]line, error) {
	cmd := exec.Command("git", "push", "--progress", remote, "main")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var lines []line
	sc := bufio.NewScanner(stderr)
	sc.Split(scanLinesOrCR)
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" {
			lines = append(lines, line{time.Now(), t})
		}
	}
	return lines, cmd.Wait()
}

// scanLinesOrCR splits on \n and \r (git's progress uses \r).
func scanLinesOrCR(data []byte, atEOF bool) (int, []byte, error) {
	for i, c := range data {
		if c == '\n' || c == '\r' {
			return i + 1, data[:i], nil
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

func waitLive(url, want string, limit time.Duration) (time.Time, error) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && string(b) == want {
				return time.Now(), nil
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("%s did not answer %q within %s", url, want, limit)
}

func dump(ls []line, start time.Time) string {
	var b strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&b, "  push %8s %s\n", rel(l.at, start), l.text)
	}
	return b.String()
}

func rel(t, start time.Time) string { return fmt.Sprintf("%.1fms", float64(t.Sub(start))/1e6) }
func relp(t *time.Time, start time.Time) string {
	if t == nil {
		return "-"
	}
	return rel(*t, start)
}

// buildCommandTime runs the go runtime's default build command by hand on
// a copy of the pushed source, with the app's Go caches from the data dir
// and the environment the builder gives it, so that the user's share can
// be taken out of push→live. The source gets a fresh version string so
// the compiler does the same work a push does (main package + link).
func buildCommandTime(ctx context.Context, dataDir, repoDir string, n int) (time.Duration, time.Duration, error) {
	caches, _ := filepath.Glob(filepath.Join(dataDir, "cache", "go", "*", "build"))
	caches2, _ := filepath.Glob(filepath.Join(dataDir, "cache", "go-build"))
	caches = append(caches, caches2...)
	if len(caches) == 0 {
		return 0, 0, fmt.Errorf("no Go build cache under %s/cache", dataDir)
	}
	gocache := caches[0]
	modcache := filepath.Join(filepath.Dir(gocache), "mod")
	if filepath.Base(gocache) == "go-build" {
		modcache = filepath.Join(filepath.Dir(gocache), "gomod")
	}
	work, err := os.MkdirTemp("", "seedbed-bench-buildcmd-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(work)
	src, err := os.ReadFile(filepath.Join(repoDir, "fn", "go.mod"))
	if err != nil {
		return 0, 0, err
	}
	os.WriteFile(filepath.Join(work, "go.mod"), src, 0o644)
	os.WriteFile(filepath.Join(work, "main.go"), []byte(harness.GoHTTPFunction(fmt.Sprintf("byhand-%d-%d", n, time.Now().UnixNano()))), 0o644)
	cmd := exec.CommandContext(ctx, "sh", "-c", `go build -trimpath -buildvcs=false -ldflags="-s -w -buildid=" -o bootstrap .`)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "GOCACHE="+gocache, "GOMODCACHE="+modcache, "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false -mod=mod")
	t := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("build command by hand: %v\n%s", err, out)
	}
	took := time.Since(t)
	// Package the binary the way the builder does: a deterministic archive
	// streamed into a content-addressed store.
	arts, err := artifact.New(filepath.Join(work, "artifacts"))
	if err != nil {
		return 0, 0, err
	}
	t = time.Now()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(artifact.Pack(pw, work, []string{"bootstrap"})) }()
	if _, _, err := arts.Put(ctx, pr); err != nil {
		return 0, 0, fmt.Errorf("package by hand: %w", err)
	}
	return took, time.Since(t), nil
}

func derefOr(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}
