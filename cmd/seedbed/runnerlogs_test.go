package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seedbed/seedbed/events"
	"github.com/seedbed/seedbed/targets"
	"github.com/seedbed/seedbed/targets/runner"
	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web/apiv1"
)

// podChattyFunction prints a line for every request and one when it is told
// to stop.
const podChattyFunction = `package main

import (
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	fmt.Println("chatty starting")
	go func() {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM, os.Interrupt)
		<-c
		fmt.Println("chatty says bye")
		os.Exit(0)
	}()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("served", r.URL.Path)
		fmt.Fprintf(w, "hi %s", r.URL.Path)
	})
	if err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`

// flakyProxy forwards TCP connections to target and can be taken down
// (listener closed, open connections cut) and brought up on the same
// address: Seedbed unreachable from a pod for a while.
type flakyProxy struct {
	t      *testing.T
	addr   string
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
}

func newFlakyProxy(t *testing.T, target string) *flakyProxy {
	t.Helper()
	p := &flakyProxy{t: t, target: target, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.down)
	return p
}

func (p *flakyProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[up] = true, true
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
}

func (p *flakyProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *flakyProxy) up() {
	p.t.Helper()
	var err error
	for range 100 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.serve(ln)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("listen on %s again: %v", p.addr, err)
}

// TestRunnerShipsFunctionLogs runs the pod's path against a real Seedbed:
// `seedbed run-function` fetches the artifact a deploy built from seedbed
// serve, runs the function, and what the function prints reaches the
// stage's function log — through the API, with the pod's name and the
// release — including what it printed while Seedbed could not be reached
// and its last line at shutdown. A token of another stage is refused.
// It runs on SQLite with the embedded queue and on PostgreSQL with Redis.
func TestRunnerShipsFunctionLogs(t *testing.T) {
	t.Parallel()
	for _, be := range []backend{embedded, servers} {
		t.Run(be.name, func(t *testing.T) { testRunnerShipsFunctionLogs(t, be) })
	}
}

func testRunnerShipsFunctionLogs(t *testing.T, be backend) {
	a := startApp(t, be)
	repo := testutil.NewRepo(t)
	repo.Commit("chatty", map[string]string{
		"seedbed.yml":          stackFile("      hello:\n        handler: bootstrap\n        routes: [\"GET /hello\", \"GET /hello/{name}\"]\n"),
		"services/api/go.mod":  goMod,
		"services/api/main.go": podChattyFunction,
	})
	ctx := context.Background()
	if _, err := a.api.CreateApp(ctx, apiv1.CreateAppRequest{Name: "shop", RepoURL: repo.Dir, Branch: "main"}); err != nil {
		t.Fatal(err)
	}
	a.mustDeploy("shop", "dev", "")

	// What the kubernetes target would put in the pod's Secret: the
	// function as the live release has it, the artifact's token, the
	// stage's log token.
	app, err := a.store.AppByName(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	stage, err := a.store.StageByName(ctx, app.ID, "dev")
	if err != nil || stage.LiveReleaseID == nil {
		t.Fatalf("stage dev: %+v, %v", stage, err)
	}
	rel, err := a.store.ReleaseByID(ctx, *stage.LiveReleaseID)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Functions []targets.Function `json:"functions"`
	}
	if err := json.Unmarshal([]byte(rel.Manifest), &m); err != nil || len(m.Functions) != 1 {
		t.Fatalf("manifest %s: %v", rel.Manifest, err)
	}
	fn := m.Functions[0]
	spec, _ := json.Marshal(fn)
	key, err := os.ReadFile(filepath.Join(a.cfg.DataDir, runnerKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := runner.NewSigner(key, "")
	if err != nil {
		t.Fatal(err)
	}
	sealer, _, err := loadSealer(a.cfg)
	if err != nil {
		t.Fatal(err)
	}
	logTokens, err := runner.NewLogTokens(sealer.DerivedKeys(runner.LogTokenPurpose))
	if err != nil {
		t.Fatal(err)
	}
	dev := targets.StageRef{App: "shop", Stage: "dev"}
	consoleHost := strings.TrimPrefix(a.ConsoleURL(), "http://")
	proxy := newFlakyProxy(t, consoleHost)

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	addrCh := make(chan string, 1)
	ran := make(chan error, 1)
	var stderr syncBuf
	go func() {
		ran <- runFunction(runCtx, runFunctionOptions{
			app: "shop", stage: "dev", spec: string(spec),
			store: a.ConsoleURL() + runnerArtifactsPath, token: signer.Token(fn.Digest),
			dir: t.TempDir(), addr: "127.0.0.1:0",
			logsURL: "http://" + proxy.addr + runnerLogsPath, logsToken: logTokens.Token(dev), instance: "shop-dev-hello-pod-1",
		}, &stderr, func(addr string) { addrCh <- addr })
	}()
	var podAddr string
	select {
	case podAddr = <-addrCh:
	case err := <-ran:
		t.Fatalf("run-function: %v\n%s", err, stderr.String())
	case <-time.After(2 * time.Minute):
		t.Fatalf("run-function did not serve in 2 minutes\n%s", stderr.String())
	}
	request := func(name string) {
		t.Helper()
		resp, err := http.Get("http://" + podAddr + "/shop/dev/hello/" + name)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET the pod's /hello/%s: %d %s", name, resp.StatusCode, body)
		}
	}
	// podLine waits for the pod's line containing text in the stage's
	// function log, read through the API.
	podLine := func(text string, within time.Duration) apiv1.FunctionLogLine {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			page, err := a.api.FunctionLogs(ctx, "shop", "dev", apiv1.FunctionLogQuery{Grep: text})
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range page.Lines {
				if l.Instance == "shop-dev-hello-pod-1" {
					return l
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no line %q from the pod in the function log after %s; lines: %+v\nrunner:\n%s", text, within, page.Lines, stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	began := time.Now()
	request("from-the-pod")
	l := podLine("served /hello/from-the-pod", 10*time.Second)
	t.Logf("a printed line reached the API in %s", time.Since(began).Round(time.Millisecond))
	if l.Function != "api/hello" || l.Stream != "stdout" || l.Release != rel.ID {
		t.Errorf("line %+v: want function api/hello, stdout, release %d", l, rel.ID)
	}
	podLine("chatty starting", 5*time.Second)

	// Seedbed unreachable: what the function prints meanwhile arrives
	// once it is back.
	proxy.down()
	request("while-down")
	time.Sleep(700 * time.Millisecond) // several attempts fail meanwhile
	if page, err := a.api.FunctionLogs(ctx, "shop", "dev", apiv1.FunctionLogQuery{Grep: "while-down"}); err != nil || len(page.Lines) != 0 {
		t.Fatalf("while down: %+v, %v", page.Lines, err)
	}
	proxy.up()
	began = time.Now()
	podLine("served /hello/while-down", 15*time.Second)
	t.Logf("a line printed while Seedbed was unreachable arrived %s after it was back", time.Since(began).Round(time.Millisecond))

	// The pod's token grants its own stage only.
	post := func(token string, b runner.LogBatch) int {
		t.Helper()
		body, _ := json.Marshal(b)
		req, _ := http.NewRequest(http.MethodPost, a.ConsoleURL()+runnerLogsPath, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	line := []runner.LogLine{{Time: time.Now(), Stream: "stdout", Text: "forged line"}}
	staging := targets.StageRef{App: "shop", Stage: "staging"}
	queueTokens, err := events.NewSendTokens(sealer.DerivedKeys(events.QueueTokenPurpose))
	if err != nil {
		t.Fatal(err)
	}
	queueToken := queueTokens.QueueToken(dev)
	cases := []struct {
		name  string
		token string
		batch runner.LogBatch
		code  int
	}{
		{"dev's token for staging's logs", logTokens.Token(dev), runner.LogBatch{App: "shop", Stage: "staging", Function: "api/hello", Instance: "p", Lines: line}, http.StatusUnauthorized},
		{"staging's token for dev's logs", logTokens.Token(staging), runner.LogBatch{App: "shop", Stage: "dev", Function: "api/hello", Instance: "p", Lines: line}, http.StatusUnauthorized},
		{"dev's queue token", queueToken, runner.LogBatch{App: "shop", Stage: "dev", Function: "api/hello", Instance: "p", Lines: line}, http.StatusUnauthorized},
		{"a function dev does not run", logTokens.Token(dev), runner.LogBatch{App: "shop", Stage: "dev", Function: "api/nope", Instance: "p", Lines: line}, http.StatusBadRequest},
	}
	for _, tc := range cases {
		if code := post(tc.token, tc.batch); code != tc.code {
			t.Errorf("%s: %d, want %d", tc.name, code, tc.code)
		}
	}
	for _, st := range []string{"dev", "staging"} {
		if page, err := a.api.FunctionLogs(ctx, "shop", st, apiv1.FunctionLogQuery{Grep: "forged"}); err == nil && len(page.Lines) != 0 {
			t.Errorf("stage %s holds a refused line: %+v", st, page.Lines)
		}
	}

	// Stopping the pod: the function's last line is shipped before the
	// runner exits.
	stop()
	select {
	case err := <-ran:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("run-function: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run-function did not stop in 30s")
	}
	podLine("chatty says bye", time.Second)
}

// syncBuf collects output written from several goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
