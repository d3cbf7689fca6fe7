package local

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seedbed/seedbed/sandbox"
	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/targets"
	"github.com/seedbed/seedbed/testutil"
)

// withSandbox returns a Config change that runs functions sandboxed, with
// function users of a uid range of this test process's own (so that two
// test processes never share a uid). It skips the test (fails it under
// CI=true) where bubblewrap or pasta do not work.
func withSandbox(t testing.TB) func(*Config) {
	t.Helper()
	if os.Geteuid() != 0 {
		testutil.Unavailable(t, "root (sandboxed functions run as users of their own)", fmt.Errorf("euid %d", os.Geteuid()))
	}
	r, err := sandbox.Detect(context.Background())
	if err != nil {
		testutil.Unavailable(t, "bubblewrap and pasta", err)
	}
	return func(c *Config) {
		c.Sandbox = r
		c.UIDBase = testUIDBase()
		// t.TempDir's folders are closed (0700); the functions' users
		// must pass through them, as they pass through a data dir.
		for p := filepath.Dir(c.Dir); p != "/" && p != filepath.Clean(os.TempDir()); p = filepath.Dir(p) {
			if err := os.Chmod(p, 0o711); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// testUIDBase is this test process's range of function users.
func testUIDBase() int { return 3_000_000 + (os.Getpid()%10_000)*100 }

// tryReply is what the test function's /try answers.
type tryReply map[string]string

func (b *bundle) try(t *testing.T, ref targets.StageRef, q url.Values) tryReply {
	t.Helper()
	res := b.get(t, "/"+ref.App+"/"+ref.Stage+"/try?"+q.Encode())
	wantStatus(t, res, http.StatusOK)
	var out tryReply
	if err := json.Unmarshal([]byte(res.body), &out); err != nil {
		t.Fatalf("decode %q: %v", res.body, err)
	}
	return out
}

// instanceOf returns the live instance of a function.
func (b *bundle) instanceOf(t *testing.T, ref targets.StageRef, key string) *instance {
	t.Helper()
	st, _ := b.target.stage(ref, false)
	if st == nil {
		t.Fatalf("stage %s is not deployed", ref)
	}
	st.applyMu.Lock()
	defer st.applyMu.Unlock()
	in := st.instances[key].first()
	if in == nil {
		t.Fatalf("no instance of %s in %s", key, ref)
	}
	return in
}

// TestSandboxedFunctionsAreConfined deploys two apps and has a function of
// one try what an attacker's would: read the data dir, a root-only file,
// /etc/shadow, the other app's artifact and run dir and the other
// function's /proc, and connect to the host's loopback services. Every
// attempt fails; it runs as its app's user, the other app as another.
func TestSandboxedFunctionsAreConfined(t *testing.T) {
	b := setup(t, withSandbox(t))
	blogDev := targets.StageRef{App: "blog", Stage: "dev"}
	try := goFn("fn", "v1", map[string]string{"GREETING": "hi"}, "GET /try", "GET /who")
	b.apply(t, shopDev, try)
	b.apply(t, blogDev, goFn("fn", "v1", nil, "GET /who"))

	shop := b.get(t, "/shop/dev/who")
	wantStatus(t, shop, http.StatusOK)
	blog := b.get(t, "/blog/dev/who")
	wantStatus(t, blog, http.StatusOK)
	base := testUIDBase()
	if shop.reply.UID < base || shop.reply.UID != shop.reply.GID || shop.reply.UID == os.Getuid() {
		t.Errorf("shop's function runs as %d:%d, want its app's user (from %d), not Seedbed's (%d)", shop.reply.UID, shop.reply.GID, base, os.Getuid())
	}
	if blog.reply.UID < base || blog.reply.UID == shop.reply.UID {
		t.Errorf("blog's function runs as %d, want a user of its own (shop's is %d)", blog.reply.UID, shop.reply.UID)
	}
	// A second function of the same app shares its user.
	b.apply(t, shopStaging, goFn("other", "v2", nil, "GET /who"))
	if res := b.get(t, "/shop/staging/who"); res.reply.UID != shop.reply.UID {
		t.Errorf("a second function of shop runs as %d, want shop's user %d", res.reply.UID, shop.reply.UID)
	}

	secret := filepath.Join(b.dir, "secret.key") // stands for the data dir's key
	if err := os.WriteFile(secret, []byte("key"), 0o600); err != nil {
		t.Fatal(err)
	}
	self := b.instanceOf(t, shopDev, "api/fn")
	other := b.instanceOf(t, blogDev, "api/fn")
	other.mu.Lock()
	otherPid := other.cur.cmd.Process.Pid
	other.mu.Unlock()
	gateway := strings.TrimPrefix(b.server.URL, "http://") // stands for Seedbed's console port

	q := url.Values{}
	denied := []string{
		"read " + secret,
		"read /etc/shadow",
		"list " + other.dir,
		"read " + filepath.Join(other.dir, "VERSION"),
		"list " + other.runDir,
		fmt.Sprintf("read /proc/%d/environ", otherPid),
		fmt.Sprintf("list /proc/%d/root", otherPid),
		"dial 127.0.0.1:5432",
		"dial 127.0.0.1:6379",
		"dial " + gateway,
	}
	allowed := []string{
		"read " + filepath.Join(self.dir, "VERSION"),
		"list " + self.runDir,
		"list /tmp",
	}
	for _, a := range append(append([]string(nil), denied...), allowed...) {
		verb, arg, _ := strings.Cut(a, " ")
		q.Add(verb, arg)
	}
	got := b.try(t, shopDev, q)
	for _, a := range denied {
		t.Run("denied: "+a, func(t *testing.T) {
			if r, ok := got[a]; !ok || r == "ok" {
				t.Errorf("%s: %q, want an error", a, r)
			}
		})
	}
	for _, a := range allowed {
		t.Run("allowed: "+a, func(t *testing.T) {
			if r := got[a]; r != "ok" {
				t.Errorf("%s: %q, want ok", a, r)
			}
		})
	}

	t.Run("host permissions", func(t *testing.T) {
		for _, p := range []struct {
			path string
			uid  int
			mode os.FileMode
		}{
			{self.runDir, shop.reply.UID, 0o700},
			{self.dir, 0, 0o750},
		} {
			fi, err := os.Stat(p.path)
			if err != nil {
				t.Fatal(err)
			}
			st := fi.Sys().(*syscall.Stat_t)
			if int(st.Uid) != p.uid || fi.Mode().Perm() != p.mode || int(st.Gid) != shop.reply.GID {
				t.Errorf("%s: %d:%d %04o, want %d:%d %04o", p.path, st.Uid, st.Gid, fi.Mode().Perm(), p.uid, shop.reply.GID, p.mode)
			}
		}
		if self.dir == other.dir {
			t.Errorf("two apps share the unpacked artifact %s", self.dir)
		}
	})
}

// TestSandboxedLambdaFunctions checks that Lambda-style functions reach
// their Runtime API from their own network, in every runtime.
func TestSandboxedLambdaFunctions(t *testing.T) {
	for _, rt := range lambdaRuntimes {
		t.Run(rt.name, func(t *testing.T) {
			if rt.needs != "" {
				if _, err := interpreter(rt.runtime, rt.needs); err != nil {
					testutil.Unavailable(t, rt.needs, err)
				}
			}
			b := setup(t, withTrees, withSandbox(t))
			ref := targets.StageRef{App: "shop", Stage: rt.name}
			b.apply(t, ref, lambdaFn(rt.runtime, rt.handler, rt.artifact, map[string]string{"GREETING": "hello"}))
			for i := range 2 {
				a := b.call(t, call{path: "/shop/" + rt.name + "/echo?i=" + fmt.Sprint(i)})
				if a.status != http.StatusOK || a.echo.Greeting != "hello" {
					t.Fatalf("call %d: %d %s", i, a.status, a.body)
				}
			}
		})
	}
}

// TestSandboxedStopEndsEveryProcess checks that stopping a function ends
// every process it started, including one that left its process group
// and session with setsid.
func TestSandboxedStopEndsEveryProcess(t *testing.T) {
	b := setup(t, withSandbox(t))
	fn := targets.Function{Service: "api", Name: "sh", Runtime: "process", Digest: digest("v1"),
		Handler: "setsid sleep 1000 & (trap '' TERM; sleep 1001) & exec ./bootstrap",
		Routes:  []stack.Route{{Method: "GET", Path: "/who"}}}
	b.target.timing.killGrace = 200 * time.Millisecond
	b.apply(t, shopDev, fn)
	res := b.get(t, "/shop/dev/who")
	wantStatus(t, res, http.StatusOK)
	uid := res.reply.UID
	if n := processesOf(uid); n < 3 {
		t.Fatalf("%d processes of uid %d, want the function and its two sleeps", n, uid)
	}
	if err := b.target.Remove(t.Context(), shopDev); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for processesOf(uid) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d processes of uid %d outlived the function", processesOf(uid), uid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processesOf counts the live processes of uid on the host.
func processesOf(uid int) int {
	n := 0
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		var st syscall.Stat_t
		if syscall.Stat(d, &st) != nil || int(st.Uid) != uid {
			continue
		}
		if b, err := os.ReadFile(d + "/stat"); err == nil && !strings.Contains(string(b), ") Z ") {
			n++
		}
	}
	return n
}

// TestFunctionOutputStaysOutOfSeedbedLog checks that what a function
// prints never reaches Seedbed's own log, and that the secret values in
// what Seedbed keeps for error messages are masked, line by line.
func TestFunctionOutputStaysOutOfSeedbedLog(t *testing.T) {
	const secret = "s3cr3t-value"
	tests := []struct {
		name    string
		handler string
		env     map[string]string
		failing bool
	}{
		{name: "healthy function", handler: `echo "API_KEY=$API_KEY MODE=$MODE"; echo "$PEM" >&2; exec ./bootstrap`},
		{name: "function that fails to start", handler: `echo "API_KEY=$API_KEY MODE=$MODE"; echo "$PEM" >&2; exit 3`, failing: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := setup(t)
			fn := targets.Function{Service: "api", Name: "sh", Runtime: "process", Digest: digest("v1"), Handler: tt.handler,
				Env:     map[string]string{"API_KEY": secret, "PEM": "-----BEGIN KEY-----\nline-one-secret\n-----END KEY-----", "MODE": "production"},
				Secrets: []string{"API_KEY", "PEM"},
				Routes:  []stack.Route{{Method: "GET", Path: "/who"}}}
			log := &progress{}
			err := b.target.Apply(t.Context(), shopDev, []targets.Function{fn}, log)
			if tt.failing {
				if err == nil {
					t.Fatal("Apply succeeded, want the function's failure")
				}
				msg := err.Error()
				if !strings.Contains(msg, "API_KEY=•••••• MODE=production") || strings.Contains(msg, secret) || strings.Contains(msg, "line-one-secret") {
					t.Errorf("the error shows the output unmasked or not at all: %s", msg)
				}
			} else if err != nil {
				t.Fatal(err)
			} else {
				// Let the output arrive.
				wantStatus(t, b.get(t, "/shop/dev/who"), http.StatusOK)
				in := b.instanceOf(t, shopDev, "api/sh")
				if out := strings.Join(in.out.last(), "\n"); !strings.Contains(out, "API_KEY=•••••• MODE=production") || strings.Contains(out, secret) {
					t.Errorf("kept output %q, want API_KEY=••••••", out)
				}
			}
			for _, leak := range []string{secret, "line-one-secret", "API_KEY="} {
				if strings.Contains(b.logs.String(), leak) {
					t.Errorf("Seedbed's log holds the function's output %q:\n%s", leak, b.logs.String())
				}
			}
		})
	}
}

// TestOutOfMemoryDuringStart checks that a function the kernel stops for
// its memory before it is healthy is reported as out of memory, not as
// killed by a signal.
func TestOutOfMemoryDuringStart(t *testing.T) {
	needCgroups(t)
	tests := []struct {
		name    string
		sandbox bool
	}{
		{name: "unconfined"},
		{name: "sandboxed", sandbox: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mutate := []func(*Config){func(c *Config) { c.MemoryLimits = MemoryLimitsCgroup }}
			if tt.sandbox {
				mutate = append(mutate, withSandbox(t))
			}
			b := setup(t, mutate...)
			fn := goFn("fn", "v1", map[string]string{"START_HOG": "300"}, "GET /who")
			fn.Memory = 32
			err := b.target.Apply(t.Context(), shopDev, []targets.Function{fn}, nil)
			if err == nil {
				t.Fatal("Apply succeeded, want out of memory")
			}
			if msg := err.Error(); !strings.Contains(msg, "ran out of memory") || strings.Contains(msg, "killed by signal") {
				t.Errorf("error %q, want it to say the function ran out of memory", msg)
			}
		})
	}
}

func TestAppUsers(t *testing.T) {
	dir := t.TempDir()
	u, err := loadUsers(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	shop, _ := u.uid("shop")
	blog, _ := u.uid("blog")
	again, _ := u.uid("shop")
	if shop != DefaultUIDBase || blog != DefaultUIDBase+1 || again != shop {
		t.Errorf("uids shop %d, blog %d, shop again %d", shop, blog, again)
	}
	reloaded, err := loadUsers(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := reloaded.uid("blog"); got != blog {
		t.Errorf("after a restart blog has uid %d, want %d", got, blog)
	}
	if got, _ := reloaded.uid("docs"); got != DefaultUIDBase+2 {
		t.Errorf("a third app gets %d, want %d", got, DefaultUIDBase+2)
	}

	tests := []struct {
		name string
		base int
		want string
	}{
		{name: "system users", base: 100, want: "system users"},
		{name: "another base than the file's", base: DefaultUIDBase + 5_000_000, want: "outside"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := loadUsers(dir, tt.base); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("loadUsers(base %d) = %v, want an error with %q", tt.base, err, tt.want)
			}
		})
	}
}

// TestLambdaErrorsAreMasked checks that the error a Lambda handler posts,
// which goes to Seedbed's log, has the function's env values masked.
func TestLambdaErrorsAreMasked(t *testing.T) {
	b := setup(t, withTrees)
	const secret = "the handler failed" // what testdata/lambda's /fail says
	fn := lambdaFn("go", "bootstrap", "go-lambda", map[string]string{"TOKEN": secret})
	fn.Secrets = []string{"TOKEN"}
	b.apply(t, shopDev, fn)
	if a := b.call(t, call{path: "/shop/dev/fail"}); a.status != http.StatusBadGateway {
		t.Fatalf("/fail: %d %s", a.status, a.body)
	}
	logs := b.logs.String()
	if strings.Contains(logs, secret) || !strings.Contains(logs, "boom: •••••• as told") {
		t.Errorf("the handler's error is not masked in Seedbed's log:\n%s", logs)
	}
}
