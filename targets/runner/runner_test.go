package runner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seedbed/seedbed/builders/artifact"
	"github.com/seedbed/seedbed/fnlog"
	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/targets"
	"github.com/seedbed/seedbed/targets/runner"
)

// seedbedBin is the real seedbed binary; fnBin and lambdaBin are the local
// target's test functions (an HTTP server and an aws-lambda-go handler).
var seedbedBin, fnBin, lambdaBin string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "seedbed-runner-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		seedbedBin = filepath.Join(dir, "seedbed")
		fnBin = filepath.Join(dir, "fn", "bootstrap")
		lambdaBin = filepath.Join(dir, "lambda", "bootstrap")
		for bin, pkg := range map[string]string{seedbedBin: "../../cmd/seedbed", fnBin: "../local/testdata/fn", lambdaBin: "../local/testdata/lambda"} {
			cmd := exec.Command("go", "build", "-o", bin, pkg)
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintf(os.Stderr, "build %s: %v\n", pkg, err)
				return 1
			}
		}
		return m.Run()
	}())
}

// pack stores the folder of bin as an artifact and returns its digest.
func pack(t *testing.T, store *artifact.Store, bin string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := artifact.Pack(&buf, filepath.Dir(bin), []string{"bootstrap"}); err != nil {
		t.Fatal(err)
	}
	digest, _, err := store.Put(context.Background(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	return digest
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runner is a started `seedbed run-function` process.
type runnerProc struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	addr   string
	exited chan error
}

// startRunner runs `seedbed run-function` with the environment the
// kubernetes target gives a pod.
func startRunner(t *testing.T, fn targets.Function, store, token string, env ...string) *runnerProc {
	t.Helper()
	spec, err := json.Marshal(fn)
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(seedbedBin, "run-function", "--addr", addr)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"SEEDBED_APP=shop", "SEEDBED_STAGE=prod",
		"SEEDBED_RUNNER_FUNCTION=" + string(spec),
		"SEEDBED_ARTIFACT_STORE=" + store,
		"SEEDBED_ARTIFACT_TOKEN=" + token,
		"SEEDBED_RUNNER_DIR=" + t.TempDir(),
		"PORT=" + port,
	}
	cmd.Env = append(cmd.Env, env...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &runnerProc{cmd: cmd, out: out, addr: addr, exited: make(chan error, 1)}
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	return p
}

// waitServing waits until the runner listens, failing if it exits first.
func (p *runnerProc) waitServing(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.exited:
			t.Fatalf("run-function exited (%v):\n%s", err, p.out.String())
		default:
		}
		if c, err := net.Dial("tcp", p.addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("run-function did not listen on %s in 30s:\n%s", p.addr, p.out.String())
}

// waitExit waits for the runner to exit and returns its output.
func (p *runnerProc) waitExit(t *testing.T) (error, string) {
	t.Helper()
	select {
	case err := <-p.exited:
		return err, p.out.String()
	case <-time.After(30 * time.Second):
		t.Fatalf("run-function still running after 30s:\n%s", p.out.String())
		return nil, ""
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// serveStore is seedbed serve's artifact endpoint for store.
func serveStore(t *testing.T, store *artifact.Store) (*runner.Signer, string) {
	t.Helper()
	srv := httptest.NewServer(nil)
	t.Cleanup(srv.Close)
	signer, err := runner.NewSigner(bytes.Repeat([]byte("k"), 32), srv.URL+"/runner/artifacts")
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = http.StripPrefix("/runner/artifacts", signer.Handler(runner.DirSource{Store: store}))
	return signer, srv.URL + "/runner/artifacts"
}

// TestRunFunctionServesHTTPAndLambdaFunctions runs the path a pod runs:
// artifact store (seedbed serve's endpoint) → runner → function → answer,
// for an HTTP function and for an unchanged Lambda handler.
func TestRunFunctionServesHTTPAndLambdaFunctions(t *testing.T) {
	store, err := artifact.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	signer, location := serveStore(t, store)
	cases := []struct {
		name  string
		fn    targets.Function
		path  string
		wants []string
	}{
		{"http", targets.Function{Service: "api", Name: "hello", Runtime: "go", Kind: stack.KindHTTP, Handler: "bootstrap",
			Digest: pack(t, store, fnBin), Routes: []stack.Route{{Method: "GET", Path: "/hello"}},
			Env: map[string]string{"GREETING": "hi from the pod"}},
			"/shop/prod/hello", []string{`"greeting":"hi from the pod"`, `"path":"/hello"`}},
		{"lambda", targets.Function{Service: "api", Name: "events", Runtime: "go", Kind: stack.KindLambda, Handler: "bootstrap",
			Digest: pack(t, store, lambdaBin), Routes: []stack.Route{{Method: "ANY", Path: "/{proxy+}"}}},
			"/shop/prod/ping", []string{"pong"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := startRunner(t, tc.fn, location, signer.Token(tc.fn.Digest))
			p.waitServing(t)
			code, body := get(t, "http://"+p.addr+tc.path)
			if code != 200 {
				t.Fatalf("GET %s: %d %s\nrunner:\n%s", tc.path, code, body, p.out.String())
			}
			for _, w := range tc.wants {
				if !strings.Contains(body, w) {
					t.Errorf("GET %s answered %s; want %s", tc.path, body, w)
				}
			}
			if !strings.Contains(p.out.String(), "artifact fetched and verified") {
				t.Errorf("runner log does not say it verified the artifact:\n%s", p.out.String())
			}
		})
	}
}

// TestRunFunctionRefusesWhatItCannotTrust: bytes that are not the digest's
// (a tampered store), a token for another artifact, and a spec without an
// artifact store all stop the runner before anything listens.
func TestRunFunctionRefusesWhatItCannotTrust(t *testing.T) {
	store, err := artifact.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	signer, location := serveStore(t, store)
	good := pack(t, store, fnBin)
	other := pack(t, store, lambdaBin)
	fn := targets.Function{Service: "api", Name: "hello", Runtime: "go", Handler: "bootstrap", Digest: good,
		Routes: []stack.Route{{Method: "GET", Path: "/hello"}}}

	// A store that answers every digest with other bytes.
	tampered := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc, err := store.Open(other)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer rc.Close()
		_, _ = io.Copy(w, rc)
	}))
	t.Cleanup(tampered.Close)

	cases := []struct {
		name, store, token, want string
	}{
		{"tampered artifact", tampered.URL, "any", "do not match their digest"},
		{"token of another artifact", location, signer.Token(other), "403 Forbidden: the token does not grant artifact " + good},
		{"no token", location, "", "403 Forbidden"},
		{"unknown scheme", "ftp://example/artifacts", "x", `scheme "ftp" is not supported`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := startRunner(t, fn, tc.store, tc.token)
			err, out := p.waitExit(t)
			if err == nil {
				t.Fatalf("run-function succeeded with %s:\n%s", tc.name, out)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("output does not say %q:\n%s", tc.want, out)
			}
			if c, err := net.Dial("tcp", p.addr); err == nil {
				c.Close()
				t.Errorf("something listens on %s after a refused artifact", p.addr)
			}
		})
	}
}

// TestRunFunctionShipsLogs runs the runner process with the log
// environment the kubernetes target gives a pod: what the function prints,
// from its start to its last line at shutdown, reaches the stage's log
// through the log endpoint, named by the pod.
func TestRunFunctionShipsLogs(t *testing.T) {
	store, err := artifact.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	signer, location := serveStore(t, store)
	tokens, err := runner.NewLogTokens([][]byte{bytes.Repeat([]byte("l"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	logs, err := fnlog.Open(fnlog.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	sink := httptest.NewServer(&runner.LogSink{Tokens: tokens, Logs: logs, Functions: fakeFunctions{"shop/prod api/hello": 3}})
	defer sink.Close()
	fn := targets.Function{Service: "api", Name: "hello", Runtime: "go", Kind: stack.KindHTTP, Handler: "bootstrap",
		Digest: pack(t, store, fnBin), Routes: []stack.Route{{Method: "GET", Path: "/hello"}}}
	p := startRunner(t, fn, location, signer.Token(fn.Digest),
		"SEEDBED_LOGS_URL="+sink.URL+"/runner/logs", "SEEDBED_LOGS_TOKEN="+tokens.Token(targets.StageRef{App: "shop", Stage: "prod"}), "HOSTNAME=hello-5d9f-x2x7q")
	p.waitServing(t)
	texts := func() []string {
		res, err := logs.Query(context.Background(), fnlog.Query{App: "shop", Stage: "prod"})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, l := range res.Lines {
			if l.Instance != "hello-5d9f-x2x7q" || l.Function != "api/hello" || l.Release != 3 {
				t.Errorf("line %+v: want instance hello-5d9f-x2x7q, function api/hello, release 3", l)
			}
			out = append(out, l.Text)
		}
		return out
	}
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(texts(), "fn starting") {
		if time.Now().After(deadline) {
			t.Fatalf("no \"fn starting\" in the stage's log: %q\nrunner:\n%s", texts(), p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Stopping: the function's last line goes before the runner exits.
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err, out := p.waitExit(t)
	p.exited <- err // for the cleanup, which waits for the exit too
	if err != nil {
		t.Fatalf("run-function: %v\n%s", err, out)
	}
	if got := texts(); !slices.Contains(got, "fn stopping") {
		t.Fatalf("lines after the runner exited: %q; want the function's last line, fn stopping\nrunner:\n%s", got, p.out.String())
	}
}
