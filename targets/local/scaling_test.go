package local

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seedbed/seedbed/gateway"
	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/targets"
)

// scaled is the test function with instances and concurrency set.
func scaled(artifact string, in stack.Instances, concurrency int) targets.Function {
	fn := goFn("hello", artifact, nil, "GET /{path+}")
	fn.Instances = &in
	fn.Concurrency = concurrency
	return fn
}

// poolOf returns the live pool of a stage's function.
func (b *bundle) poolOf(t *testing.T, ref targets.StageRef, key string) *pool {
	t.Helper()
	st, _ := b.target.stage(ref, false)
	if st == nil {
		t.Fatalf("stage %s is not deployed", ref)
	}
	st.applyMu.Lock()
	defer st.applyMu.Unlock()
	p := st.instances[key]
	if p == nil {
		t.Fatalf("no pool of %s in %s", key, ref)
	}
	return p
}

// watch samples a pool every few milliseconds until stop is called and
// reports the most instances (running and starting) and the most
// requests one instance had at once.
func watch(p *pool) (stop func() (maxInstances, maxBusy int)) {
	done := make(chan struct{})
	var mi, mb int
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			p.mu.Lock()
			mi = max(mi, len(p.insts)+p.starting)
			for _, in := range p.insts {
				mb = max(mb, in.busy)
			}
			p.mu.Unlock()
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	})
	return func() (int, int) { close(done); wg.Wait(); return mi, mb }
}

// load sends n GET requests to path from workers goroutines and returns
// the status of each and the instances that answered, by their run dir
// (HOME): pids repeat in sandboxes, each a pid namespace of its own.
func (b *bundle) load(t *testing.T, path string, n, workers int) (statuses map[int]int, pids map[string]int) {
	t.Helper()
	statuses, pids = map[int]int{}, map[string]int{}
	var mu sync.Mutex
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range jobs {
				status, pid := 0, ""
				resp, err := b.client.Get(b.server.URL + path)
				if err == nil {
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
					var r reply
					if json.Unmarshal(body, &r) == nil {
						pid = r.Env["HOME"]
					}
				}
				mu.Lock()
				statuses[status]++
				if pid != "" {
					pids[pid]++
				}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return statuses, pids
}

// waitInstances waits until the pool runs want instances.
func waitInstances(t *testing.T, p *pool, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		n := len(p.instances())
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pool runs %d instances after %s; want %d", n, within, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Under concurrent load a function scales up to (never past) max, every
// request is answered, and once idle it scales back to zero; the next
// request is held while an instance starts, answered, and observed as a
// cold start.
func TestScaleUpUnderLoadAndDownToZero(t *testing.T) {
	rec := &recorder{}
	b := setupWith(t, gateway.Config{Domain: "localhost", Observer: rec})
	b.target.timing.scaleTick = 20 * time.Millisecond
	b.apply(t, shopDev, scaled("v1", stack.Instances{Min: 0, Max: 3, ScaleDownAfter: 300 * time.Millisecond}, 2))
	p := b.poolOf(t, shopDev, "api/hello")
	if n := len(p.instances()); n != 1 {
		t.Fatalf("a deploy with min 0 starts %d instances; want 1 (to prove the function starts)", n)
	}

	stop := watch(p)
	statuses, pids := b.load(t, "/shop/dev/sleep?d=150ms", 60, 12)
	maxInstances, maxBusy := stop()
	if statuses[http.StatusOK] != 60 {
		t.Fatalf("statuses %v; want 60 × 200", statuses)
	}
	if len(pids) < 2 || len(pids) > 3 {
		t.Errorf("%d processes answered (%v); want 2 or 3 (max 3)", len(pids), pids)
	}
	if maxInstances > 3 {
		t.Errorf("the pool ran %d instances at once; max is 3", maxInstances)
	}
	if maxBusy > 2 {
		t.Errorf("an instance had %d requests at once; concurrency is 2", maxBusy)
	}

	waitInstances(t, p, 0, 5*time.Second)
	if got := b.target.InstanceCounts(shopDev); len(got) != 1 || got["api/hello"] != 0 {
		t.Errorf("InstanceCounts at zero = %v; want api/hello: 0", got)
	}
	if got := b.target.InstanceCounts(targets.StageRef{App: "shop", Stage: "nope"}); got != nil {
		t.Errorf("InstanceCounts of a stage the target runs nothing of = %v; want nil", got)
	}
	began := time.Now()
	res := b.get(t, "/shop/dev/hello")
	wantStatus(t, res, http.StatusOK)
	t.Logf("cold start from zero answered in %s", time.Since(began))
	if n := len(p.instances()); n != 1 {
		t.Errorf("after the first request from zero the pool runs %d instances; want 1", n)
	}
	if got := b.target.InstanceCounts(shopDev); got["api/hello"] != 1 {
		t.Errorf("InstanceCounts after a cold start = %v; want api/hello: 1", got)
	}
	q := rec.nth(t, 61)
	if !q.ColdStart || q.Instance == "" || q.Status != http.StatusOK {
		t.Errorf("the first request from zero was observed as %+v; want a cold start naming its instance", q)
	}
	if q := rec.nth(t, 1); q.Instance == "" {
		t.Errorf("a request under load was observed without its instance: %+v", q)
	}
}

// With a hard concurrency, requests over max × concurrency wait for a
// free instance instead of piling onto one; min instances stay.
func TestScaleMaxAndConcurrencyRespected(t *testing.T) {
	b := setup(t)
	b.target.timing.scaleTick = 20 * time.Millisecond
	b.apply(t, shopDev, scaled("v1", stack.Instances{Min: 1, Max: 2, ScaleDownAfter: 200 * time.Millisecond}, 1))
	p := b.poolOf(t, shopDev, "api/hello")
	stop := watch(p)
	statuses, pids := b.load(t, "/shop/dev/sleep?d=100ms", 12, 6)
	maxInstances, maxBusy := stop()
	if statuses[http.StatusOK] != 12 {
		t.Fatalf("statuses %v; want 12 × 200", statuses)
	}
	if maxInstances != 2 || len(pids) != 2 {
		t.Errorf("ran at most %d instances, %d answered; want 2 (max 2)", maxInstances, len(pids))
	}
	if maxBusy != 1 {
		t.Errorf("an instance had %d requests at once; concurrency is 1", maxBusy)
	}
	waitInstances(t, p, 1, 5*time.Second) // down to min, not below
	time.Sleep(300 * time.Millisecond)
	if n := len(p.instances()); n != 1 {
		t.Errorf("the pool runs %d instances after idling; want min 1", n)
	}
}

// A Lambda-style handler takes one event at a time per instance: three
// concurrent requests start three instances rather than queue behind one.
func TestScaleLambdaDefaultConcurrencyOne(t *testing.T) {
	b := setup(t, withTrees)
	fn := lambdaFn("go", "bootstrap", "go-lambda", nil)
	fn.Instances = &stack.Instances{Min: 1, Max: 3}
	b.apply(t, shopDev, fn)
	p := b.poolOf(t, shopDev, fn.Key())
	if p.conc != 1 || p.hard {
		t.Fatalf("a Lambda-style pool has concurrency %d (hard %v); want 1, overflowing only at max", p.conc, p.hard)
	}
	stop := watch(p)
	var wg sync.WaitGroup
	codes := make([]int, 3)
	for i := range codes {
		wg.Go(func() {
			resp, err := b.client.Get(b.server.URL + "/shop/dev/sleep?ms=400")
			if err != nil {
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	wg.Wait()
	maxInstances, maxBusy := stop()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("request %d answered %d", i, c)
		}
	}
	if maxInstances != 3 || maxBusy != 1 {
		t.Errorf("ran at most %d instances with at most %d requests each; want 3 with 1", maxInstances, maxBusy)
	}
}

// A deploy while a scaled function is under load drops nothing: the old
// pool's requests (those waiting for an instance too) finish on it.
func TestScaledDeployUnderLoad(t *testing.T) {
	b := setup(t)
	b.target.timing.scaleTick = 20 * time.Millisecond
	b.apply(t, shopDev, scaled("v1", stack.Instances{Min: 0, Max: 3, ScaleDownAfter: time.Second}, 1))
	done := make(chan map[int]int)
	go func() {
		statuses, _ := b.load(t, "/shop/dev/sleep?d=50ms", 80, 8)
		done <- statuses
	}()
	time.Sleep(150 * time.Millisecond)
	b.apply(t, shopDev, scaled("v2", stack.Instances{Min: 0, Max: 3, ScaleDownAfter: time.Second}, 1))
	statuses := <-done
	if statuses[http.StatusOK] != 80 {
		t.Fatalf("statuses %v; want 80 × 200 across the deploy", statuses)
	}
}

// The memory budget bounds scaling up: with room for two 32 MiB
// instances, a function with max 5 runs two and queues the rest on them.
func TestScaleWithinMemoryBudget(t *testing.T) {
	b := setup(t, func(c *Config) { c.MemoryBudget = 64 })
	fn := scaled("v1", stack.Instances{Min: 1, Max: 5}, 0)
	fn.Memory = 32
	b.apply(t, shopDev, fn)
	p := b.poolOf(t, shopDev, "api/hello")
	p.mu.Lock()
	p.conc = 1 // scale at one request per instance, without a hard cap
	p.mu.Unlock()
	stop := watch(p)
	statuses, _ := b.load(t, "/shop/dev/sleep?d=100ms", 16, 8)
	maxInstances, _ := stop()
	if statuses[http.StatusOK] != 16 {
		t.Fatalf("statuses %v; want 16 × 200", statuses)
	}
	if maxInstances != 2 {
		t.Errorf("ran at most %d instances; the budget allows 2", maxInstances)
	}
	b.target.memMu.Lock()
	used := b.target.memUsed
	b.target.memMu.Unlock()
	if used != 64 {
		t.Errorf("%d MiB reserved with two instances running; want 64", used)
	}
}

// A request that finds no instance and may start none (the memory budget
// is used up by another function) is answered 503 with the reason, not
// held forever; once the budget frees, the next one is answered.
func TestScaleFromZeroRefusedByBudget(t *testing.T) {
	b := setup(t, func(c *Config) { c.MemoryBudget = 32 })
	b.target.timing.scaleTick = 20 * time.Millisecond
	a := scaled("a", stack.Instances{Min: 0, Max: 1, ScaleDownAfter: 200 * time.Millisecond}, 0)
	a.Name, a.Memory, a.Routes = "a", 32, []stack.Route{{Method: "GET", Path: "/sleep"}}
	c := scaled("c", stack.Instances{Min: 0, Max: 1, ScaleDownAfter: 200 * time.Millisecond}, 0)
	c.Name, c.Memory, c.Routes = "c", 32, []stack.Route{{Method: "GET", Path: "/hello"}}
	b.apply(t, shopDev, a, c)
	pa, pc := b.poolOf(t, shopDev, "api/a"), b.poolOf(t, shopDev, "api/c")
	waitInstances(t, pa, 0, 5*time.Second)
	waitInstances(t, pc, 0, 5*time.Second)

	slow := make(chan result, 1)
	go func() { slow <- b.do(t, http.MethodGet, "", "/shop/dev/sleep?d=600ms") }() // a takes the whole budget
	deadline := time.Now().Add(5 * time.Second)
	for len(pa.instances()) == 0 {
		if time.Now().After(deadline) {
			res := <-slow
			t.Fatalf("function a did not start: %d %s", res.status, res.body)
		}
		time.Sleep(5 * time.Millisecond)
	}
	res := b.get(t, "/shop/dev/hello")
	wantStatus(t, res, http.StatusServiceUnavailable)
	if !strings.Contains(res.body, "memory budget") || res.header.Get("Retry-After") == "" {
		t.Errorf("refused with %q (Retry-After %q); want the reason and Retry-After", res.body, res.header.Get("Retry-After"))
	}
	wantStatus(t, <-slow, http.StatusOK)
	waitInstances(t, pa, 0, 5*time.Second)
	wantStatus(t, b.get(t, "/shop/dev/hello"), http.StatusOK)
}

// A sandboxed function at zero instances keeps a spare: its sandbox set up
// and its process waiting, not executed. The next request runs the spare
// (the instance that answers has the spare's run dir), another spare is
// prepared once it is back at zero, and removing the stage leaves nothing
// of either.
func TestScaleFromZeroRunsTheSpareSandbox(t *testing.T) {
	b := setup(t, withSandbox(t))
	b.target.timing.scaleTick = 20 * time.Millisecond
	b.apply(t, shopDev, scaled("v1", stack.Instances{Min: 0, Max: 2, ScaleDownAfter: 200 * time.Millisecond}, 1))
	p := b.poolOf(t, shopDev, "api/hello")

	spareOf := func() *instance {
		deadline := time.Now().Add(10 * time.Second)
		for {
			p.mu.Lock()
			spare, n := p.spare, len(p.insts)
			p.mu.Unlock()
			if spare != nil && n == 0 {
				return spare
			}
			if time.Now().After(deadline) {
				t.Fatalf("no spare at zero instances after 10 s (instances %d)\n%s", n, b.logs.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	spare := spareOf()
	if !spare.cur.held {
		t.Fatal("the spare's process is not held in its sandbox")
	}

	began := time.Now()
	res := b.get(t, "/shop/dev/hello")
	wantStatus(t, res, http.StatusOK)
	t.Logf("a request from zero with a spare sandbox answered in %s", time.Since(began))
	var r reply
	if err := json.Unmarshal([]byte(res.body), &r); err != nil {
		t.Fatal(err)
	}
	if r.Env["HOME"] != spare.runDir {
		t.Fatalf("the request was answered by %s, not by the spare %s", r.Env["HOME"], spare.runDir)
	}
	p.mu.Lock()
	if p.spare != nil {
		t.Errorf("a spare is kept while an instance runs")
	}
	p.mu.Unlock()
	// The start's log line may be written just after the answer went out.
	for deadline := time.Now().Add(2 * time.Second); !strings.Contains(b.logs.String(), "spare=true"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("the start was not logged as the spare's:\n%s", b.logs.String())
			break
		}
	}

	second := spareOf()
	if second == spare || second.runDir == spare.runDir {
		t.Fatal("back at zero, the same spare is kept; want a new one")
	}
	if err := b.target.Remove(t.Context(), shopDev); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{spare.runDir, second.runDir} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("run dir %s is left after the stage was removed (%v)", dir, err)
		}
	}
	if second.cur.cmd.ProcessState == nil {
		select {
		case <-second.cur.exited:
		case <-time.After(5 * time.Second):
			t.Errorf("the spare's sandbox still runs after the stage was removed")
		}
	}
}
