package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web/apiv1"
)

// testdataFiles reads every file under dir as path (slash-separated,
// relative to dir) → content, ready for testutil.Repo.Commit.
func testdataFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// lambdaEcho is what the Lambda-style handlers of testdata/runtimes answer.
type lambdaEcho struct {
	Runtime         string            `json:"runtime"`
	Method          string            `json:"method"`
	RawPath         string            `json:"rawPath"`
	RawQueryString  string            `json:"rawQueryString"`
	Query           map[string]string `json:"query"`
	Header          string            `json:"header"`
	Cookies         []string          `json:"cookies"`
	Body            string            `json:"body"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
	RequestID       string            `json:"requestId"`
}

// TestRuntimesEndToEnd builds one app with a service per runtime
// (testdata/runtimes), deploys it in one deploy and calls every function
// through the gateway: HTTP functions in Node and Python, Lambda-style
// handlers in Node (JavaScript and TypeScript), Python and Go, and a
// static site made by a build command.
func TestRuntimesEndToEnd(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"node", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			testutil.Unavailable(t, tool, err)
		}
	}
	a := startApp(t, embedded)
	repo := testutil.NewRepo(t)
	repo.Commit("one service per runtime", testdataFiles(t, "testdata/runtimes"))
	if _, err := a.api.CreateApp(context.Background(), apiv1.CreateAppRequest{Name: "rt", RepoURL: repo.Dir, Branch: "main"}); err != nil {
		t.Fatalf("create app: %v", err)
	}
	d := a.mustDeploy("rt", "dev", "")
	if d.ChangeSet == nil || len(d.ChangeSet.Functions) != 7 {
		t.Fatalf("change set = %+v, want 7 added functions", d.ChangeSet)
	}

	t.Run("http", func(t *testing.T) {
		for path, want := range map[string]string{
			"/rt/dev/node-http": "hello from node /node-http\n",
			"/rt/dev/py-http":   "hello from python /py-http\n",
		} {
			if code, body := a.get(path); code != 200 || body != want {
				t.Errorf("GET %s = %d %q, want 200 %q", path, code, body, want)
			}
		}
	})

	t.Run("static", func(t *testing.T) {
		for path, want := range map[string]string{
			"/rt/dev/site/index.html":   "<h1>hello from a static site</h1>",
			"/rt/dev/site/build.txt":    "built by site",
			"/rt/dev/site/css/site.css": "",
		} {
			resp := send(t, http.MethodGet, a.gateway+path, nil, nil)
			if resp.status != 200 || !strings.Contains(string(resp.body), want) {
				t.Errorf("GET %s = %d %q, want 200 with %q", path, resp.status, resp.body, want)
			}
			if path == "/rt/dev/site/css/site.css" && !strings.HasPrefix(resp.header.Get("Content-Type"), "text/css") {
				t.Errorf("GET %s: Content-Type %q, want text/css", path, resp.header.Get("Content-Type"))
			}
			if resp.header.Get("ETag") == "" {
				t.Errorf("GET %s: no ETag", path)
			}
		}
	})

	for _, fn := range []string{"node-js", "node-ts", "py-lambda", "go-lambda"} {
		t.Run(fn, func(t *testing.T) {
			base := a.gateway + "/rt/dev/" + fn
			runtime := map[string]string{"node-js": "node-js", "node-ts": "node-ts", "py-lambda": "python", "go-lambda": "go"}[fn]

			// A query string, a header, cookies and a JSON body.
			hdr := http.Header{"X-Test": {"hello header"}, "Cookie": {"a=1; b=two"}, "Content-Type": {"application/json"}}
			resp := send(t, http.MethodPost, base+"/items/7?q=seed&n=2", hdr, []byte(`{"name":"ada","n":1}`))
			if resp.status != 200 {
				t.Fatalf("POST = %d %q, want 200", resp.status, resp.body)
			}
			var e lambdaEcho
			if err := json.Unmarshal(resp.body, &e); err != nil {
				t.Fatalf("decode %q: %v", resp.body, err)
			}
			want := lambdaEcho{Runtime: runtime, Method: "POST", RawPath: "/" + fn + "/items/7", RawQueryString: "q=seed&n=2",
				Query: map[string]string{"q": "seed", "n": "2"}, Header: "hello header", Cookies: []string{"a=1", "b=two"},
				Body: `{"name":"ada","n":1}`, RequestID: e.RequestID}
			if e.RequestID == "" || !equalEcho(e, want) {
				t.Errorf("event seen by the handler = %+v\nwant %+v", e, want)
			}
			if got := resp.header.Get("X-Runtime"); got != runtime {
				t.Errorf("X-Runtime = %q, want %q", got, runtime)
			}
			if got := resp.header.Values("Set-Cookie"); !slices.Equal(got, []string{"session=abc; Path=/; HttpOnly", "theme=dark"}) {
				t.Errorf("Set-Cookie = %q", got)
			}

			// A binary body goes in base64-encoded and comes back as bytes.
			in := []byte{0x00, 0xff, 0x10, 0x80, 'x', 0xc3}
			resp = send(t, http.MethodPost, base+"/binary", http.Header{"Content-Type": {"application/octet-stream"}}, in)
			rev := slices.Clone(in)
			slices.Reverse(rev)
			if resp.status != 200 || !bytes.Equal(resp.body, rev) {
				t.Errorf("POST binary = %d %x, want 200 %x", resp.status, resp.body, rev)
			}

			// A handler that throws is a 502; the error is in the log.
			resp = send(t, http.MethodGet, base+"/fail", nil, nil)
			if resp.status != http.StatusBadGateway {
				t.Errorf("GET fail = %d %q, want 502", resp.status, resp.body)
			}
			if strings.Contains(string(resp.body), "boom") {
				t.Errorf("the 502 shows the handler's error to the caller: %q", resp.body)
			}
		})
	}
}

func equalEcho(a, b lambdaEcho) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// sent is a gateway's answer.
type sent struct {
	status int
	header http.Header
	body   []byte
}

func send(t *testing.T, method, url string, header http.Header, body []byte) sent {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return sent{status: resp.StatusCode, header: resp.Header, body: b}
}
