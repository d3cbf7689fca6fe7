package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seedbed/seedbed/builders"
	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web/apiv1"
)

// evilFunction is what a deployer who wants more than their app would
// deploy: it reads files, lists directories and processes, dials
// addresses, and shows the cookies it was sent while it sets console
// cookies of its own.
const evilFunction = `package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	http.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile(r.URL.Query().Get("p"))
		if err != nil {
			fmt.Fprint(w, "refused: ", err)
			return
		}
		fmt.Fprintf(w, "read %d bytes", len(b))
	})
	http.HandleFunc("/list", func(w http.ResponseWriter, r *http.Request) {
		entries, err := os.ReadDir(r.URL.Query().Get("p"))
		if err != nil {
			fmt.Fprint(w, "refused: ", err)
			return
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		fmt.Fprint(w, strings.Join(names, " "))
	})
	http.HandleFunc("/dial", func(w http.ResponseWriter, r *http.Request) {
		c, err := net.DialTimeout("tcp", r.URL.Query().Get("a"), 2*time.Second)
		if err != nil {
			fmt.Fprint(w, "refused: ", err)
			return
		}
		c.Close()
		fmt.Fprint(w, "connected")
	})
	http.HandleFunc("/uid", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, os.Getuid()) })
	http.HandleFunc("/cookies", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "seedbed_csrf", Value: "attackerchosen", Path: "/"})
		http.SetCookie(w, &http.Cookie{Name: "__Host-seedbed_session", Value: "planted", Path: "/", Secure: true})
		http.SetCookie(w, &http.Cookie{Name: "mine", Value: "kept", Path: "/"})
		fmt.Fprint(w, "cookie: ", r.Header.Get("Cookie"))
	})
	if err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`

// TestAttackerSuite is issue 10's attacker run against the real wiring, on
// the embedded default started as root with bubblewrap: a user with no role,
// a viewer and a deployer each try what an attacker with an ordinary account
// tried, and a deployer's function tries to leave its sandbox. Every attempt
// must be refused. (Pushes racing, the queue healing, masking, sealing and
// retention have suites of their own: TestGitConcurrentPushesServeBranchTip,
// TestFlushDBIsHealed, TestSecretsMaskedEndToEnd, TestAppSecretsAreSealed,
// TestGCKeepsDataDirBounded.)
func TestAttackerSuite(t *testing.T) {
	t.Parallel()
	needSandbox(t)
	dir := passableDir(t)
	a := bootApp(t, Config{
		Addr: "127.0.0.1:0", GatewayAddr: "127.0.0.1:0", DataDir: dir,
		DatabaseURL: filepath.Join(dir, "seedbed.db"), Domain: "localhost",
		Workers: 4, AdminEmail: adminEmail, AdminPassword: adminPassword,
		BuildTimeout: 5 * time.Minute, BuildEnv: testutil.GoEnv(t), Deploys: true, Builds: true,
		BuildUser: builders.UserAuto, Isolation: "sandbox",
	})
	ctx := context.Background()

	// The admin's app, which nobody else has a role on, and the app the
	// deployer may deploy to.
	victim := testutil.NewRepo(t)
	victim.Commit("v1", map[string]string{"seedbed.yml": staticSite, "site/version.txt": "victim v1\n"})
	if _, err := a.api.CreateApp(ctx, apiv1.CreateAppRequest{Name: "victim", RepoURL: victim.Dir, Branch: "main"}); err != nil {
		t.Fatal(err)
	}
	a.mustDeploy("victim", "dev", "")
	evil := testutil.NewRepo(t)
	evil.Commit("evil", map[string]string{
		"seedbed.yml": stackFile(`      evil:
        handler: bootstrap
        routes: ["GET /read", "GET /list", "GET /dial", "GET /uid", "GET /cookies"]
`),
		"services/api/go.mod":  goMod,
		"services/api/main.go": evilFunction,
	})
	if _, err := a.api.CreateApp(ctx, apiv1.CreateAppRequest{Name: "evil", RepoURL: evil.Dir, Branch: "main"}); err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{
		"stranger": a.userToken("nora@example.com", "evil", ""),
		"viewer":   a.userToken("vic@example.com", "victim", "viewer"),
		"deployer": a.userToken("dee@example.com", "evil", "deployer"),
	}
	// The deployer deploys their own app: that is their right.
	deployer := apiv1.NewClient(a.ConsoleURL(), tokens["deployer"])
	resp, err := deployer.Deploy(ctx, "evil", apiv1.DeployRequest{Stage: "dev"})
	if err != nil {
		t.Fatalf("the deployer deploys their app: %v", err)
	}
	if d := a.waitDeploy(resp.Deploy.ID); d.Status != "succeeded" {
		t.Fatalf("deploy of evil: %s: %s\n%s", d.Status, d.Error, a.logText("build", resp.Build.ID))
	}

	t.Run("requests", func(t *testing.T) {
		tests := []struct {
			name, who, method, path, body string
			want                          int
		}{
			{name: "stranger reads the app", who: "stranger", method: "GET", path: "/api/v1/apps/victim", want: 404},
			{name: "stranger reads the app's builds", who: "stranger", method: "GET", path: "/api/v1/apps/victim/builds", want: 404},
			{name: "stranger deploys", who: "stranger", method: "POST", path: "/api/v1/apps/victim/deploys", body: `{"stage":"dev"}`, want: 404},
			{name: "stranger creates an app", who: "stranger", method: "POST", path: "/api/v1/apps", body: `{"name":"mine"}`, want: 403},
			{name: "stranger creates a user", who: "stranger", method: "POST", path: "/api/v1/users", body: `{"email":"x@example.com","password":"long-enough-1"}`, want: 403},
			{name: "viewer deploys", who: "viewer", method: "POST", path: "/api/v1/apps/victim/deploys", body: `{"stage":"dev"}`, want: 403},
			{name: "viewer sets a variable", who: "viewer", method: "PUT", path: "/api/v1/apps/victim/stages/dev/vars/X", body: `{"value":"y"}`, want: 403},
			{name: "viewer rolls back", who: "viewer", method: "POST", path: "/api/v1/apps/victim/stages/dev/rollback", body: `{}`, want: 403},
			{name: "viewer reads the webhook secret", who: "viewer", method: "GET", path: "/api/v1/apps/victim/webhooks", want: 403},
			{name: "viewer makes themself owner", who: "viewer", method: "PUT", path: "/api/v1/apps/victim/members/vic@example.com", body: `{"role":"owner"}`, want: 403},
			{name: "deployer reads another app", who: "deployer", method: "GET", path: "/api/v1/apps/victim", want: 404},
			{name: "deployer changes app settings", who: "deployer", method: "PUT", path: "/api/v1/apps/evil/settings", body: `{"api_url":"http://127.0.0.1:5432"}`, want: 403},
			{name: "deployer adds a stage", who: "deployer", method: "POST", path: "/api/v1/apps/evil/stages", body: `{"name":"qa"}`, want: 403},
			{name: "deployer points an app at another app's remote", who: "deployer", method: "POST", path: "/api/v1/apps",
				body: fmt.Sprintf(`{"name":"steal","repo_url":%q}`, filepath.Join(dir, "git", "victim.git")), want: 403},
			{name: "deployer points an app at a loopback URL", who: "deployer", method: "POST", path: "/api/v1/apps",
				body: `{"name":"ssrf","repo_url":"http://127.0.0.1:6379/x.git"}`, want: 403},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				code, body := apiCall(t, a.ConsoleURL(), tokens[tt.who], tt.method, tt.path, tt.body, nil)
				if code != tt.want {
					t.Errorf("%s %s as %s = %d, want %d: %s", tt.method, tt.path, tt.who, code, tt.want, body)
				}
			})
		}
		apps, err := a.api.Apps(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(apps) != 2 {
			t.Errorf("the attempts made apps: %+v", apps)
		}
	})

	t.Run("clone without a role", func(t *testing.T) {
		host := strings.TrimPrefix(a.ConsoleURL(), "http://")
		for who, wantOK := range map[string]bool{"stranger": false, "deployer": false, "viewer": true} {
			clone := filepath.Join(t.TempDir(), "clone")
			out, err := gitRun("", "clone", "http://x:"+tokens[who]+"@"+host+"/git/victim.git", clone)
			if (err == nil) != wantOK {
				t.Errorf("%s clones victim: err %v, want success %v\n%s", who, err, wantOK, out)
			}
		}
	})

	t.Run("sign-in limit ignores X-Forwarded-For", func(t *testing.T) {
		var last int
		for i := range 12 {
			body := `{"email":"vic@example.com","password":"wrong"}`
			last, _ = apiCall(t, a.ConsoleURL(), "", "POST", "/api/v1/login", body, map[string]string{"X-Forwarded-For": "203.0.113." + strconv.Itoa(i+1)})
		}
		if last != http.StatusTooManyRequests {
			t.Errorf("the 12th failed sign-in from a new X-Forwarded-For each time = %d, want 429", last)
		}
	})

	t.Run("open redirect after sign-in", func(t *testing.T) {
		for _, next := range []string{"/\t/evil.com", "//evil.com", "/\\evil.com", "https://evil.com", "/%0a/evil.com"} {
			loc := signInWithNext(t, a.ConsoleURL(), next)
			u, err := url.Parse(loc)
			if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.ContainsAny(loc, "\\\t\r\n") {
				t.Errorf("next=%q redirected to %q", next, loc)
			}
		}
	})

	t.Run("console pages cannot be framed", func(t *testing.T) {
		req, _ := http.NewRequest("GET", a.ConsoleURL()+"/login", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") ||
			resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") == "" {
			t.Errorf("console headers: %v", resp.Header)
		}
	})

	t.Run("the function", func(t *testing.T) {
		if code, uid := a.get("/evil/dev/uid"); code != 200 || uid == "0" || uid == fmt.Sprint(os.Getuid()) {
			t.Errorf("the function runs as uid %q (%d), want a user of its app", uid, code)
		}
		console, _ := url.Parse(a.ConsoleURL())
		_, consolePort, _ := net.SplitHostPort(console.Host)
		gateway, _ := url.Parse(a.GatewayURL())
		_, gatewayPort, _ := net.SplitHostPort(gateway.Host)
		for _, try := range []string{
			"/read?p=" + url.QueryEscape(filepath.Join(dir, "secret.key")),
			"/read?p=" + url.QueryEscape(filepath.Join(dir, "seedbed.db")),
			"/read?p=/etc/shadow",
			"/list?p=" + url.QueryEscape(filepath.Join(dir, "artifacts")),
			"/list?p=" + url.QueryEscape(filepath.Join(dir, "git")),
			"/list?p=/root",
			"/read?p=" + url.QueryEscape(fmt.Sprintf("/proc/%d/environ", os.Getpid())),
			"/dial?a=127.0.0.1:" + consolePort,
			"/dial?a=127.0.0.1:" + gatewayPort,
			"/dial?a=127.0.0.1:5432",
			"/dial?a=127.0.0.1:6379",
		} {
			code, body := a.get("/evil/dev" + try)
			if code != 200 || !strings.HasPrefix(body, "refused: ") {
				t.Errorf("GET %s = %d %q, want refused", try, code, body)
			}
		}
		// Its artifact and run dir are mounted at their own paths, so the
		// folders above them show, holding only those mount points: not
		// the database, the key, the artifacts or the victim's copy.
		for _, p := range []string{dir, filepath.Join(dir, "run"), filepath.Join(dir, "run", "artifacts"), filepath.Join(dir, "run", "run")} {
			_, names := a.get("/evil/dev/list?p=" + url.QueryEscape(p))
			for _, name := range strings.Fields(names) {
				if name != "run" && name != "artifacts" && !strings.HasSuffix(name, "-u"+evilUID(t, a)) && !strings.HasPrefix(name, "evil") {
					t.Errorf("the function sees %s in %s (%s)", name, p, names)
				}
			}
			if strings.Count(names, " ") > 1 {
				t.Errorf("the function sees more than its own mount points in %s: %s", p, names)
			}
		}
		// Its own pid namespace: only its own few processes.
		_, procs := a.get("/evil/dev/list?p=/proc")
		for _, name := range strings.Fields(procs) {
			if pid, err := strconv.Atoi(name); err == nil && pid > 16 {
				t.Errorf("the function sees process %d: /proc holds %s", pid, procs)
				break
			}
		}
	})

	t.Run("console cookies stay in the console", func(t *testing.T) {
		req, _ := http.NewRequest("GET", a.GatewayURL()+"/evil/dev/cookies", nil)
		req.Header.Set("Cookie", "seedbed_session=the-admins; __Host-seedbed_csrf=token; theirs=1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "seedbed_") || !strings.Contains(string(b), "theirs=1") {
			t.Errorf("the function was sent %q", b)
		}
		for _, c := range resp.Cookies() {
			if strings.Contains(strings.ToLower(c.Name), "seedbed_") {
				t.Errorf("the function set the console's cookie %s", c.Name)
			}
		}
		if len(resp.Cookies()) != 1 {
			t.Errorf("the function's own cookie should pass: %v", resp.Header.Values("Set-Cookie"))
		}
	})
}

// evilUID is the uid the evil app's function runs as.
func evilUID(t *testing.T, a *testApp) string {
	t.Helper()
	_, uid := a.get("/evil/dev/uid")
	return uid
}

// apiCall sends one request with a bearer token and returns the status
// and body.
func apiCall(t *testing.T, base, token, method, path, body string, headers map[string]string) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = bytes.NewBufferString(body)
	}
	req, err := http.NewRequest(method, base+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// signInWithNext signs in through the console's form with next and
// returns where the console sends the browser.
func signInWithNext(t *testing.T, base, next string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(base + "/login?next=" + url.QueryEscape(next))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	token := csrfFrom(string(page))
	if token == "" {
		t.Fatalf("no CSRF token on the sign-in page:\n%.500s", page)
	}
	form := url.Values{"email": {adminEmail}, "password": {adminPassword}, "next": {next}, "_csrf": {token}}
	req, _ := http.NewRequest("POST", base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in with next=%q answered %d", next, resp.StatusCode)
	}
	return resp.Header.Get("Location")
}

// csrfFrom finds the CSRF token a page's form carries.
func csrfFrom(page string) string {
	for _, marker := range []string{`name="_csrf" value="`} {
		if i := strings.Index(page, marker); i >= 0 {
			rest := page[i+len(marker):]
			return rest[:strings.IndexByte(rest, '"')]
		}
	}
	return ""
}
