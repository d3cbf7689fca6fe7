package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/seedbed/seedbed/assets"
	"github.com/seedbed/seedbed/fnlog"
	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
	"github.com/seedbed/seedbed/web"
	"github.com/seedbed/seedbed/web/apiv1"
)

// logsFixture is a server with a real function log holding a few lines of
// shop/dev, a viewer of shop and a user with no role on it.
type logsFixture struct {
	*fixture
	logs             *fnlog.Store
	viewer, stranger string // API tokens
	viewerBrowser    *http.Client
	viewerID, shopID uint
}

func setupLogs(t *testing.T) *logsFixture {
	t.Helper()
	logs, err := fnlog.Open(fnlog.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logs.Close() })
	f := setupWith(t, func(c *web.Config) {
		c.FunctionLogs, c.StreamRecheck, c.Assets = logs, 100*time.Millisecond, assets.FS()
	})
	lf := &logsFixture{fixture: f, logs: logs}
	ctx := context.Background()
	app, err := f.store.AppByName(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	lf.shopID = app.ID
	for _, who := range []string{"viewer", "stranger"} {
		u, err := f.accounts.CreateUser(ctx, who+"@example.com", "correct-horse", false, false)
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := f.accounts.NewToken(ctx, u, "test")
		if err != nil {
			t.Fatal(err)
		}
		if who == "viewer" {
			if err := f.store.SetMember(ctx, app.ID, u.ID, store.RoleViewer); err != nil {
				t.Fatal(err)
			}
			lf.viewer, lf.viewerID = tok, u.ID
			lf.viewerBrowser, _ = f.signInAs(t, "viewer@example.com", "correct-horse")
		} else {
			lf.stranger = tok
		}
	}
	// dev serves api/hello and jobs/worker, which the filter form offers.
	dev, err := f.store.StageByName(ctx, app.ID, "dev")
	if err != nil {
		t.Fatal(err)
	}
	b := store.Build{AppID: app.ID, Ref: "main", Status: store.BuildSucceeded, TriggerKind: "api"}
	if err := f.store.CreateBuild(ctx, &b); err != nil {
		t.Fatal(err)
	}
	manifest, err := json.Marshal(pipelines.Manifest{App: "shop", BuildID: b.ID, Functions: []targets.Function{
		{Service: "api", Name: "hello", Runtime: "go", Digest: "sha256:" + strings.Repeat("ab", 32)},
		{Service: "jobs", Name: "worker", Runtime: "go", Digest: "sha256:" + strings.Repeat("cd", 32)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	rel := store.Release{AppID: app.ID, BuildID: b.ID, Manifest: string(manifest)}
	if err := f.store.CreateRelease(ctx, &rel); err != nil {
		t.Fatal(err)
	}
	d := store.Deploy{AppID: app.ID, StageID: dev.ID, ReleaseID: &rel.ID, Status: store.DeploySucceeded, TriggerKind: "api"}
	if err := f.store.CreateDeploy(ctx, &d); err != nil {
		t.Fatal(err)
	}
	if err := f.store.SetStageLive(ctx, dev.ID, rel.ID, d.ID); err != nil {
		t.Fatal(err)
	}

	src := fnlog.Source{App: "shop", Stage: "dev", Function: "api/hello", Instance: "1234", Release: 3}
	now := time.Now()
	if err := logs.Append(src, []fnlog.Entry{
		{Time: now.Add(-2 * time.Hour), Stream: fnlog.StreamStdout, Text: "an old line"},
		{Time: now.Add(-time.Minute), Stream: fnlog.StreamStdout, Text: "listening on :8080"},
		{Time: now.Add(-time.Minute), Stream: fnlog.StreamStderr, Text: "ERROR: <script>alert(1)</script> failed"},
	}); err != nil {
		t.Fatal(err)
	}
	other := fnlog.Source{App: "shop", Stage: "dev", Function: "jobs/worker", Instance: "99", Release: 3}
	if err := logs.Append(other, []fnlog.Entry{{Time: now, Stream: fnlog.StreamStdout, Text: "WARN: queue is long"}}); err != nil {
		t.Fatal(err)
	}
	return lf
}

func decodeLogPage(t *testing.T, resp *http.Response) apiv1.FunctionLogPage {
	t.Helper()
	var p apiv1.FunctionLogPage
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFunctionLogsAPI(t *testing.T) {
	lf := setupLogs(t)
	tests := []struct {
		name   string
		token  string
		path   string
		status int
		want   []string // texts, in order
		inBody string   // for refusals
	}{
		{name: "admin, everything kept", token: lf.token, path: "/api/v1/apps/shop/stages/dev/logs", status: 200,
			want: []string{"an old line", "listening on :8080", "ERROR: <script>alert(1)</script> failed", "WARN: queue is long"}},
		{name: "viewer reads them", token: lf.viewer, path: "/api/v1/apps/shop/stages/dev/logs?since=1h", status: 200,
			want: []string{"listening on :8080", "ERROR: <script>alert(1)</script> failed", "WARN: queue is long"}},
		{name: "one function", token: lf.viewer, path: "/api/v1/apps/shop/stages/dev/logs?function=jobs/worker", status: 200,
			want: []string{"WARN: queue is long"}},
		{name: "grep and limit", token: lf.viewer, path: "/api/v1/apps/shop/stages/dev/logs?grep=line&limit=1", status: 200,
			want: []string{"an old line"}},
		{name: "until", token: lf.viewer, path: "/api/v1/apps/shop/stages/dev/logs?until=30m", status: 200,
			want: []string{"an old line"}},
		{name: "stranger", token: lf.stranger, path: "/api/v1/apps/shop/stages/dev/logs", status: 404, inBody: "No app named"},
		{name: "stranger's stream", token: lf.stranger, path: "/api/v1/apps/shop/stages/dev/logs/events", status: 404, inBody: "No app named"},
		{name: "no such stage", token: lf.token, path: "/api/v1/apps/shop/stages/nope/logs", status: 404, inBody: `no stage \"nope\"`},
		{name: "bad since", token: lf.token, path: "/api/v1/apps/shop/stages/dev/logs?since=yesterday", status: 422, inBody: "since must be a duration back from now"},
		{name: "bad limit", token: lf.token, path: "/api/v1/apps/shop/stages/dev/logs?limit=0", status: 422, inBody: "limit must be a whole number from 1 to 10000"},
		{name: "range backwards", token: lf.token, path: "/api/v1/apps/shop/stages/dev/logs?since=1h&until=2h", status: 422, inBody: "until is before since"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := apiGet(t, lf.srv.URL, tt.token, tt.path)
			if resp.StatusCode != tt.status {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			if tt.status != 200 {
				b, _ := io.ReadAll(resp.Body)
				if !strings.Contains(string(b), tt.inBody) || strings.Contains(string(b), "listening") {
					t.Errorf("body %s, want %q and no line", b, tt.inBody)
				}
				return
			}
			p := decodeLogPage(t, resp)
			var got []string
			for _, l := range p.Lines {
				got = append(got, l.Text)
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("lines %q, want %q", got, tt.want)
			}
			if p.Cursor == "" {
				t.Error("no cursor to follow from")
			}
		})
	}
	p := decodeLogPage(t, apiGet(t, lf.srv.URL, lf.token, "/api/v1/apps/shop/stages/dev/logs?grep=ERROR"))
	if l := p.Lines[0]; l.Function != "api/hello" || l.Instance != "1234" || l.Release != 3 || l.Stream != "stderr" || l.Level != "error" {
		t.Errorf("line = %+v", l)
	}
}

// The live stream sends new lines (from the API and to the console), and
// ends when the reader loses their role.
func TestFunctionLogEvents(t *testing.T) {
	lf := setupLogs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := decodeLogPage(t, apiGet(t, lf.srv.URL, lf.viewer, "/api/v1/apps/shop/stages/dev/logs"))

	open := func(c *http.Client, u string, header http.Header) (*bufio.Scanner, func()) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("GET %s: %d %s", u, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		return bufio.NewScanner(resp.Body), func() { resp.Body.Close() }
	}
	// next reads the next line event's data.
	next := func(sc *bufio.Scanner) (map[string]any, bool) {
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var m map[string]any
				if err := json.Unmarshal([]byte(data), &m); err != nil {
					t.Fatal(err)
				}
				return m, true
			}
		}
		return nil, false
	}

	api, closeAPI := open(http.DefaultClient, lf.srv.URL+"/api/v1/apps/shop/stages/dev/logs/events?grep=new&cursor="+start.Cursor,
		http.Header{"Authorization": {"Bearer " + lf.viewer}})
	defer closeAPI()
	console, closeConsole := open(lf.viewerBrowser, lf.srv.URL+"/apps/shop/stages/dev/logs/events?function=api%2Fhello", nil)
	defer closeConsole()
	time.Sleep(200 * time.Millisecond) // the console's stream starts at the end of the log as it opens
	src := fnlog.Source{App: "shop", Stage: "dev", Function: "api/hello", Instance: "1234", Release: 3}
	if err := lf.logs.Append(src, []fnlog.Entry{{Stream: fnlog.StreamStdout, Text: "skip me"}, {Stream: fnlog.StreamStderr, Text: "a new <b>line</b>"}}); err != nil {
		t.Fatal(err)
	}
	if m, ok := next(api); !ok || m["text"] != "a new <b>line</b>" || m["level"] != "error" || m["cursor"] == "" {
		t.Errorf("API stream sent %v", m)
	}
	m, ok := next(console)
	if !ok || m["text"] != "skip me" {
		t.Errorf("console stream sent %v, want the first new line", m)
	}
	if m, _ = next(console); !strings.Contains(m["html"].(string), "a new &lt;b&gt;line&lt;/b&gt;") {
		t.Errorf("console stream html %q is not escaped", m["html"])
	}

	// The viewer is removed from the app: both streams end.
	if err := lf.store.RemoveMember(context.Background(), lf.shopID, lf.viewerID); err != nil {
		t.Fatal(err)
	}
	for name, sc := range map[string]*bufio.Scanner{"API": api, "console": console} {
		ended := make(chan struct{})
		go func() {
			for sc.Scan() {
			}
			close(ended)
		}()
		select {
		case <-ended:
		case <-time.After(10 * time.Second):
			t.Errorf("the %s stream went on after the viewer lost their role", name)
		}
	}
}

func TestFunctionLogsPage(t *testing.T) {
	lf := setupLogs(t)
	body := getPage(t, lf.viewerBrowser, lf.srv.URL+"/apps/shop/stages/dev/logs")
	for _, want := range []string{
		`data-testid="function-log"`, "listening on :8080", "ERROR: &lt;script&gt;alert(1)&lt;/script&gt; failed",
		`class="line stream-stderr level-error"`, `class="line stream-stdout level-warn"`,
		`data-stream-url="/apps/shop/stages/dev/logs/events?cursor=`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "an old line") || strings.Contains(body, "<script>alert") {
		t.Error("the page shows lines older than its default hour, or unescaped text")
	}
	body = getPage(t, lf.viewerBrowser, lf.srv.URL+"/apps/shop/stages/dev/logs?function=jobs%2Fworker&since=&grep=queue")
	if !strings.Contains(body, "WARN: queue is long") || strings.Contains(body, "listening on") || !strings.Contains(body, `data-testid="logs-function">jobs/worker`) {
		t.Errorf("the per-function view:\n%s", body)
	}
}
