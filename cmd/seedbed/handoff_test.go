package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web/apiv1"
)

// instanceFunction answers with its version and a mark of its process, so
// that a response tells which process of the function served it.
func instanceFunction(version string) string {
	return `package main

import (
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	mark := time.Now().UnixNano()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "` + version + ` %d", mark)
	})
	if err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`
}

// loadResult is what a request loop saw.
type loadResult struct {
	mu        sync.Mutex
	ok        int
	failures  []string
	latencies []time.Duration
	bodies    []string // in the order answered
}

func (r *loadResult) add(body string, took time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.failures = append(r.failures, err.Error())
		return
	}
	r.ok++
	r.latencies = append(r.latencies, took)
	r.bodies = append(r.bodies, body)
}

// steadyLoad sends requests to url from workers loops, each on keep-alive
// connections, until stop is closed; wait returns once they have ended.
// Every other loop sends POSTs, which Go's client (like most) does not
// send again when a kept-alive connection is closed under them: a
// handoff that closes a connection as a request arrives fails it.
func steadyLoad(url string, workers int, stop <-chan struct{}) (_ *loadResult, wait func()) {
	res := &loadResult{}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	var wg sync.WaitGroup
	for i := range workers {
		post := i%2 == 1
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				began := time.Now()
				var resp *http.Response
				var err error
				if post {
					resp, err = client.Post(url, "text/plain", strings.NewReader("ping"))
				} else {
					resp, err = client.Get(url)
				}
				if err != nil {
					res.add("", 0, err)
					continue
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
				}
				res.add(string(body), time.Since(began), err)
			}
		})
	}
	return res, func() { wg.Wait(); client.CloseIdleConnections() }
}

// relayServer is a real `seedbed serve` whose stage relay/dev serves
// instanceFunction at /relay/dev/hello.
type relayServer struct {
	srv         *serverProcess
	api         *apiv1.Client
	repo        *testutil.Repo
	gatewayURL  string
	firstDeploy uint
}

// startRelay starts the server (wrapped in wrap, if any) with extra in its
// environment and its output in a file, and deploys relay v1.
func startRelay(t *testing.T, extra []string, wrap ...string) *relayServer {
	t.Helper()
	dir := t.TempDir()
	console, gateway := freeAddr(t), freeAddr(t)
	env := append(testutil.GoEnv(t),
		"SEEDBED_DATA_DIR="+dir, "SEEDBED_ADDR="+console, "SEEDBED_GATEWAY_ADDR="+gateway,
		"SEEDBED_ADMIN_EMAIL="+adminEmail, "SEEDBED_ADMIN_PASSWORD="+adminPassword)
	env = append(env, extra...)
	f, err := os.Create(filepath.Join(t.TempDir(), "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	srv := startServerWith(t, env, &serverLog{out: f}, wrap...)
	waitHealthy(t, "http://"+console, srv)
	ctx := context.Background()
	api := apiv1.NewClient("http://"+console, "")
	login, err := api.Login(ctx, apiv1.LoginRequest{Email: adminEmail, Password: adminPassword})
	if err != nil {
		t.Fatal(err)
	}
	api.Token = login.Token
	stack := `services:
  api:
    path: services/api
    runtime: go
    functions:
      hello:
        routes: ["GET /hello", "POST /hello"]
`
	repo := testutil.NewRepo(t)
	repo.Commit("v1", map[string]string{"seedbed.yml": stack, "services/api/go.mod": goMod, "services/api/main.go": instanceFunction("v1")})
	if _, err := api.CreateApp(ctx, apiv1.CreateAppRequest{Name: "relay", RepoURL: repo.Dir}); err != nil {
		t.Fatal(err)
	}
	first, err := api.Deploy(ctx, "relay", apiv1.DeployRequest{Stage: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, api, first.Deploy.ID, "succeeded", srv)
	return &relayServer{srv: srv, api: api, repo: repo, gatewayURL: "http://" + gateway, firstDeploy: first.Deploy.ID}
}

// handedTo waits until the server's log names the process the n-th
// handoff went to, and returns its pid.
func (r *relayServer) handedTo(t *testing.T, n int) int {
	t.Helper()
	re := regexp.MustCompile(`handed over; finishing the requests in flight" pid=(\d+)`)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if m := re.FindAllStringSubmatch(r.srv.logs.String(), -1); len(m) >= n {
			pid, _ := strconv.Atoi(m[n-1][1])
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no handoff %d within 3 minutes\n%s", n, r.srv.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkLoad fails the test unless every request of load was answered and
// the last answers came from another function process than the first.
func checkLoad(t *testing.T, load *loadResult, logs string) {
	t.Helper()
	load.mu.Lock()
	defer load.mu.Unlock()
	if len(load.failures) > 0 {
		t.Fatalf("%d of %d requests failed during the handoff, first: %s\n%s", len(load.failures), load.ok+len(load.failures), load.failures[0], logs)
	}
	if load.ok < 50 {
		t.Fatalf("only %d requests were answered; the loop did not run", load.ok)
	}
	// The last answers come from a process of the function the new
	// Seedbed started, not the one that served before the signal.
	if first, last := load.bodies[0], load.bodies[len(load.bodies)-1]; first == last {
		t.Fatalf("every request was answered by the same function process (%q): the new process did not serve", first)
	}
	slices.Sort(load.latencies)
	t.Logf("%d requests, 0 failed; p50 %s, p99 %s, max %s (the benchmark is bench/restart)", load.ok,
		load.latencies[len(load.latencies)/2], load.latencies[len(load.latencies)*99/100], load.latencies[len(load.latencies)-1])
}

// SIGHUP under a steady request loop, on SQLite with the in-process queue
// and on PostgreSQL with Redis: a new process takes over the listening
// sockets, the old one finishes what it holds and exits, and not one
// request fails. The new process serves the console and runs deploys.
func TestHandOverUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("boots the real binary")
	}
	t.Run("sqlite", func(t *testing.T) { testHandOverUnderLoad(t, nil) })
	t.Run("postgres+redis", func(t *testing.T) {
		testHandOverUnderLoad(t, []string{"SEEDBED_DATABASE_URL=" + testutil.PostgresURL(t), "SEEDBED_REDIS_URL=" + testutil.RedisURL(t)})
	})
}

func testHandOverUnderLoad(t *testing.T, extra []string) {
	r := startRelay(t, extra)
	srv := r.srv
	stop := make(chan struct{})
	load, wait := steadyLoad(r.gatewayURL+"/relay/dev/hello", 4, stop)
	time.Sleep(time.Second)
	if err := srv.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			close(stop)
			t.Fatalf("the old process ended with %v after SIGHUP\n%s", err, srv.logs.String())
		}
	case <-time.After(3 * time.Minute):
		close(stop)
		t.Fatalf("the old process did not exit within 3 minutes of SIGHUP\n%s", srv.logs.String())
	}
	pid := r.handedTo(t, 1)
	t.Cleanup(func() { stopProcess(t, pid) })
	// The new process goes on serving after the old one is gone.
	time.Sleep(2 * time.Second)
	close(stop)
	wait()
	checkLoad(t, load, srv.logs.String())

	// The console answers from the new process, and its workers deploy.
	ctx := context.Background()
	if _, err := r.api.GetDeploy(ctx, r.firstDeploy); err != nil {
		t.Fatalf("the API after the handoff: %v", err)
	}
	r.repo.Commit("v2", map[string]string{"services/api/main.go": instanceFunction("v2")})
	second, err := r.api.Deploy(ctx, "relay", apiv1.DeployRequest{Stage: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, r.api, second.Deploy.ID, "succeeded", srv)
	if code, body := httpGet(t, r.gatewayURL+"/relay/dev/hello", ""); code != 200 || !strings.HasPrefix(body, "v2 ") {
		t.Fatalf("after a deploy through the new process: %d %q, want v2", code, body)
	}

	// A second handoff, from the process that took over, with no load:
	// the old one exits without a request to wake it.
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	next := r.handedTo(t, 2)
	t.Cleanup(func() { stopProcess(t, next) })
	deadline := time.Now().Add(time.Minute)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("after an idle handoff, process %d still runs a minute later\n%s", pid, srv.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, body := httpGet(t, r.gatewayURL+"/relay/dev/hello", ""); code != 200 || !strings.HasPrefix(body, "v2 ") {
		t.Fatalf("after the second handoff: %d %q, want v2", code, body)
	}
}

// processGone reports whether pid has exited (a zombie counts).
func processGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || strings.HasPrefix(string(b)[i+1:], " Z")
}

// As the first process of a container (here: of a pid namespace of its
// own), serve runs under a supervisor that stays, so that two handoffs in
// a row keep serving, and SIGTERM to the supervisor stops the server that
// serves by then and ends the container cleanly.
func TestHandOverAsFirstProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("boots the real binary")
	}
	if _, err := exec.LookPath("unshare"); err != nil || os.Getuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root and unshare (util-linux) for a pid namespace")
		}
		t.Skip("needs root and unshare (util-linux) for a pid namespace")
	}
	r := startRelay(t, nil, "unshare", "--pid", "--fork", "--mount-proc")
	// unshare's child is pid 1 inside: the supervisor.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", r.srv.cmd.Process.Pid, r.srv.cmd.Process.Pid))
	if err != nil || len(strings.Fields(string(b))) != 1 {
		t.Fatalf("find the supervisor: %q, %v", b, err)
	}
	supervisor, _ := strconv.Atoi(strings.Fields(string(b))[0])
	// Killing a pid namespace's first process kills all of it.
	t.Cleanup(func() { _ = syscall.Kill(supervisor, syscall.SIGKILL) })

	stop := make(chan struct{})
	load, wait := steadyLoad(r.gatewayURL+"/relay/dev/hello", 4, stop)
	for n := 1; n <= 2; n++ {
		time.Sleep(time.Second)
		if err := syscall.Kill(supervisor, syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		r.handedTo(t, n)
	}
	time.Sleep(2 * time.Second)
	close(stop)
	wait()
	checkLoad(t, load, r.srv.logs.String())

	if err := syscall.Kill(supervisor, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- r.srv.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the container ended with %v after SIGTERM\n%s", err, r.srv.logs.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("the container did not end within a minute of SIGTERM\n%s", r.srv.logs.String())
	}
}

// stopProcess stops a process this test did not start (the one that took
// over): SIGTERM, then SIGKILL if it is still there after a while.
func stopProcess(t *testing.T, pid int) {
	t.Helper()
	if syscall.Kill(pid, syscall.SIGTERM) != nil {
		return
	}
	for range 300 {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}
