package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web/apiv1"
)

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// seedbedBinary builds the real binary once per test run.
func seedbedBinary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "seedbed-bin-")
		if err != nil {
			binaryErr = err
			return
		}
		binaryPath = filepath.Join(dir, "seedbed")
		out, err := exec.Command("go", "build", "-o", binaryPath, ".").CombinedOutput()
		if err != nil {
			binaryErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
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

// serverProcess is `seedbed serve` running as a child process.
type serverProcess struct {
	cmd  *exec.Cmd
	logs *serverLog
}

// serverLog is a server's output so far.
type serverLog struct {
	mu  sync.Mutex
	sb  strings.Builder
	out *os.File // where the output goes instead, when set
}

func (l *serverLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sb.Write(p)
}

func (l *serverLog) String() string {
	if l.out != nil {
		b, _ := os.ReadFile(l.out.Name())
		return string(b)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sb.String()
}

func startServer(t *testing.T, env []string) *serverProcess {
	t.Helper()
	return startServerWith(t, env, &serverLog{})
}

// startServerWith starts `seedbed serve`, or the command wrap with the
// binary and "serve" as its last arguments.
func startServerWith(t *testing.T, env []string, logs *serverLog, wrap ...string) *serverProcess {
	t.Helper()
	args := append(wrap, seedbedBinary(t), "serve")
	cmd := exec.Command(args[0], args[1:]...)
	// A group of its own: what it starts, the process it hands over to
	// included, is killed with it at the end of the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logs, logs
	if logs.out != nil {
		cmd.Stdout, cmd.Stderr = logs.out, logs.out
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{cmd: cmd, logs: logs}
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *serverProcess) kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Wait()
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func waitHealthy(t *testing.T, url string, p *serverProcess) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("seedbed at %s did not become healthy; its output:\n%s", url, p.logs.String())
}

// Kill Seedbed in the middle of a deploy and start it again: the deploy
// ends, the stage serves one whole release, and the build is not lost.
func TestKillDuringDeploy(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("boots the real binary twice")
	}
	dir := t.TempDir()
	console, gateway := freeAddr(t), freeAddr(t)
	env := append(testutil.GoEnv(t),
		"SEEDBED_DATA_DIR="+dir, "SEEDBED_ADDR="+console, "SEEDBED_GATEWAY_ADDR="+gateway,
		"SEEDBED_ADMIN_EMAIL="+adminEmail, "SEEDBED_ADMIN_PASSWORD="+adminPassword)
	consoleURL, gatewayURL := "http://"+console, "http://"+gateway

	srv := startServer(t, env)
	waitHealthy(t, consoleURL, srv)
	ctx := context.Background()
	api := apiv1.NewClient(consoleURL, "")
	login, err := api.Login(ctx, apiv1.LoginRequest{Email: adminEmail, Password: adminPassword})
	if err != nil {
		t.Fatal(err)
	}
	api.Token = login.Token

	// Two functions, so a mix of releases would show.
	twoFunctions := `services:
  api:
    path: services/api
    runtime: go
    functions:
      one:
        routes: ["GET /one"]
      two:
        routes: ["GET /two"]
`
	repo := testutil.NewRepo(t)
	repo.Commit("v1", map[string]string{"seedbed.yml": twoFunctions, "services/api/go.mod": goMod, "services/api/main.go": goFunction("v1")})
	if _, err := api.CreateApp(ctx, apiv1.CreateAppRequest{Name: "phoenix", RepoURL: repo.Dir}); err != nil {
		t.Fatal(err)
	}
	first, err := api.Deploy(ctx, "phoenix", apiv1.DeployRequest{Stage: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, api, first.Deploy.ID, "succeeded", srv)

	// v2 takes 3 s before it listens, so the deploy is surely mid-apply
	// when Seedbed is killed.
	slow := strings.Replace(goFunction("v2"), "func main() {", "func main() {\n\ttime.Sleep(3 * time.Second)", 1)
	slow = strings.Replace(slow, `"os"`, "\"os\"\n\t\"time\"", 1)
	repo.Commit("v2, slow to start", map[string]string{"services/api/main.go": slow})
	second, err := api.Deploy(ctx, "phoenix", apiv1.DeployRequest{Stage: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		d, err := api.GetDeploy(ctx, second.Deploy.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status == "running" {
			break
		}
		if d.Finished() || time.Now().After(deadline) {
			t.Fatalf("deploy %d is %s before it could be interrupted: %s", d.ID, d.Status, d.Error)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	srv.kill()

	srv = startServer(t, env)
	waitHealthy(t, consoleURL, srv)
	// From the moment it answers, the stage serves one whole release.
	final := ""
	deadline = time.Now().Add(2 * time.Minute)
	for {
		c1, one := httpGet(t, gatewayURL+"/phoenix/dev/one", "")
		c2, two := httpGet(t, gatewayURL+"/phoenix/dev/two", "")
		if c1 != 200 || c2 != 200 {
			t.Fatalf("after the restart: /one %d %q, /two %d %q; want both served\n%s", c1, one, c2, two, srv.logs.String())
		}
		if one[:2] != two[:2] {
			// Two requests can straddle the switch; a mix that stays is a bug.
			c1, one = httpGet(t, gatewayURL+"/phoenix/dev/one", "")
			if one[:2] != two[:2] {
				_, two = httpGet(t, gatewayURL+"/phoenix/dev/two", "")
				if one[:2] != two[:2] {
					t.Fatalf("the stage serves a mix of releases: /one %q, /two %q", one, two)
				}
			}
		}
		d, err := api.GetDeploy(ctx, second.Deploy.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Finished() {
			final = d.Status
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the interrupted deploy is still %s after the restart\n%s", d.Status, srv.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, one := httpGet(t, gatewayURL+"/phoenix/dev/one", "")
	_, two := httpGet(t, gatewayURL+"/phoenix/dev/two", "")
	want := "v1"
	if final == "succeeded" {
		want = "v2"
	}
	if !strings.HasPrefix(one, want) || !strings.HasPrefix(two, want) {
		t.Fatalf("deploy ended %s but the stage answers %q and %q, want %s", final, one, two, want)
	}
	b, err := api.Build(ctx, second.Build.ID)
	if err != nil || b.Status != "succeeded" || len(b.Artifacts) != 2 {
		t.Fatalf("the interrupted deploy's build after the restart: %+v, %v", b, err)
	}
	t.Logf("the interrupted deploy ended %s; the stage serves %s", final, want)
}

func waitStatus(t *testing.T, api *apiv1.Client, id uint, want string, srv *serverProcess) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		d, err := api.GetDeploy(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if d.Finished() {
			if d.Status != want {
				t.Fatalf("deploy %d ended %s (%s), want %s\n%s", id, d.Status, d.Error, want, srv.logs.String())
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("deploy %d did not finish", id)
}
