package local

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/targets"
	"github.com/seedbed/seedbed/testutil"
)

// treeArtifacts serves the artifacts of the Lambda-style and static test
// functions from testdata (copied, so nothing in testdata changes) and
// hands every other digest to next.
type treeArtifacts struct {
	next  Extractor
	trees map[string]func(destDir string) error // by digest
}

func (a *treeArtifacts) Extract(ctx context.Context, digest, destDir string) error {
	if fill, ok := a.trees[digest]; ok {
		return fill(destDir)
	}
	return a.next.Extract(ctx, digest, destDir)
}

// withTrees makes setup's target unpack the test artifacts:
//
//	go-lambda   testdata/lambda's binary as "bootstrap"
//	node        testdata/node
//	python      testdata/python
//	static      testdata/static, plus "escape", a symbolic link to the
//	            folder that holds every unpacked artifact
func withTrees(c *Config) {
	copyBin := func(src string) func(string) error {
		return func(dest string) error {
			b, err := os.ReadFile(src)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dest, "bootstrap"), b, 0o755)
		}
	}
	copyDir := func(src string) func(string) error {
		return func(dest string) error { return os.CopyFS(dest, os.DirFS(src)) }
	}
	c.Artifacts = &treeArtifacts{next: c.Artifacts, trees: map[string]func(string) error{
		digest("go-lambda"): copyBin(lambdaBin),
		digest("node"):      copyDir("testdata/node"),
		digest("python"):    copyDir("testdata/python"),
		digest("static"): func(dest string) error {
			if err := os.CopyFS(dest, os.DirFS("testdata/static")); err != nil {
				return err
			}
			return os.Symlink(filepath.Dir(dest), filepath.Join(dest, "escape"))
		},
	}}
}

// lambdaRoutes are the routes every Lambda-style test function answers.
var lambdaRoutes = []string{
	"ANY /echo", "ANY /echo/{proxy+}", "GET /users/{id}/posts/{post}",
	"POST /binary", "GET /fail", "GET /panic", "GET /crash", "GET /string", "GET /object",
	"GET /sleep", "GET /ping", "GET /hog",
}

// lambdaFn describes a Lambda-style test function named "fn".
func lambdaFn(runtime, handler, artifact string, env map[string]string) targets.Function {
	fn := targets.Function{Service: "api", Name: "fn", Runtime: runtime, Kind: stack.KindLambda, Handler: handler,
		Digest: digest(artifact), Env: env, Timeout: 10 * time.Second}
	for _, r := range lambdaRoutes {
		method, path, _ := strings.Cut(r, " ")
		fn.Routes = append(fn.Routes, stack.Route{Method: method, Path: path})
	}
	return fn
}

// lambdaRuntime is one way to write the Lambda-style test function.
type lambdaRuntime struct {
	name     string // also the stage the function is deployed to
	runtime  string
	handler  string
	artifact string
	needs    string // the interpreter it needs on PATH
	errType  string // the type of the error /fail throws
}

var lambdaRuntimes = []lambdaRuntime{
	{name: "go", runtime: "go", handler: "bootstrap", artifact: "go-lambda", errType: "errorString"},
	{name: "node-async", runtime: "node", handler: "async.handler", artifact: "node", needs: "node", errType: "TypeError"},
	{name: "node-callback", runtime: "node", handler: "callback.handler", artifact: "node", needs: "node", errType: "TypeError"},
	{name: "python", runtime: "python", handler: "handler.handler", artifact: "python", needs: "python3", errType: "ValueError"},
}

// need skips the test (or fails it under CI=true) without the interpreter.
func need(t *testing.T, what string) {
	t.Helper()
	if what == "" {
		return
	}
	if _, err := exec.LookPath(what); err != nil {
		testutil.Unavailable(t, what, err)
	}
}

// echoReply is what a Lambda-style test function answers for /echo.
type echoReply struct {
	Runtime         string            `json:"runtime"`
	Greeting        string            `json:"greeting"`
	RouteKey        string            `json:"routeKey"`
	RawPath         string            `json:"rawPath"`
	RawQueryString  string            `json:"rawQueryString"`
	Query           map[string]string `json:"query"`
	Headers         map[string]string `json:"headers"`
	Cookies         []string          `json:"cookies"`
	PathParameters  map[string]string `json:"pathParameters"`
	Body            string            `json:"body"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
	Method          string            `json:"method"`
	Path            string            `json:"path"`
	Stage           string            `json:"stage"`
	DomainName      string            `json:"domainName"`
	SourceIP        string            `json:"sourceIp"`
	EventRequestID  string            `json:"eventRequestId"`
	RequestID       string            `json:"requestId"`
	FunctionName    string            `json:"functionName"`
	FunctionArn     string            `json:"functionArn"`
	RemainingMs     int64             `json:"remainingMs"`
	Env             map[string]string `json:"env"`
	PID             int               `json:"pid"`
}

// call is one request to the gateway.
type call struct {
	method string
	path   string
	header http.Header
	body   []byte
}

// answer is the gateway's response to a call.
type answer struct {
	status int
	header http.Header
	body   []byte
	echo   echoReply // decoded when the function echoed
}

func (b *bundle) call(t testing.TB, c call) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), cmpOr(c.method, http.MethodGet), b.server.URL+c.path, bytes.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range c.header {
		req.Header[k] = vs
	}
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, c.path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, c.path, err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, body: body}
	if resp.Header.Get("X-Runtime") != "" {
		if err := json.Unmarshal(body, &a.echo); err != nil {
			t.Fatalf("%s %s: decode %q: %v", req.Method, c.path, body, err)
		}
	}
	return a
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestLambdaHandlers(t *testing.T) {
	b := setup(t, withTrees)
	for _, rt := range lambdaRuntimes {
		t.Run(rt.name, func(t *testing.T) {
			need(t, rt.needs)
			ref := targets.StageRef{App: "shop", Stage: rt.name}
			fn := lambdaFn(rt.runtime, rt.handler, rt.artifact, map[string]string{"GREETING": "hi", "AWS_REGION": "eu-west-1"})
			fn.Memory = 256
			log := b.apply(t, ref, fn)
			if want := "starting api/fn (" + shortDigest(fn.Digest) + ") with the Lambda Runtime API on 127.0.0.1:"; !strings.Contains(log.String(), want) {
				t.Errorf("apply log lacks %q:\n%s", want, log)
			}
			prefix := "/shop/" + rt.name

			tests := []struct {
				name  string
				call  call
				check func(t *testing.T, a answer)
			}{
				{
					name: "query string",
					call: call{path: "/echo?name=ada&tag=a&tag=b&empty=&sp=a%20b"},
					check: func(t *testing.T, a answer) {
						e := a.echo
						if e.RawQueryString != "name=ada&tag=a&tag=b&empty=&sp=a%20b" {
							t.Errorf("rawQueryString = %q", e.RawQueryString)
						}
						want := map[string]string{"name": "ada", "tag": "a,b", "empty": "", "sp": "a b"}
						if !mapsEqual(e.Query, want) {
							t.Errorf("queryStringParameters = %v, want %v", e.Query, want)
						}
						if e.RouteKey != "ANY /echo" || e.RawPath != "/echo" || e.Path != "/echo" || e.Method != "GET" || e.Stage != rt.name {
							t.Errorf("routeKey %q rawPath %q path %q method %q stage %q", e.RouteKey, e.RawPath, e.Path, e.Method, e.Stage)
						}
						if e.PathParameters != nil || e.Cookies != nil || e.Body != "" || e.IsBase64Encoded {
							t.Errorf("pathParameters %v cookies %v body %q isBase64Encoded %v; want none", e.PathParameters, e.Cookies, e.Body, e.IsBase64Encoded)
						}
					},
				},
				{
					name: "headers",
					call: call{path: "/echo", header: http.Header{"X-Custom": {"one", "two"}, "User-Agent": {"seedbed-test"},
						"X-Forwarded-For": {"10.0.0.1"}, "X-Forwarded-Host": {"evil.example"}, "Forwarded": {"for=10.0.0.1;host=evil.example"}}},
					check: func(t *testing.T, a answer) {
						h := a.echo.Headers
						host := strings.TrimPrefix(b.server.URL, "http://")
						if h["x-custom"] != "one,two" || h["user-agent"] != "seedbed-test" || h["host"] != host {
							t.Errorf("headers = %v", h)
						}
						// The client's own forwarding headers are not passed on: its peer is no trusted proxy.
						if h["x-forwarded-prefix"] != prefix || h["x-forwarded-for"] != "127.0.0.1" || h["x-forwarded-proto"] != "http" ||
							h["x-forwarded-host"] != host || h["forwarded"] != `for=127.0.0.1;host="`+host+`";proto=http` {
							t.Errorf("forwarding headers = %v", h)
						}
						if a.echo.DomainName != "127.0.0.1" || a.echo.SourceIP != "127.0.0.1" {
							t.Errorf("requestContext.domainName %q, http.sourceIp %q; want 127.0.0.1 for both", a.echo.DomainName, a.echo.SourceIP)
						}
						for k := range h {
							if k != strings.ToLower(k) {
								t.Errorf("header %q is not lower case", k)
							}
						}
						if got := a.header.Values("X-Multi"); !slices.Equal(got, []string{"a", "b"}) {
							t.Errorf("X-Multi = %q, want a and b (multiValueHeaders)", got)
						}
						if got := a.header.Get("X-Runtime"); got != rt.name {
							t.Errorf("X-Runtime = %q", got)
						}
						if got := a.header.Get("Content-Type"); got != "application/json" {
							t.Errorf("Content-Type = %q", got)
						}
					},
				},
				{
					name: "cookies",
					call: call{path: "/echo", header: http.Header{"Cookie": {"a=1; b=2", "c=3"}}},
					check: func(t *testing.T, a answer) {
						if want := []string{"a=1", "b=2", "c=3"}; !slices.Equal(a.echo.Cookies, want) {
							t.Errorf("cookies = %q, want %q", a.echo.Cookies, want)
						}
						if _, ok := a.echo.Headers["cookie"]; ok {
							t.Errorf("the cookie header is in headers: %v", a.echo.Headers)
						}
						want := []string{"session=s3cr3t; Path=/; HttpOnly", "theme=dark"}
						if got := a.header.Values("Set-Cookie"); !slices.Equal(got, want) {
							t.Errorf("Set-Cookie = %q, want %q", got, want)
						}
					},
				},
				{
					name: "json body and greedy parameter",
					call: call{method: "POST", path: "/echo/items/a%2Fb", header: http.Header{"Content-Type": {"application/json"}}, body: []byte(`{"x":1,"s":"<é>"}`)},
					check: func(t *testing.T, a answer) {
						e := a.echo
						if e.Body != `{"x":1,"s":"<é>"}` || e.IsBase64Encoded {
							t.Errorf("body %q isBase64Encoded %v, want the JSON as text", e.Body, e.IsBase64Encoded)
						}
						if e.RouteKey != "ANY /echo/{proxy+}" || e.Method != "POST" || e.RawPath != "/echo/items/a%2Fb" {
							t.Errorf("routeKey %q method %q rawPath %q", e.RouteKey, e.Method, e.RawPath)
						}
						if want := map[string]string{"proxy": "items/a/b"}; !mapsEqual(e.PathParameters, want) {
							t.Errorf("pathParameters = %v, want %v", e.PathParameters, want)
						}
					},
				},
				{
					name: "binary body",
					call: call{method: "POST", path: "/binary", header: http.Header{"Content-Type": {"application/octet-stream"}}, body: []byte{0, 1, 2, 0xff, 0xfe, 'x'}},
					check: func(t *testing.T, a answer) {
						if want := []byte{'x', 0xfe, 0xff, 2, 1, 0}; !bytes.Equal(a.body, want) {
							t.Errorf("body = %v, want %v (the request reversed)", a.body, want)
						}
						if got := a.header.Get("Content-Type"); got != "application/octet-stream" {
							t.Errorf("Content-Type = %q", got)
						}
					},
				},
				{
					name: "path parameters",
					call: call{path: "/users/42/posts/hello%20world"},
					check: func(t *testing.T, a answer) {
						e := a.echo
						if want := map[string]string{"id": "42", "post": "hello world"}; !mapsEqual(e.PathParameters, want) {
							t.Errorf("pathParameters = %v, want %v", e.PathParameters, want)
						}
						if e.RouteKey != "GET /users/{id}/posts/{post}" || e.RawPath != "/users/42/posts/hello%20world" || e.Path != "/users/42/posts/hello world" {
							t.Errorf("routeKey %q rawPath %q path %q", e.RouteKey, e.RawPath, e.Path)
						}
					},
				},
				{
					name: "lambda environment and context",
					call: call{path: "/echo"},
					check: func(t *testing.T, a answer) {
						e := a.echo
						name := "shop-" + rt.name + "-api-fn"
						wantEnv := map[string]string{
							"AWS_LAMBDA_FUNCTION_NAME": name, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
							"AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_REGION": "eu-west-1", "_HANDLER": rt.handler,
							"TZ": ":UTC", "SEEDBED_STAGE": rt.name,
						}
						for k, v := range wantEnv {
							if e.Env[k] != v {
								t.Errorf("%s = %q, want %q", k, e.Env[k], v)
							}
						}
						if _, ok := e.Env["PORT"]; ok {
							t.Errorf("a lambda function got PORT")
						}
						// A tenth lower under a hard limit.
						wantLimit := map[bool]string{false: "256MiB", true: "230MiB"}[b.target.cgroups != nil]
						if rt.runtime == "go" && e.Env["GOMEMLIMIT"] != wantLimit {
							t.Errorf("GOMEMLIMIT = %q, want %s", e.Env["GOMEMLIMIT"], wantLimit)
						}
						if !strings.HasPrefix(e.Env["LAMBDA_TASK_ROOT"], filepath.Join(b.dir, "artifacts")) {
							t.Errorf("LAMBDA_TASK_ROOT = %q", e.Env["LAMBDA_TASK_ROOT"])
						}
						if e.RequestID == "" || e.RequestID != e.EventRequestID || a.header.Get("Apigw-Requestid") != e.RequestID {
							t.Errorf("request ids: context %q, event %q, header %q; want one", e.RequestID, e.EventRequestID, a.header.Get("Apigw-Requestid"))
						}
						if e.FunctionName != name || e.FunctionArn != "arn:aws:lambda:local:000000000000:function:"+name {
							t.Errorf("function name %q arn %q", e.FunctionName, e.FunctionArn)
						}
						if e.RemainingMs <= 5000 || e.RemainingMs > 10000 {
							t.Errorf("remaining time %dms, want most of 10s", e.RemainingMs)
						}
					},
				},
				{
					name: "string result",
					call: call{path: "/string?name=ada"},
					check: func(t *testing.T, a answer) {
						if string(a.body) != "hello, ada" || a.header.Get("Content-Type") != "application/json" {
							t.Errorf("body %q content type %q, want the string as it is, application/json", a.body, a.header.Get("Content-Type"))
						}
					},
				},
				{
					name: "object result",
					call: call{path: "/object"},
					check: func(t *testing.T, a answer) {
						var got map[string]any
						if err := json.Unmarshal(a.body, &got); err != nil || got["hello"] != "world" || got["n"] != 1.0 || len(got) != 2 {
							t.Errorf("body %q, want the object as JSON (%v)", a.body, err)
						}
						if a.header.Get("Content-Type") != "application/json" {
							t.Errorf("Content-Type = %q", a.header.Get("Content-Type"))
						}
					},
				},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					c := tc.call
					c.path = prefix + c.path
					a := b.call(t, c)
					if a.status != http.StatusOK {
						t.Fatalf("status %d, want 200; body: %s", a.status, a.body)
					}
					tc.check(t, a)
				})
			}

			t.Run("handler error", func(t *testing.T) {
				a := b.call(t, call{path: prefix + "/fail"})
				if a.status != http.StatusBadGateway || string(a.body) != `{"message":"Internal Server Error"}` || a.header.Get("Content-Type") != "application/json" {
					t.Errorf("got %d %q (%s), want 502 {\"message\":\"Internal Server Error\"}", a.status, a.body, a.header.Get("Content-Type"))
				}
				want := "invocation failed: " + rt.errType + ": boom: the handler failed as told"
				if logs := b.logs.String(); !strings.Contains(logs, want) || !strings.Contains(logs, "stage="+rt.name) {
					t.Errorf("logs lack %q for stage %s:\n%s", want, rt.name, logs)
				}
				// The process goes on serving.
				if a := b.call(t, call{path: prefix + "/echo"}); a.status != http.StatusOK {
					t.Errorf("after the error: status %d, want 200", a.status)
				}
			})
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestLambdaTimeoutKillsAndRestarts(t *testing.T) {
	b := setup(t, withTrees)
	fn := lambdaFn("go", "bootstrap", "go-lambda", nil)
	fn.Timeout = time.Second
	b.apply(t, shopDev, fn)
	if a := b.call(t, call{path: "/shop/dev/echo"}); a.status != http.StatusOK {
		t.Fatalf("echo: %d %s", a.status, a.body)
	}
	before := b.livePID("api/fn")

	// A request that arrives while the handler is stuck waits in the queue
	// and is answered by the process started after the kill.
	queued := make(chan answer, 1)
	go func() {
		time.Sleep(600 * time.Millisecond)
		queued <- b.call(t, call{path: "/shop/dev/echo"})
	}()
	began := time.Now()
	a := b.call(t, call{path: "/shop/dev/sleep?ms=5000"})
	if a.status != http.StatusGatewayTimeout || string(a.body) != `{"message":"Endpoint request timed out"}` {
		t.Errorf("got %d %q, want 504", a.status, a.body)
	}
	if took := time.Since(began); took < time.Second || took > 3*time.Second {
		t.Errorf("the timeout took %s, want about 1s", took)
	}
	q := <-queued
	if now := b.livePID("api/fn"); q.status != http.StatusOK || now == before || now == 0 {
		t.Errorf("queued request: %d with pid %d running (before: %d), want 200 from a new process", q.status, now, before)
	}
	if !processGone(before) {
		t.Errorf("the timed-out process %d still runs", before)
	}
	logs := b.logs.String()
	for _, want := range []string{"function did not answer within 1s", "function process killed: the handler timed out after 1s; restarting"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "function crashed") {
		t.Errorf("a timeout was logged as a crash:\n%s", logs)
	}
}

func TestLambdaProcessDiesDuringInvocation(t *testing.T) {
	tests := []struct {
		rt      lambdaRuntime
		path    string
		wantLog string
	}{
		{rt: lambdaRuntimes[0], path: "/panic", wantLog: "boom: the handler panicked as told"},
		{rt: lambdaRuntimes[1], path: "/crash", wantLog: "invocation failed: Error: boom: crashing the process as told"},
	}
	for _, tc := range tests {
		t.Run(tc.rt.name, func(t *testing.T) {
			need(t, tc.rt.needs)
			b := setup(t, withTrees)
			b.target.timing.backoffMin = 50 * time.Millisecond
			b.apply(t, shopDev, lambdaFn(tc.rt.runtime, tc.rt.handler, tc.rt.artifact, nil))
			if a := b.call(t, call{path: "/shop/dev/echo"}); a.status != http.StatusOK {
				t.Fatalf("echo: %d %s", a.status, a.body)
			}
			before := b.livePID("api/fn")

			a := b.call(t, call{path: "/shop/dev" + tc.path})
			if a.status != http.StatusBadGateway || string(a.body) != `{"message":"Internal Server Error"}` {
				t.Errorf("got %d %q, want 502", a.status, a.body)
			}
			after := b.call(t, call{path: "/shop/dev/echo"})
			if now := b.livePID("api/fn"); after.status != http.StatusOK || now == before || now == 0 {
				t.Errorf("next request: %d with pid %d running (before %d), want 200 from a restarted process", after.status, now, before)
			}
			if logs := b.logs.String(); !strings.Contains(logs, tc.wantLog) || !strings.Contains(logs, "function crashed; restarting") {
				t.Errorf("logs lack %q and the restart:\n%s", tc.wantLog, logs)
			}
		})
	}
}

func TestLambdaInitFailureFailsApply(t *testing.T) {
	tests := []struct {
		name  string
		needs string
		fn    targets.Function
		want  []string
	}{
		{
			name: "go exits", fn: lambdaFn("go", "bootstrap", "go-lambda", map[string]string{"CRASH": "1"}),
			want: []string{"function api/fn exited with status 3 before asking the Lambda Runtime API for an event; last output:", "lambda starting", "boom: crashing at init as told"},
		},
		{
			name: "node module throws", needs: "node", fn: lambdaFn("node", "initfail.handler", "node", nil),
			want: []string{"function api/fn failed to initialise: Error: boom: cannot load as told; last output:", "initfail loading"},
		},
		{
			name: "node export missing", needs: "node", fn: lambdaFn("node", "async.nope", "node", nil),
			want: []string{"failed to initialise: Runtime.HandlerNotFound: async.nope is undefined or not exported"},
		},
		{
			name: "node module missing", needs: "node", fn: lambdaFn("node", "src/missing.handler", "node", nil),
			want: []string{"failed to initialise: Runtime.ImportModuleError: Cannot find module 'src/missing'"},
		},
		{
			name: "python module raises", needs: "python3", fn: lambdaFn("python", "initfail.handler", "python", nil),
			want: []string{"function api/fn failed to initialise: RuntimeError: boom: cannot import as told; last output:", "initfail importing", "Traceback"},
		},
		{
			name: "python function missing", needs: "python3", fn: lambdaFn("python", "handler.nope", "python", nil),
			want: []string{"failed to initialise: Runtime.HandlerNotFound: Handler 'nope' missing on module 'handler'"},
		},
		{
			name: "python module missing", needs: "python3", fn: lambdaFn("python", "pkg.missing.handler", "python", nil),
			want: []string{"failed to initialise: Runtime.ImportModuleError: Unable to import module 'pkg.missing'"},
		},
	}
	b := setup(t, withTrees)
	good := lambdaFn("go", "bootstrap", "go-lambda", map[string]string{"GREETING": "one"})
	b.apply(t, shopDev, good)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			need(t, tc.needs)
			err := b.target.Apply(t.Context(), shopDev, []targets.Function{tc.fn}, nil)
			if err == nil {
				t.Fatal("Apply succeeded")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
			if got := b.call(t, call{path: "/shop/dev/echo"}).echo.Greeting; got != "one" {
				t.Errorf("after the failed Apply the stage answers %q, want the old release (one)", got)
			}
			if n := runDirs(t, b); n != 1 {
				t.Errorf("%d run dirs, want 1 (the failed instance's must be gone)", n)
			}
		})
	}
}

func TestLambdaUpdateWithoutDowntime(t *testing.T) {
	b := setup(t, withTrees)
	b.apply(t, shopDev, lambdaFn("go", "bootstrap", "go-lambda", map[string]string{"GREETING": "one"}))
	if a := b.call(t, call{path: "/shop/dev/echo"}); a.status != http.StatusOK {
		t.Fatalf("echo: %d %s", a.status, a.body)
	}
	oldPID := b.livePID("api/fn")

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
				resp, err := b.client.Get(b.server.URL + "/shop/dev/echo")
				requests.Add(1)
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					continue
				}
				var e echoReply
				decErr := json.NewDecoder(resp.Body).Decode(&e)
				resp.Body.Close()
				mu.Lock()
				if resp.StatusCode != http.StatusOK || decErr != nil {
					failures = append(failures, fmt.Sprintf("status %d, decode %v", resp.StatusCode, decErr))
				}
				seen[e.Greeting]++
				mu.Unlock()
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	b.apply(t, shopDev, lambdaFn("go", "bootstrap", "go-lambda", map[string]string{"GREETING": "two"}))
	if got := b.call(t, call{path: "/shop/dev/echo"}).echo.Greeting; got != "two" {
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
	if !processGone(oldPID) {
		t.Errorf("the replaced process %d is still running", oldPID)
	}
	if n := runDirs(t, b); n != 1 {
		t.Errorf("%d run dirs, want 1", n)
	}
	t.Logf("%d requests during the update, greetings %v", requests.Load(), seen)
}

// TestPythonLambdaMemoryLimit: past its memory, a python handler gets a
// MemoryError with soft limits (RLIMIT_AS) and is stopped by the kernel
// with hard ones.
func TestPythonLambdaMemoryLimit(t *testing.T) {
	need(t, "python3")
	tests := []struct {
		limits  MemoryLimits
		wantLog string
	}{
		{limits: MemoryLimitsSoft, wantLog: "invocation failed: MemoryError"},
		{limits: MemoryLimitsCgroup, wantLog: "invocation failed: Runtime.OutOfMemory: out of memory: function api/fn exceeded its 128 MiB memory limit"},
	}
	for _, tc := range tests {
		t.Run(string(tc.limits), func(t *testing.T) {
			if tc.limits == MemoryLimitsCgroup {
				needCgroups(t)
			}
			b := setup(t, withTrees, func(c *Config) { c.MemoryLimits = tc.limits })
			fn := lambdaFn("python", "handler.handler", "python", nil)
			fn.Memory = 128
			b.apply(t, shopDev, fn)
			if a := b.call(t, call{path: "/shop/dev/hog?mb=16"}); a.status != http.StatusOK {
				t.Errorf("16 MiB within a 128 MiB limit: %d %s", a.status, a.body)
			}
			if a := b.call(t, call{path: "/shop/dev/hog?mb=256"}); a.status != http.StatusBadGateway {
				t.Errorf("256 MiB over a 128 MiB limit: %d %s, want 502", a.status, a.body)
			}
			if logs := b.logs.String(); !strings.Contains(logs, tc.wantLog) {
				t.Errorf("logs lack %q:\n%s", tc.wantLog, logs)
			}
		})
	}
}

func TestApplyRefusesBadLambdaAndStaticFunctions(t *testing.T) {
	b := setup(t, withTrees)
	tests := []struct {
		name string
		fn   targets.Function
		want string
	}{
		{name: "unknown kind", fn: targets.Function{Service: "api", Name: "x", Runtime: "go", Kind: "grpc", Handler: "bootstrap", Digest: digest("v1")}, want: `kind "grpc" is not supported`},
		{name: "static lambda", fn: targets.Function{Service: "api", Name: "x", Runtime: "static", Kind: stack.KindLambda, Digest: digest("static")}, want: "a static function serves files; it cannot be of kind lambda"},
		{name: "process lambda", fn: targets.Function{Service: "api", Name: "x", Runtime: "process", Kind: stack.KindLambda, Handler: "./x", Digest: digest("v1")}, want: "cannot be of kind lambda"},
		{name: "node handler", fn: lambdaFn("node", "index", "node", nil), want: `handler "index" is not file.export`},
		{name: "python handler", fn: lambdaFn("python", "../app.handler", "python", nil), want: "python lambda handler"},
		{name: "node http entry missing", fn: targets.Function{Service: "api", Name: "x", Runtime: "node", Handler: "src/server.ts", Digest: digest("node")}, want: `handler "src/server.ts" needs src/server.js, which is not in artifact`},
		{name: "static folder missing", fn: targets.Function{Service: "api", Name: "x", Runtime: "static", Handler: "dist", Digest: digest("static")}, want: `handler "dist" is not a folder in artifact`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := b.target.Apply(t.Context(), shopDev, []targets.Function{tc.fn}, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestNodeAndPythonHTTPFunctions(t *testing.T) {
	tests := []struct {
		runtime, handler, needs string
	}{
		{runtime: "node", handler: "server.js", needs: "node"},
		{runtime: "python", handler: "server.py", needs: "python3"},
	}
	for _, tc := range tests {
		t.Run(tc.runtime, func(t *testing.T) {
			need(t, tc.needs)
			b := setup(t, withTrees)
			fn := targets.Function{Service: "api", Name: "web", Runtime: tc.runtime, Handler: tc.handler, Digest: digest(tc.runtime),
				Env: map[string]string{"GREETING": "hello from " + tc.runtime}, Memory: 64, Routes: []stack.Route{{Method: "GET", Path: "/hi"}}}
			b.apply(t, shopDev, fn)
			a := b.call(t, call{path: "/shop/dev/hi"})
			if a.status != http.StatusOK || string(a.body) != "hello from "+tc.runtime+" at /hi" {
				t.Errorf("got %d %q", a.status, a.body)
			}
		})
	}
}

// TestParseLambdaResponse covers the inference rules API Gateway applies
// to a payload 2.0 result, including the results it refuses.
func TestParseLambdaResponse(t *testing.T) {
	tests := []struct {
		name       string
		payload    string
		wantStatus int
		wantHeader http.Header
		wantBody   string
		wantErr    string
	}{
		{name: "string", payload: `"hi \"there\""`, wantStatus: 200, wantHeader: http.Header{"Content-Type": {"application/json"}}, wantBody: `hi "there"`},
		{name: "object without statusCode", payload: ` {"a": 1} `, wantStatus: 200, wantHeader: http.Header{"Content-Type": {"application/json"}}, wantBody: `{"a": 1}`},
		{name: "number", payload: `42`, wantStatus: 200, wantBody: `42`},
		{name: "null", payload: `null`, wantStatus: 200, wantBody: `null`},
		{name: "empty", payload: ``, wantStatus: 200, wantBody: ``},
		{name: "structured", payload: `{"statusCode": 201, "headers": {"x-a": "1", "x-n": 2, "x-b": true, "x-null": null}, "multiValueHeaders": {"x-m": ["a", "b"]}, "cookies": ["a=1", "b=2"], "body": "made"}`,
			wantStatus: 201, wantHeader: http.Header{"X-A": {"1"}, "X-N": {"2"}, "X-B": {"true"}, "X-M": {"a", "b"}, "Set-Cookie": {"a=1", "b=2"}}, wantBody: "made"},
		{name: "statusCode as string", payload: `{"statusCode": "404"}`, wantStatus: 404},
		{name: "base64", payload: `{"statusCode": 200, "body": "aGk=", "isBase64Encoded": true}`, wantStatus: 200, wantBody: "hi"},
		{name: "not json", payload: `hello`, wantErr: "not JSON"},
		{name: "bad status", payload: `{"statusCode": 99}`, wantErr: "statusCode 99 is not an HTTP status"},
		{name: "status not a number", payload: `{"statusCode": "ok"}`, wantErr: "statusCode"},
		{name: "object body", payload: `{"statusCode": 200, "body": {"a": 1}}`, wantErr: "body must be a string"},
		{name: "bad base64", payload: `{"statusCode": 200, "body": "!!", "isBase64Encoded": true}`, wantErr: "not base64"},
		{name: "object header", payload: `{"statusCode": 200, "headers": {"x": {}}}`, wantErr: `header "x"`},
		{name: "bad header name", payload: `{"statusCode": 200, "headers": {"a b": "c"}}`, wantErr: `header name "a b" is not valid`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := parseLambdaResponse([]byte(tc.payload))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.status != tc.wantStatus || string(resp.body) != tc.wantBody {
				t.Errorf("got %d %q, want %d %q", resp.status, resp.body, tc.wantStatus, tc.wantBody)
			}
			for k, vs := range tc.wantHeader {
				if got := resp.header.Values(k); !slices.Equal(got, vs) {
					t.Errorf("header %s = %q, want %q", k, got, vs)
				}
			}
		})
	}
}

func TestIsTextual(t *testing.T) {
	for ct, want := range map[string]bool{
		"text/plain": true, "text/html; charset=utf-8": true, "application/json": true, "application/vnd.api+json": true,
		"application/xml": true, "image/svg+xml": true, "application/x-www-form-urlencoded": true, "APPLICATION/JSON": true,
		"": false, "application/octet-stream": false, "image/png": false, "multipart/form-data; boundary=x": false,
	} {
		if got := isTextual(ct); got != want {
			t.Errorf("isTextual(%q) = %v, want %v", ct, got, want)
		}
	}
}

func TestLambdaRequestOverPayloadLimit(t *testing.T) {
	b := setup(t, withTrees)
	b.apply(t, shopDev, lambdaFn("go", "bootstrap", "go-lambda", nil))
	a := b.call(t, call{method: "POST", path: "/shop/dev/echo", header: http.Header{"Content-Type": {"text/plain"}}, body: bytes.Repeat([]byte("x"), maxPayload+1)})
	if a.status != http.StatusRequestEntityTooLarge || string(a.body) != `{"message":"Request Entity Too Large"}` {
		t.Errorf("got %d %q, want 413", a.status, a.body)
	}
	a = b.call(t, call{method: "POST", path: "/shop/dev/echo", header: http.Header{"Content-Type": {"text/plain"}}, body: bytes.Repeat([]byte("x"), 1<<20)})
	if a.status != http.StatusOK || len(a.echo.Body) != 1<<20 {
		t.Errorf("a 1 MiB body: %d, echoed %d bytes", a.status, len(a.echo.Body))
	}
}

func TestInterpreterMissing(t *testing.T) {
	b := setup(t, withTrees)
	if b.target.cfg.Sandbox != nil {
		t.Skip("a sandboxed function's interpreter is looked for on the sandbox's fixed PATH, which the test cannot empty")
	}
	t.Setenv("PATH", t.TempDir())
	err := b.target.Apply(t.Context(), shopDev, []targets.Function{lambdaFn("python", "handler.handler", "python", nil)}, nil)
	if err == nil || !strings.Contains(err.Error(), "function api/fn: start: runtime python needs python3 on the PATH of Seedbed") {
		t.Errorf("err = %v, want it to say python3 is missing", err)
	}
	if n := runDirs(t, b); n != 0 {
		t.Errorf("%d run dirs left, want 0", n)
	}
}
