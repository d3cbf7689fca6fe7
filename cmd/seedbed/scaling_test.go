package main

import (
	"context"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"
)

// scalingFunction answers after ?ms= milliseconds with an id it drew at
// random when it started: which instance answered (pids would repeat in
// sandboxes, each a pid namespace of its own).
const scalingFunction = `package main

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	id := rand.Text()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		fmt.Fprint(w, id)
	})
	if err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`

// instancesOf counts the running instances of a function, as the
// metrics collector samples them.
func (a *testApp) instancesOf(app, stage, key string) int {
	n := 0
	for _, u := range a.target.InstanceUsage() {
		if u.App == app && u.Stage == stage && u.Function == key {
			n++
		}
	}
	return n
}

// A function with instances {min: 0, max: 3} scales up under load with
// every request answered, never past max; it scales to zero once idle,
// the next request is held while an instance starts and answered; and
// the stage's metrics show how many instances ran.
func TestScalingEndToEnd(t *testing.T) {
	a := startApp(t, embedded)
	repo := a.newAppRepo("shop")
	repo.Commit("scaling", map[string]string{
		"seedbed.yml": stackFile(`      hello:
        handler: bootstrap
        routes: ["GET /hello"]
        instances: {min: 0, max: 3, scale_down_after: 1s}
        concurrency: 2
`),
		"services/api/main.go": scalingFunction,
	})
	a.mustDeploy("shop", "dev", "")

	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		pids     = map[string]int{}
		peak     int
	)
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		for {
			n := a.instancesOf("shop", "dev", "api/hello")
			mu.Lock()
			peak = max(peak, n)
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	client := &http.Client{Timeout: 20 * time.Second}
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			for range jobs {
				status, body := 0, ""
				resp, err := client.Get(a.gateway + "/shop/dev/hello?ms=100")
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					status, body = resp.StatusCode, string(b)
				}
				mu.Lock()
				statuses[status]++
				if status == http.StatusOK {
					pids[body]++
				}
				mu.Unlock()
			}
		})
	}
	for i := range 60 {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(stop)
	sampler.Wait()
	if statuses[http.StatusOK] != 60 {
		t.Fatalf("statuses under load %v; want 60 × 200", statuses)
	}
	if len(pids) < 2 || len(pids) > 3 || peak > 3 {
		t.Fatalf("%d processes answered (%v), at most %d instances ran; want 2 or 3, never past max 3", len(pids), pids, peak)
	}

	deadline := time.Now().Add(20 * time.Second)
	for a.instancesOf("shop", "dev", "api/hello") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still %d instances 20s after the load; want 0 (scale_down_after 1s)", a.instancesOf("shop", "dev", "api/hello"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	began := time.Now()
	code, body := a.get("/shop/dev/hello")
	if code != http.StatusOK || len(body) != 26 || pids[body] != 0 {
		t.Fatalf("the first request from zero answered %d %q; want 200 and the id of a new instance", code, body)
	}
	t.Logf("first request from zero instances answered in %s", time.Since(began))
	if n := a.instancesOf("shop", "dev", "api/hello"); n != 1 {
		t.Errorf("%d instances run after the first request from zero; want 1", n)
	}

	m, err := a.api.StageMetrics(context.Background(), "shop", "dev", "1h")
	if err != nil {
		t.Fatal(err)
	}
	var most int64
	for _, f := range m.Functions {
		for _, p := range f.Points {
			most = max(most, p.InstancesMax)
		}
	}
	if most < 1 || most > 3 {
		t.Errorf("the stage's metrics show at most %d instances; want 1 to 3", most)
	}
}
