package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web/apiv1"
)

// loggingFunction prints on start, per request, on errors, when it panics
// and when it is asked to stop.
const loggingFunction = `package main

import (
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	fmt.Println("boot v1")
	fmt.Println("WARN: cache is cold")
	fmt.Println("connecting with token=" + os.Getenv("API_TOKEN"))
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	go func() {
		<-stop
		fmt.Println("shutting down on SIGTERM")
		os.Exit(0)
	}()
	http.HandleFunc("/log", func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("request " + r.URL.Query().Get("msg"))
	})
	http.HandleFunc("/error", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(os.Stderr, "ERROR: the database is unreachable")
		http.Error(w, "unavailable", http.StatusInternalServerError)
	})
	http.HandleFunc("/panic", func(w http.ResponseWriter, r *http.Request) {
		go func() { panic("boom in a goroutine") }()
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	if err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`

const chattyFunction = `      hello:
        handler: bootstrap
        routes: ["GET /log", "GET /error", "GET /panic"]
`

// A function that logs, errors and panics, on the real binary: its lines
// reach the API, the CLI (once and followed) and the console, masked, at
// once; and they survive serve stopping (the function's goodbye on
// SIGTERM included) and starting again, with the new instance's lines
// after them.
func TestFunctionLogsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("boots the real binary twice")
	}
	const secret = "tok-6f1e2d3c4b5a"
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

	repo := testutil.NewRepo(t)
	repo.Commit("a chatty function", map[string]string{"seedbed.yml": stackFile(chattyFunction), "services/api/go.mod": goMod, "services/api/main.go": loggingFunction})
	if _, err := api.CreateApp(ctx, apiv1.CreateAppRequest{Name: "chatty", RepoURL: repo.Dir}); err != nil {
		t.Fatal(err)
	}
	if err := api.SetVar(ctx, "chatty", "dev", "API_TOKEN", apiv1.SetVarRequest{Value: secret, Secret: true}); err != nil {
		t.Fatal(err)
	}
	dep, err := api.Deploy(ctx, "chatty", apiv1.DeployRequest{Stage: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, api, dep.Deploy.ID, "succeeded", srv)

	// find polls the API until a line with text shows, and says how long
	// it took.
	find := func(q apiv1.FunctionLogQuery, text string) (apiv1.FunctionLogLine, time.Duration) {
		t.Helper()
		began := time.Now()
		for {
			page, err := api.FunctionLogs(ctx, "chatty", "dev", q)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range page.Lines {
				if strings.Contains(l.Text, text) {
					return l, time.Since(began)
				}
			}
			if time.Since(began) > 15*time.Second {
				t.Fatalf("no line %q within 15s; the log holds %+v\nserver:\n%s", text, page.Lines, srv.logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	boot, _ := find(apiv1.FunctionLogQuery{}, "boot v1")
	if boot.Function != "api/hello" || boot.Stream != "stdout" || boot.Level != "info" || boot.Instance == "" || boot.Release == 0 {
		t.Errorf("boot line = %+v", boot)
	}
	if l, _ := find(apiv1.FunctionLogQuery{}, "cache is cold"); l.Level != "warn" {
		t.Errorf("WARN line = %+v", l)
	}
	tok, _ := find(apiv1.FunctionLogQuery{Grep: "token="}, "token=")
	if tok.Text != "connecting with token=••••••" {
		t.Errorf("the secret is not masked: %q", tok.Text)
	}

	// A request's line, at once.
	if code, _ := httpGet(t, gatewayURL+"/chatty/dev/log?msg=hello-1", ""); code != 200 {
		t.Fatalf("/log answered %d", code)
	}
	hello, took := find(apiv1.FunctionLogQuery{Function: "api/hello", Since: "5m", Grep: "hello-1"}, "request hello-1")
	t.Logf("a request's line was in the API after %s", took)

	// Errors on stderr; a panic, Seedbed's note on the crash, the restart.
	if code, _ := httpGet(t, gatewayURL+"/chatty/dev/error", ""); code != 500 {
		t.Fatalf("/error answered %d", code)
	}
	if l, _ := find(apiv1.FunctionLogQuery{}, "database is unreachable"); l.Stream != "stderr" || l.Level != "error" {
		t.Errorf("error line = %+v", l)
	}
	httpGet(t, gatewayURL+"/chatty/dev/panic", "")
	if l, _ := find(apiv1.FunctionLogQuery{Grep: "panic:"}, "panic: boom in a goroutine"); l.Level != "error" {
		t.Errorf("panic line = %+v", l)
	}
	if l, _ := find(apiv1.FunctionLogQuery{}, "restarting in"); l.Stream != "seedbed" || !strings.Contains(l.Text, "exited with status 2") {
		t.Errorf("crash note = %+v", l)
	}
	find(apiv1.FunctionLogQuery{Grep: "boot v1", Limit: 10}, "boot v1")

	// The CLI, once (JSON) and following.
	c := cli{t: t, env: map[string]string{"SEEDBED_SERVER": consoleURL, "SEEDBED_TOKEN": api.Token}}
	out := c.must("logs", "chatty", "--stage", "dev", "--grep", "hello-1", "--output", "json")
	var got apiv1.FunctionLogPage
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.Lines) != 1 || got.Lines[0].Text != hello.Text || got.Lines[0].Cursor != hello.Cursor || got.Cursor == "" {
		t.Errorf("seedbed logs --output json printed %q (%v), want the line %+v", out, err, hello)
	}
	out = c.must("logs", "chatty", "--stage", "dev", "--function", "api/hello", "--since", "1h")
	for _, want := range []string{"api/hello INFO  boot v1", "api/hello WARN  WARN: cache is cold", "api/hello ERROR ERROR: the database is unreachable", "token=••••••"} {
		if !strings.Contains(out, want) {
			t.Errorf("seedbed logs lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, secret) {
		t.Errorf("seedbed logs shows the secret:\n%s", out)
	}
	if code, _, errOut := c.run("logs", "chatty", "--stage", "dev", "--since", "yesterday"); code == 0 || !strings.Contains(errOut, "since must be a duration") {
		t.Errorf("logs --since yesterday: exit %d, %q", code, errOut)
	}
	followed := followCLI(t, consoleURL, api.Token, "logs", "chatty", "--stage", "dev", "-f", "--grep", "follow-me")
	time.Sleep(300 * time.Millisecond) // let the stream open
	sent := time.Now()
	httpGet(t, gatewayURL+"/chatty/dev/log?msg=follow-me", "")
	followed.waitFor(t, "request follow-me")
	t.Logf("seedbed logs -f printed a request's line %s after it was made", time.Since(sent))

	// The console page shows the lines, masked, and links the live stream.
	page := consoleGet(t, consoleURL, "/apps/chatty/stages/dev/logs?function=api%2Fhello&since=1h")
	for _, want := range []string{"request hello-1", "token=••••••", "level-error", `data-stream-url="/apps/chatty/stages/dev/logs/events?`} {
		if !strings.Contains(page, want) {
			t.Errorf("console page lacks %q", want)
		}
	}
	if strings.Contains(page, secret) {
		t.Error("the console page shows the secret")
	}

	// Stop serve (SIGTERM, as a service manager does) and start it again.
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	srv.cmd.Wait()
	stopped := srv.logs.String()
	srv = startServer(t, env)
	waitHealthy(t, consoleURL, srv)
	page1, err := api.FunctionLogs(ctx, "chatty", "dev", apiv1.FunctionLogQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, l := range page1.Lines {
		texts = append(texts, l.Text)
	}
	all := strings.Join(texts, "\n")
	for _, want := range []string{"request hello-1", "panic: boom in a goroutine", "request follow-me", "shutting down on SIGTERM"} {
		if !strings.Contains(all, want) {
			t.Errorf("after the restart the log lacks %q:\n%s\nthe first server's output:\n%s", want, all, stopped)
		}
	}
	// The restored instance logs on, after what came before.
	if code, _ := httpGet(t, gatewayURL+"/chatty/dev/log?msg=after-restart", ""); code != 200 {
		t.Fatalf("/log after the restart answered %d", code)
	}
	after, _ := find(apiv1.FunctionLogQuery{Grep: "after-restart"}, "request after-restart")
	// seedbed logs -f went on through the restart, from where it was.
	httpGet(t, gatewayURL+"/chatty/dev/log?msg=follow-me-again", "")
	followed.waitFor(t, "request follow-me-again")
	if n := strings.Count(followed.String(), "request follow-me\n"); n != 1 {
		t.Errorf("seedbed logs -f printed the line before the restart %d times:\n%s", n, followed.String())
	}
	if !after.Time.After(hello.Time) || after.Instance == hello.Instance {
		t.Errorf("the new instance's line %+v does not follow the old one's %+v", after, hello)
	}
	if strings.Count(all, "boot v1") < 2 {
		t.Errorf("want a boot line per process (first start, restart after the panic):\n%s", all)
	}
	if strings.Contains(all, secret) {
		t.Error("the stored log holds the secret")
	}
	if data := readAllFiles(t, filepath.Join(dir, "fnlogs")); bytes.Contains(data, []byte(secret)) {
		t.Error("the secret is in the function log files")
	}
}

// readAllFiles concatenates every file under dir.
func readAllFiles(t *testing.T, dir string) []byte {
	t.Helper()
	var all []byte
	matches, _ := filepath.Glob(filepath.Join(dir, "*", "*", "*"))
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if len(matches) == 0 {
		t.Fatalf("no function log files under %s", dir)
	}
	return all
}

// followedCLI is `seedbed logs -f` running in the background.
type followedCLI struct {
	mu     sync.Mutex
	out    bytes.Buffer
	cancel context.CancelFunc
	done   chan struct{}
}

func followCLI(t *testing.T, server, token string, args ...string) *followedCLI {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &followedCLI{cancel: cancel, done: make(chan struct{})}
	env := map[string]string{"SEEDBED_SERVER": server, "SEEDBED_TOKEN": token}
	w := writerFunc(func(p []byte) (int, error) { f.mu.Lock(); defer f.mu.Unlock(); return f.out.Write(p) })
	go func() {
		defer close(f.done)
		run(ctx, args, func(k string) string { return env[k] }, strings.NewReader(""), w, io.Discard)
	}()
	t.Cleanup(f.stop)
	return f
}

func (f *followedCLI) waitFor(t *testing.T, text string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		f.mu.Lock()
		ok := strings.Contains(f.out.String(), text)
		f.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t.Fatalf("seedbed logs -f did not print %q within 15s; it printed:\n%s", text, f.out.String())
}

func (f *followedCLI) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.out.String()
}

func (f *followedCLI) stop() {
	f.cancel()
	<-f.done
}

// consoleGet signs in to the console at base as the admin and returns the
// page at path.
func consoleGet(t *testing.T, base, path string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	get := func(u string) string {
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", u, resp.StatusCode, b)
		}
		return string(b)
	}
	m := regexp.MustCompile(`name="_csrf" value="([^"]+)"`).FindStringSubmatch(get(base + "/login"))
	if m == nil {
		t.Fatal("no CSRF field on the login page")
	}
	resp, err := c.PostForm(base+"/login", url.Values{"email": {adminEmail}, "password": {adminPassword}, "_csrf": {m[1]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return get(base + path)
}
