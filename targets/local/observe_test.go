package local

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/seedbed/seedbed/gateway"
	"github.com/seedbed/seedbed/metrics/observe"
	"github.com/seedbed/seedbed/targets"
)

// recorder keeps what the gateway observed and what the target reported.
type recorder struct {
	mu       sync.Mutex
	requests []observe.Request
	failures []observe.Failure
}

func (r *recorder) Observe(q observe.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, q)
}

func (r *recorder) RecordFailure(f observe.Failure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, f)
}

// nth waits for the n-th observed request (from 1): the gateway observes
// a request once its answer is written, which the client may read first.
func (r *recorder) nth(t *testing.T, n int) observe.Request {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.mu.Lock()
		if len(r.requests) >= n {
			q := r.requests[n-1]
			r.mu.Unlock()
			return q
		}
		r.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("request %d was not observed", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A Lambda handler's error reaches the gateway's observation of the
// request with its errorType and stack; the first request after a start
// is a cold start and names its instance.
func TestObservedLambdaHandlerError(t *testing.T) {
	rec := &recorder{}
	b := setupWith(t, gateway.Config{Domain: "localhost", Observer: rec}, withTrees)
	ref := targets.StageRef{App: "shop", Stage: "go"}
	b.apply(t, ref, lambdaFn("go", "bootstrap", "go-lambda", nil))
	if a := b.call(t, call{path: "/shop/go/echo"}); a.status != http.StatusOK {
		t.Fatalf("echo: %d", a.status)
	}
	first := rec.nth(t, 1)
	if first.Status != 200 || !first.ColdStart || first.Instance == "" || first.Function != "api/fn" || first.App != "shop" || first.Stage != "go" || first.Failure != nil {
		t.Errorf("first request observed as %+v", first)
	}
	a := b.call(t, call{path: "/shop/go/fail"})
	if a.status != http.StatusBadGateway {
		t.Fatalf("fail: %d", a.status)
	}
	q := rec.nth(t, 2)
	if q.Status != http.StatusBadGateway || q.ColdStart || q.Failure == nil {
		t.Fatalf("failed request observed as %+v", q)
	}
	f := q.Failure
	if f.Kind != observe.KindHandlerError || f.Type != "errorString" || !strings.Contains(f.Message, "boom: the handler failed as told") || f.Instance != first.Instance {
		t.Errorf("failure = %+v", f)
	}
	if q.Bytes != int64(len(a.body)) || q.Duration <= 0 || q.Method != "GET" || q.Path != "/fail" {
		t.Errorf("request = %+v (body %d bytes)", q, len(a.body))
	}
}

// A crash between requests is reported, with the process's last output,
// as a failure that restarted the function; the answer it failed shows as
// a 502 with a failure noted; the first request after the restart is cold.
func TestObservedCrash(t *testing.T) {
	rec := &recorder{}
	b := setupWith(t, gateway.Config{Domain: "localhost", Observer: rec}, func(c *Config) { c.Failures = rec })
	b.target.timing.backoffMin = 300 * time.Millisecond
	b.apply(t, shopDev, goFn("hello", "v1", nil, "GET /hello"))
	pid := b.livePID("api/hello")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		res := b.get(t, "/shop/dev/hello")
		if now := b.livePID("api/hello"); res.status == http.StatusOK && now != pid && now != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not restarted; last answer %d", res.status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The request that found the new process may have been claimed
	// before the restart (a cold start is counted when a request is
	// handed on); one more makes sure the restarted process served one.
	b.get(t, "/shop/dev/hello")
	// The gateway observes a request once its answer is written, which
	// the client may read first.
	time.Sleep(100 * time.Millisecond)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.failures) != 1 || rec.failures[0].Kind != observe.KindCrash || !rec.failures[0].Restarted ||
		!strings.Contains(rec.failures[0].Type, "killed") || rec.failures[0].Function != "api/hello" {
		t.Fatalf("failures reported = %+v, want one crash", rec.failures)
	}
	var colds, failed502 int
	for _, q := range rec.requests {
		if q.ColdStart {
			colds++
		}
		if q.Status == http.StatusBadGateway {
			failed502++
			if q.Failure == nil || q.Failure.Kind != observe.KindHTTP || !strings.Contains(q.Failure.Message, "not answering") {
				t.Errorf("a 502 observed with failure %+v", q.Failure)
			}
		}
	}
	if colds != 2 {
		var seen []string
		for _, q := range rec.requests {
			seen = append(seen, fmt.Sprintf("%d cold=%t %s", q.Status, q.ColdStart, q.At.Format("15:04:05.000")))
		}
		t.Errorf("%d cold starts, want 2 (after the start and after the restart): %s", colds, strings.Join(seen, "; "))
	}
	usage := b.target.InstanceUsage()
	if len(usage) != 1 || usage[0].Function != "api/hello" || usage[0].MemoryBytes <= 0 {
		t.Errorf("InstanceUsage = %+v", usage)
	}
}

// TestObservedServerError: a 5xx a function answers itself reaches the
// gateway's observation with the function's last output lines (an
// issue's sample), on the lean path (a GET) and through ReverseProxy (a
// chunked POST) alike.
func TestObservedServerError(t *testing.T) {
	rec := &recorder{}
	b := setupWith(t, gateway.Config{Domain: "localhost", Observer: rec}, func(c *Config) { c.Failures = rec })
	b.apply(t, shopDev, goFn("hello", "v1", nil, "ANY /fail"))
	if res := b.get(t, "/shop/dev/fail"); res.status != http.StatusInternalServerError {
		t.Fatalf("GET /fail: %d", res.status)
	}
	req, err := http.NewRequest(http.MethodPost, b.server.URL+"/shop/dev/fail", io.NopCloser(strings.NewReader("chunked")))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := b.client.Do(req) // no length: ReverseProxy streams it
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("POST /fail: %d", resp.StatusCode)
	}
	for i, how := range []string{"the lean path", "ReverseProxy"} {
		q := rec.nth(t, i+1)
		if q.Status != 500 || q.Failure == nil || q.Failure.Type != "HTTP 500" || !strings.Contains(q.Failure.Excerpt, "boom: failing as told") {
			t.Errorf("%s: observed %d with failure %+v; want HTTP 500 with the function's output", how, q.Status, q.Failure)
		}
	}
}
