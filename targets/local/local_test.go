package local

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/seedbed/seedbed/gateway"
	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/targets"
)

// fnBin is the test function's binary, lambdaBin the Lambda-style one
// (testdata/lambda), both built once by TestMain.
var fnBin, lambdaBin string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "seedbed-local-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		goTool, err := exec.LookPath("go")
		if err != nil {
			fmt.Fprintln(os.Stderr, "the local target's tests need the go tool:", err)
			return 1
		}
		fnBin = filepath.Join(dir, "fn")
		lambdaBin = filepath.Join(dir, "lambda")
		// The developer's environment (GOCACHE included) makes this fast.
		for bin, pkg := range map[string]string{fnBin: "./testdata/fn", lambdaBin: "./testdata/lambda"} {
			cmd := exec.Command(goTool, "build", "-o", bin, pkg)
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintf(os.Stderr, "build the test function %s: %v\n", pkg, err)
				return 1
			}
		}
		return m.Run()
	}())
}

// fakeArtifacts is an Extractor whose every artifact holds the test
// function as "bootstrap" plus a VERSION file naming the artifact.
type fakeArtifacts struct {
	mu    sync.Mutex
	calls map[string]int
	fail  map[string]error
}

func (a *fakeArtifacts) Extract(ctx context.Context, digest, destDir string) error {
	a.mu.Lock()
	a.calls[digest]++
	err := a.fail[digest]
	a.mu.Unlock()
	if err != nil {
		return err
	}
	bin, err := os.ReadFile(fnBin)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(destDir, "bootstrap"), bin, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(destDir, "VERSION"), []byte(digest), 0o644)
}

func (a *fakeArtifacts) extracted(digest string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[digest]
}

// syncBuffer is a goroutine-safe log destination.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// progress records an Apply's log lines.
type progress struct{ syncBuffer }

func (p *progress) Printf(format string, args ...any) {
	fmt.Fprintf(&p.syncBuffer, format+"\n", args...)
}

type bundle struct {
	target    *Target
	artifacts *fakeArtifacts
	server    *httptest.Server
	client    *http.Client
	logs      *syncBuffer
	dir       string
}

func setup(t testing.TB, mutate ...func(*Config)) *bundle {
	t.Helper()
	return setupWith(t, gateway.Config{Domain: "localhost"}, mutate...)
}

// setupWith is setup with the gateway in front of the target configured by
// gw.
func setupWith(t testing.TB, gw gateway.Config, mutate ...func(*Config)) *bundle {
	t.Helper()
	b := &bundle{
		artifacts: &fakeArtifacts{calls: map[string]int{}, fail: map[string]error{}},
		logs:      &syncBuffer{},
		dir:       t.TempDir(),
	}
	cfg := Config{
		Dir:          b.dir,
		Artifacts:    b.artifacts,
		Logger:       slog.New(slog.NewTextHandler(b.logs, nil)),
		StartTimeout: 10 * time.Second,
	}
	if os.Getenv("SEEDBED_TEST_ISOLATION") == "sandbox" {
		// Every test of the package, sandboxed (see sandbox_test.go).
		withSandbox(t)(&cfg)
	}
	for _, m := range mutate {
		m(&cfg)
	}
	tgt, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	b.target = tgt
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := tgt.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	b.server = httptest.NewServer(gateway.New(gw, tgt))
	t.Cleanup(b.server.Close)
	tr := &http.Transport{}
	b.client = &http.Client{Transport: tr, Timeout: 20 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return b
}

var (
	shopDev     = targets.StageRef{App: "shop", Stage: "dev"}
	shopStaging = targets.StageRef{App: "shop", Stage: "staging"}
)

// digest makes a well-formed artifact digest from a name.
func digest(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// goFn describes the test function as a "go" runtime function.
func goFn(name, artifact string, env map[string]string, routes ...string) targets.Function {
	fn := targets.Function{Service: "api", Name: name, Runtime: "go", Handler: "bootstrap", Digest: digest(artifact), Env: env}
	for _, r := range routes {
		method, path, _ := strings.Cut(r, " ")
		fn.Routes = append(fn.Routes, stack.Route{Method: method, Path: path})
	}
	return fn
}

func (b *bundle) apply(t testing.TB, ref targets.StageRef, fns ...targets.Function) *progress {
	t.Helper()
	log := &progress{}
	if err := b.target.Apply(t.Context(), ref, fns, log); err != nil {
		t.Fatalf("Apply: %v\nlog:\n%s", err, log.String())
	}
	return log
}

// reply is what the test function answers.
type reply struct {
	Greeting string            `json:"greeting"`
	Method   string            `json:"method"`
	Path     string            `json:"path"`
	RawPath  string            `json:"raw_path"`
	Query    string            `json:"query"`
	Headers  map[string]string `json:"headers"`
	Env      map[string]string `json:"env"`
	PID      int               `json:"pid"`
	UID      int               `json:"uid"`
	GID      int               `json:"gid"`
}

type result struct {
	status int
	body   string
	header http.Header
	reply  reply
}

func (b *bundle) do(t *testing.T, method, host, path string) result {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, b.server.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	res := result{status: resp.StatusCode, body: string(body), header: resp.Header}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(body, &res.reply); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, body, err)
		}
	}
	return res
}

func (b *bundle) get(t *testing.T, path string) result {
	t.Helper()
	return b.do(t, http.MethodGet, "", path)
}

func wantStatus(t *testing.T, res result, code int) {
	t.Helper()
	if res.status != code {
		t.Fatalf("status %d, want %d; body: %s", res.status, code, res.body)
	}
}

// livePID is the host's pid of the process serving key on shop/dev now:
// the function's own or, sandboxed, bwrap's, since the pid a sandboxed
// function reports is its sandbox's numbering (2 in every sandbox).
// Killing it ends the function either way; 0 when none runs.
func (b *bundle) livePID(key string) int { return b.target.pids(shopDev)[key] }

// processGone reports whether no process has the pid any more.
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func runDirs(t *testing.T, b *bundle) int {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(b.dir, "run"))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func TestApplyServesThroughGateway(t *testing.T) {
	b := setup(t)
	hello := goFn("hello", "v1", map[string]string{"GREETING": "hi", "PORT": "1"}, "GET /hello", "ANY /hello/{proxy+}")
	shell := targets.Function{Service: "api", Name: "sh", Runtime: "process", Handler: "GREETING=from-sh exec ./bootstrap",
		Digest: digest("v1"), Routes: []stack.Route{{Method: "GET", Path: "/sh"}}}
	log := b.apply(t, shopDev, hello, shell)

	for _, want := range []string{
		"starting api/hello (" + shortDigest(digest("v1")) + ") on port ",
		"api/hello healthy in ",
		"starting api/sh (",
		"switched dev to 2 functions",
	} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("apply log lacks %q:\n%s", want, log.String())
		}
	}
	if got := b.target.Running(shopDev); len(got) != 2 || got[0].Key() != "api/hello" || got[1].Key() != "api/sh" {
		t.Errorf("Running = %v, want api/hello and api/sh", got)
	}

	t.Run("path routing", func(t *testing.T) {
		res := b.get(t, "/shop/dev/hello?name=ada&x=1")
		wantStatus(t, res, http.StatusOK)
		r := res.reply
		if r.Greeting != "hi" || r.Path != "/hello" || r.Query != "name=ada&x=1" {
			t.Errorf("reply = %+v, want greeting hi, path /hello, query kept", r)
		}
		if r.Headers["X-Forwarded-Prefix"] != "/shop/dev" || r.Headers["X-Forwarded-Proto"] != "http" ||
			r.Headers["X-Forwarded-For"] != "127.0.0.1" || r.Headers["X-Forwarded-Host"] != strings.TrimPrefix(b.server.URL, "http://") {
			t.Errorf("forwarding headers = %v", r.Headers)
		}
		if r.Env["SEEDBED_APP"] != "shop" || r.Env["SEEDBED_STAGE"] != "dev" || r.Env["SEEDBED_FUNCTION"] != "api/hello" ||
			r.Env["PORT"] == "1" || r.Env["LANG"] == "" || !strings.HasPrefix(r.Env["HOME"], filepath.Join(b.dir, "run")) {
			t.Errorf("function env = %v", r.Env)
		}
	})
	t.Run("greedy keeps escaping", func(t *testing.T) {
		res := b.do(t, http.MethodPost, "", "/shop/dev/hello/a/b%2Fc")
		wantStatus(t, res, http.StatusOK)
		if res.reply.RawPath != "/hello/a/b%2Fc" || res.reply.Method != "POST" {
			t.Errorf("reply = %+v, want POST /hello/a/b%%2Fc", res.reply)
		}
	})
	t.Run("host routing", func(t *testing.T) {
		res := b.do(t, http.MethodGet, "dev--shop.localhost:8080", "/hello?q=1")
		wantStatus(t, res, http.StatusOK)
		if res.reply.Path != "/hello" || res.reply.Query != "q=1" || res.reply.Headers["X-Forwarded-Prefix"] != "" ||
			res.reply.Headers["X-Forwarded-Host"] != "dev--shop.localhost:8080" {
			t.Errorf("reply = %+v", res.reply)
		}
	})
	t.Run("process runtime", func(t *testing.T) {
		res := b.get(t, "/shop/dev/sh")
		wantStatus(t, res, http.StatusOK)
		if res.reply.Greeting != "from-sh" {
			t.Errorf("greeting = %q, want from-sh", res.reply.Greeting)
		}
	})
}

func TestGatewayErrors(t *testing.T) {
	b := setup(t)
	slow := goFn("slow", "v1", nil, "GET /sleep")
	slow.Timeout = 300 * time.Millisecond
	b.apply(t, shopDev, goFn("hello", "v1", nil, "GET /hello", "DELETE /hello"), slow)

	tests := []struct {
		name       string
		method     string
		host       string
		path       string
		wantStatus int
		wantBody   string
		wantAllow  string
	}{
		{name: "no stage in path", method: "GET", path: "/", wantStatus: 404, wantBody: "use /APP/STAGE/path or the host STAGE--APP.localhost"},
		{name: "unknown stage", method: "GET", path: "/shop/nope/hello", wantStatus: 404, wantBody: "stage shop/nope is not deployed (GET /hello)"},
		{name: "unknown host stage", method: "GET", host: "prod--shop.localhost", path: "/hello", wantStatus: 404, wantBody: "stage shop/prod is not deployed"},
		{name: "unknown path", method: "GET", path: "/shop/dev/nothing/here", wantStatus: 404, wantBody: "no route of shop/dev matches GET /nothing/here"},
		{name: "wrong method", method: "POST", path: "/shop/dev/hello", wantStatus: 405, wantBody: "method POST is not allowed for /hello on shop/dev", wantAllow: "DELETE, GET"},
		{name: "timeout", method: "GET", path: "/shop/dev/sleep?d=3s", wantStatus: 504, wantBody: "function api/slow did not answer within 300ms"},
		{name: "within timeout", method: "GET", path: "/shop/dev/sleep?d=10ms", wantStatus: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := b.do(t, tc.method, tc.host, tc.path)
			wantStatus(t, res, tc.wantStatus)
			if !strings.Contains(res.body, tc.wantBody) {
				t.Errorf("body %q lacks %q", res.body, tc.wantBody)
			}
			if got := res.header.Get("Allow"); got != tc.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tc.wantAllow)
			}
		})
	}
}

func TestStreaming(t *testing.T) {
	b := setup(t)
	b.apply(t, shopDev, goFn("hello", "v1", nil, "GET /stream"))
	began := time.Now()
	resp, err := b.client.Get(b.server.URL + "/shop/dev/stream?d=400ms")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if first := time.Since(began); line != "line 0\n" || first > 350*time.Millisecond {
		t.Errorf("first line %q after %s; want line 0 before the function finished (1.2s)", line, first)
	}
}

func TestApplyKeepsUnchangedFunctions(t *testing.T) {
	b := setup(t)
	b.apply(t, shopDev, goFn("hello", "v1", map[string]string{"GREETING": "hi"}, "GET /hello"))
	pid := b.target.pids(shopDev)["api/hello"]

	// Same artifact and settings, other routes: the process stays, the
	// routes change.
	log := b.apply(t, shopDev, goFn("hello", "v1", map[string]string{"GREETING": "hi"}, "GET /hi"))
	if strings.Contains(log.String(), "starting") {
		t.Errorf("an unchanged function was started again:\n%s", log.String())
	}
	if got := b.target.pids(shopDev)["api/hello"]; got != pid {
		t.Errorf("pid changed from %d to %d", pid, got)
	}
	wantStatus(t, b.get(t, "/shop/dev/hi"), http.StatusOK)
	wantStatus(t, b.get(t, "/shop/dev/hello"), http.StatusNotFound)

	// The same artifact in another stage is unpacked only once.
	b.apply(t, shopStaging, goFn("hello", "v1", nil, "GET /hello"))
	if n := b.artifacts.extracted(digest("v1")); n != 1 {
		t.Errorf("artifact extracted %d times, want 1", n)
	}
	if _, err := os.Stat(filepath.Join(unpackedDir(b, "v1"), "bootstrap")); err != nil {
		t.Errorf("unpacked artifact: %v", err)
	}
}

func TestApplyUpdateWithoutDowntime(t *testing.T) {
	b := setup(t)
	b.apply(t, shopDev, goFn("hello", "v1", map[string]string{"GREETING": "one"}, "GET /hello", "GET /sleep"))
	oldPID := b.target.pids(shopDev)["api/hello"]

	// A slow request in flight when the switch happens must finish on the
	// old version.
	slow := make(chan result, 1)
	go func() {
		resp, err := b.client.Get(b.server.URL + "/shop/dev/sleep?d=1500ms")
		if err != nil {
			slow <- result{body: err.Error()}
			return
		}
		defer resp.Body.Close()
		var r reply
		_ = json.NewDecoder(resp.Body).Decode(&r)
		slow <- result{status: resp.StatusCode, reply: r}
	}()

	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		requests atomic.Int64
		mu       sync.Mutex
		failures []string
		seen     = map[string]int{}
	)
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				resp, err := b.client.Get(b.server.URL + "/shop/dev/hello")
				requests.Add(1)
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					continue
				}
				var r reply
				decErr := json.NewDecoder(resp.Body).Decode(&r)
				resp.Body.Close()
				mu.Lock()
				if resp.StatusCode != http.StatusOK || decErr != nil {
					failures = append(failures, fmt.Sprintf("status %d, decode %v", resp.StatusCode, decErr))
				}
				seen[r.Greeting]++
				mu.Unlock()
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	log := b.apply(t, shopDev, goFn("hello", "v2", map[string]string{"GREETING": "two"}, "GET /hello", "GET /sleep"))
	if got := b.get(t, "/shop/dev/hello").reply.Greeting; got != "two" {
		t.Errorf("after Apply the greeting is %q, want two", got)
	}
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	wg.Wait()

	if len(failures) > 0 {
		t.Errorf("%d of %d requests failed during the update, first: %s", len(failures), requests.Load(), failures[0])
	}
	if seen["one"] == 0 || seen["two"] == 0 {
		t.Errorf("greetings seen %v, want both one and two", seen)
	}
	if r := <-slow; r.status != http.StatusOK || r.reply.Greeting != "one" {
		t.Errorf("the request in flight during the switch got %d %q (%s), want 200 from one", r.status, r.reply.Greeting, r.body)
	}
	if !processGone(oldPID) {
		t.Errorf("the replaced process %d is still running", oldPID)
	}
	if !strings.Contains(log.String(), "stopped api/hello") {
		t.Errorf("apply log lacks the stop:\n%s", log.String())
	}
	if n := runDirs(t, b); n != 1 {
		t.Errorf("%d run dirs, want 1", n)
	}
	t.Logf("%d requests during the update, greetings %v", requests.Load(), seen)
}

func TestApplyFailureKeepsOldRelease(t *testing.T) {
	b := setup(t)
	v1 := goFn("hello", "v1", map[string]string{"GREETING": "one"}, "GET /hello")
	b.apply(t, shopDev, v1)
	pid := b.target.pids(shopDev)["api/hello"]

	bad := goFn("hello", "v2", map[string]string{"GREETING": "two", "CRASH": "1"}, "GET /hello")
	other := goFn("other", "v2", nil, "GET /other")
	err := b.target.Apply(t.Context(), shopDev, []targets.Function{bad, other}, &progress{})
	if err == nil {
		t.Fatal("Apply of a crashing function succeeded")
	}
	for _, want := range []string{"function api/hello exited with status 1 before listening on $PORT; last output:", "fn starting", "boom: crashing as told"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if got := b.target.Running(shopDev); len(got) != 1 || got[0].Digest != v1.Digest {
		t.Errorf("Running = %v, want v1 only", got)
	}
	if got := b.get(t, "/shop/dev/hello").reply.Greeting; got != "one" {
		t.Errorf("greeting %q, want one", got)
	}
	wantStatus(t, b.get(t, "/shop/dev/other"), http.StatusNotFound)
	if got := b.target.pids(shopDev)["api/hello"]; got != pid {
		t.Errorf("old process replaced: pid %d, want %d", got, pid)
	}
	if n := runDirs(t, b); n != 1 {
		t.Errorf("%d run dirs after the failed apply, want 1 (the instances it started must be gone)", n)
	}

	t.Run("artifact missing", func(t *testing.T) {
		b.artifacts.mu.Lock()
		b.artifacts.fail[digest("gone")] = errors.New("no such artifact")
		b.artifacts.mu.Unlock()
		err := b.target.Apply(t.Context(), shopDev, []targets.Function{goFn("hello", "gone", nil, "GET /hello")}, nil)
		if err == nil || !strings.Contains(err.Error(), "no such artifact") || !strings.Contains(err.Error(), "api/hello") {
			t.Errorf("err = %v, want the extractor's error naming the function", err)
		}
	})
	t.Run("bad input", func(t *testing.T) {
		tests := []struct {
			name string
			fns  []targets.Function
			want string
		}{
			{name: "runtime", fns: []targets.Function{{Service: "api", Name: "x", Runtime: "cobol", Handler: "x", Digest: digest("v1")}}, want: `runtime "cobol" is not supported`},
			{name: "handler escapes", fns: []targets.Function{{Service: "api", Name: "x", Runtime: "go", Handler: "../x", Digest: digest("v1")}}, want: "must be a file inside the artifact"},
			{name: "handler missing", fns: []targets.Function{{Service: "api", Name: "x", Runtime: "go", Handler: "nope", Digest: digest("v1")}}, want: `handler "nope" is not in artifact`},
			{name: "digest", fns: []targets.Function{{Service: "api", Name: "x", Runtime: "go", Handler: "x", Digest: "sha256:../../etc"}}, want: "is not of the form sha256:<hex>"},
			{name: "duplicate", fns: []targets.Function{goFn("a", "v1", nil), goFn("a", "v1", nil)}, want: "function api/a is listed twice"},
			{name: "route conflict", fns: []targets.Function{goFn("a", "v1", nil, "GET /x/{id}"), goFn("b", "v1", nil, "GET /x/{name}")}, want: "route GET /x/{name} is claimed by both api/a and api/b"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				err := b.target.Apply(t.Context(), shopDev, tc.fns, nil)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("err = %v, want it to contain %q", err, tc.want)
				}
			})
		}
		if got := b.get(t, "/shop/dev/hello").reply.Greeting; got != "one" {
			t.Errorf("greeting %q after refused applies, want one", got)
		}
	})
}

func TestApplyStartTimeout(t *testing.T) {
	b := setup(t, func(c *Config) { c.StartTimeout = 500 * time.Millisecond })
	began := time.Now()
	err := b.target.Apply(t.Context(), shopDev, []targets.Function{
		goFn("hello", "v1", map[string]string{"START_DELAY": "1m"}, "GET /hello"),
	}, nil)
	if err == nil {
		t.Fatal("Apply of a function that never listens succeeded")
	}
	if want := "function api/hello did not listen on $PORT within 500ms; last output:\nfn starting"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q lacks %q", err, want)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("Apply took %s to give up", took)
	}
	wantStatus(t, b.get(t, "/shop/dev/hello"), http.StatusNotFound)
	if n := runDirs(t, b); n != 0 {
		t.Errorf("%d run dirs left, want 0", n)
	}
}

func TestCrashedFunctionIsRestarted(t *testing.T) {
	b := setup(t)
	b.target.timing.backoffMin = time.Second // long enough to see the gap
	b.apply(t, shopDev, goFn("hello", "v1", map[string]string{"GREETING": "hi"}, "GET /hello"))
	before := b.get(t, "/shop/dev/hello").reply
	pid := b.livePID("api/hello")

	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var saw502 bool
	deadline := time.Now().Add(10 * time.Second)
	for {
		res := b.get(t, "/shop/dev/hello")
		if res.status == http.StatusBadGateway {
			saw502 = true
			if !strings.Contains(res.body, "function api/hello is not answering") {
				t.Errorf("502 body %q", res.body)
			}
		}
		if now := b.livePID("api/hello"); res.status == http.StatusOK && now != pid && now != 0 {
			if res.reply.Env["PORT"] != before.Env["PORT"] {
				t.Errorf("restarted on port %s, want the same port %s", res.reply.Env["PORT"], before.Env["PORT"])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not restarted within 10s; last answer %d %s\n%s", res.status, res.body, b.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !saw502 {
		t.Error("no 502 while the function was down")
	}
	if logs := b.logs.String(); !strings.Contains(logs, "function crashed; restarting") || !strings.Contains(logs, "was killed by signal killed") {
		t.Errorf("crash not logged with its status:\n%s", logs)
	}
}

func TestRemove(t *testing.T) {
	b := setup(t)
	b.apply(t, shopDev, goFn("hello", "v1", nil, "GET /hello"))
	b.apply(t, shopStaging, goFn("hello", "v1", nil, "GET /hello"))
	pid := b.target.pids(shopDev)["api/hello"]

	if err := b.target.Remove(t.Context(), shopDev); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	res := b.get(t, "/shop/dev/hello")
	wantStatus(t, res, http.StatusNotFound)
	if !strings.Contains(res.body, "stage shop/dev is not deployed") {
		t.Errorf("body %q", res.body)
	}
	if !processGone(pid) {
		t.Errorf("process %d of the removed stage still runs", pid)
	}
	if got := b.target.Running(shopDev); got != nil {
		t.Errorf("Running = %v after Remove", got)
	}
	wantStatus(t, b.get(t, "/shop/staging/hello"), http.StatusOK)
	if err := b.target.Remove(t.Context(), targets.StageRef{App: "shop", Stage: "never"}); err != nil {
		t.Errorf("Remove of an unknown stage: %v", err)
	}

	// The stage can be deployed again.
	b.apply(t, shopDev, goFn("hello", "v1", nil, "GET /hello"))
	wantStatus(t, b.get(t, "/shop/dev/hello"), http.StatusOK)
}

func TestCloseStopsEveryProcess(t *testing.T) {
	b := setup(t)
	b.apply(t, shopDev, goFn("hello", "v1", nil, "GET /hello"), goFn("other", "v2", nil, "GET /other"))
	b.apply(t, shopStaging, goFn("hello", "v1", nil, "GET /hello"))
	var pids []int
	for _, ref := range []targets.StageRef{shopDev, shopStaging} {
		for _, pid := range b.target.pids(ref) {
			pids = append(pids, pid)
		}
	}
	if len(pids) != 3 {
		t.Fatalf("pids = %v, want 3", pids)
	}

	if err := b.target.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, pid := range pids {
		if !processGone(pid) {
			t.Errorf("process %d still runs after Close", pid)
		}
	}
	if n := runDirs(t, b); n != 0 {
		t.Errorf("%d run dirs left after Close", n)
	}
	wantStatus(t, b.get(t, "/shop/dev/hello"), http.StatusNotFound)
	if err := b.target.Apply(t.Context(), shopDev, nil, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Apply after Close: %v, want ErrClosed", err)
	}
}

func TestCloseInterruptsApply(t *testing.T) {
	b := setup(t)
	applied := make(chan error, 1)
	go func() {
		applied <- b.target.Apply(context.Background(), shopDev, []targets.Function{
			goFn("hello", "v1", map[string]string{"START_DELAY": "1m"}, "GET /hello"),
		}, nil)
	}()
	time.Sleep(300 * time.Millisecond) // let it start and wait for health
	began := time.Now()
	if err := b.target.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-applied:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Apply = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Apply still runs 5s after Close")
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("Close took %s", took)
	}
	if n := runDirs(t, b); n != 0 {
		t.Errorf("%d run dirs left after Close", n)
	}
}
