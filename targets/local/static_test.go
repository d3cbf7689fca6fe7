package local

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/targets"
)

// staticFn describes the static test site (testdata/static).
func staticFn(name string, routes ...string) targets.Function {
	fn := targets.Function{Service: "web", Name: name, Runtime: "static", Digest: digest("static")}
	for _, r := range routes {
		method, path, _ := strings.Cut(r, " ")
		fn.Routes = append(fn.Routes, stack.Route{Method: method, Path: path})
	}
	return fn
}

func TestStaticSite(t *testing.T) {
	b := setup(t, withTrees)
	// A file beside the unpacked artifacts, which no request may reach.
	if err := os.WriteFile(filepath.Join(b.dir, "artifacts", "secret.txt"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	log := b.apply(t, shopDev,
		staticFn("site", "GET /", "GET /{file+}"),
		staticFn("files", "ANY /files/{path+}"),
	)
	if !strings.Contains(log.String(), "serving web/site ("+shortDigest(digest("static"))+") as static files") {
		t.Errorf("apply log:\n%s", log)
	}
	if n := runDirs(t, b); n != 0 {
		t.Errorf("%d run dirs for static functions, want none", n)
	}
	// The link the traversal tests try really leads to the secret.
	hex, _ := artifactHex(digest("static"))
	if got, err := os.ReadFile(filepath.Join(b.dir, "artifacts", hex, "escape", "secret.txt")); err != nil || string(got) != "secret" {
		t.Fatalf("the escape link does not lead to the secret: %q, %v", got, err)
	}
	const (
		revalidate = "public, max-age=0, must-revalidate"
		immutable  = "public, max-age=31536000, immutable"
	)
	tests := []struct {
		name         string
		method       string
		path         string
		header       http.Header
		wantStatus   int
		wantType     string
		wantCache    string
		wantBody     string // a part of it
		wantLocation string
		wantAllow    string
	}{
		{name: "root is index.html", path: "/shop/dev/", wantStatus: 200, wantType: "text/html; charset=utf-8", wantCache: revalidate, wantBody: "<h1>home</h1>"},
		{name: "stage root without slash redirects", path: "/shop/dev", wantStatus: 301, wantLocation: "/shop/dev/"},
		{name: "css", path: "/shop/dev/style.css", wantStatus: 200, wantType: "text/css; charset=utf-8", wantCache: revalidate, wantBody: "color: green"},
		{name: "hashed js is immutable", path: "/shop/dev/assets/app.3f2a9c1b.js", wantStatus: 200, wantType: "text/javascript; charset=utf-8", wantCache: immutable, wantBody: "hashed"},
		{name: "plain js is revalidated", path: "/shop/dev/assets/app.js", wantStatus: 200, wantType: "text/javascript; charset=utf-8", wantCache: revalidate},
		{name: "svg", path: "/shop/dev/logo.svg", wantStatus: 200, wantType: "image/svg+xml", wantBody: "<svg"},
		{name: "json", path: "/shop/dev/data.json", wantStatus: 200, wantType: "application/json", wantBody: `{"ok":true}`},
		{name: "no extension is sniffed", path: "/shop/dev/LICENSE", wantStatus: 200, wantType: "text/plain; charset=utf-8", wantBody: "no extension"},
		{name: "folder without slash redirects", path: "/shop/dev/docs?x=1", wantStatus: 301, wantLocation: "/shop/dev/docs/?x=1"},
		{name: "folder index", path: "/shop/dev/docs/", wantStatus: 200, wantType: "text/html; charset=utf-8", wantBody: "<h1>docs</h1>"},
		{name: "index.html by name", path: "/shop/dev/docs/index.html", wantStatus: 200, wantBody: "<h1>docs</h1>"},
		{name: "head", method: "HEAD", path: "/shop/dev/style.css", wantStatus: 200, wantType: "text/css; charset=utf-8"},
		{name: "missing file serves 404.html", path: "/shop/dev/nope.txt", wantStatus: 404, wantType: "text/html; charset=utf-8", wantBody: "nothing here"},
		{name: "missing folder", path: "/shop/dev/a/b/c/", wantStatus: 404, wantBody: "nothing here"},
		{name: "mounted under a prefix", path: "/shop/dev/files/assets/app.js", wantStatus: 200, wantBody: "plain"},
		{name: "prefix is not part of the file", path: "/shop/dev/files/files/app.js", wantStatus: 404},
		{name: "other methods", method: "POST", path: "/shop/dev/files/style.css", wantStatus: 405, wantAllow: "GET, HEAD"},
		{name: "encoded dot dot", path: "/shop/dev/%2e%2e/secret.txt", wantStatus: 404},
		{name: "encoded slash", path: "/shop/dev/..%2Fsecret.txt", wantStatus: 404},
		{name: "encoded slash in a folder", path: "/shop/dev/docs%2F..%2F..%2Fsecret.txt", wantStatus: 404},
		{name: "symbolic link out of the site", path: "/shop/dev/escape/secret.txt", wantStatus: 404},
		{name: "nul", path: "/shop/dev/style.css%00.html", wantStatus: 404},
		{name: "range", path: "/shop/dev/style.css", header: http.Header{"Range": {"bytes=0-3"}}, wantStatus: 206, wantBody: "body"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), cmpOr(tc.method, "GET"), b.server.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, vs := range tc.header {
				req.Header[k] = vs
			}
			client := *b.client
			client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body strings.Builder
			if _, err := io.Copy(&body, resp.Body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d; body: %s", resp.StatusCode, tc.wantStatus, body.String())
			}
			if tc.wantType != "" && resp.Header.Get("Content-Type") != tc.wantType {
				t.Errorf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), tc.wantType)
			}
			if tc.wantCache != "" && resp.Header.Get("Cache-Control") != tc.wantCache {
				t.Errorf("Cache-Control %q, want %q", resp.Header.Get("Cache-Control"), tc.wantCache)
			}
			if !strings.Contains(body.String(), tc.wantBody) {
				t.Errorf("body %q lacks %q", body.String(), tc.wantBody)
			}
			if strings.Contains(body.String(), "secret") {
				t.Errorf("a file outside the site was served: %q", body.String())
			}
			if got := resp.Header.Get("Location"); got != tc.wantLocation {
				t.Errorf("Location %q, want %q", got, tc.wantLocation)
			}
			if got := resp.Header.Get("Allow"); got != tc.wantAllow {
				t.Errorf("Allow %q, want %q", got, tc.wantAllow)
			}
			if tc.method == "HEAD" && body.Len() != 0 {
				t.Errorf("HEAD answered a body: %q", body.String())
			}
		})
	}

	t.Run("etag", func(t *testing.T) {
		first := b.call(t, call{path: "/shop/dev/style.css"})
		etag := first.header.Get("ETag")
		if len(etag) != 34 || !strings.HasPrefix(etag, `"`) {
			t.Fatalf("ETag %q, want a quoted content hash", etag)
		}
		if other := b.call(t, call{path: "/shop/dev/data.json"}).header.Get("ETag"); other == etag || other == "" {
			t.Errorf("data.json has ETag %q, style.css %q; want two different ones", other, etag)
		}
		if again := b.call(t, call{path: "/shop/dev/files/style.css"}).header.Get("ETag"); again != etag {
			t.Errorf("the same file through another function has ETag %q, want %q", again, etag)
		}
		notModified := b.call(t, call{path: "/shop/dev/style.css", header: http.Header{"If-None-Match": {etag}}})
		if notModified.status != http.StatusNotModified || len(notModified.body) != 0 {
			t.Errorf("If-None-Match with the ETag: %d %q, want 304 without a body", notModified.status, notModified.body)
		}
		if notModified.header.Get("ETag") != etag || notModified.header.Get("Cache-Control") != revalidate {
			t.Errorf("the 304 lacks the ETag or Cache-Control: %v", notModified.header)
		}
		changed := b.call(t, call{path: "/shop/dev/style.css", header: http.Header{"If-None-Match": {`"something-else"`}}})
		if changed.status != http.StatusOK || !strings.Contains(string(changed.body), "color: green") {
			t.Errorf("If-None-Match with another ETag: %d %q, want 200 with the file", changed.status, changed.body)
		}
	})

	t.Run("stops with the stage", func(t *testing.T) {
		if err := b.target.Remove(t.Context(), shopDev); err != nil {
			t.Fatal(err)
		}
		if a := b.call(t, call{path: "/shop/dev/style.css"}); a.status != http.StatusNotFound || !strings.Contains(string(a.body), "not deployed") {
			t.Errorf("after Remove: %d %q", a.status, a.body)
		}
	})
}

func TestLooksHashed(t *testing.T) {
	for name, want := range map[string]bool{
		"app.3f2a9c1b.js":                true,  // webpack [contenthash:8]
		"main.3f2a9c1b8e7d6c5b.chunk.js": true,  // webpack chunk
		"framework-0c7baedefba6b077.js":  true,  // next.js
		"index-B_x3kQ1z.js":              true,  // vite
		"index-B_x-3kQ1.js":              true,  // vite, a "-" in the hash
		"chunk-5XKJQ2HF.js":              true,  // esbuild
		"assets/logo.a1b2c3d4.svg":       true,  // in a folder
		"app.js":                         false, // no hash
		"my-component-v2backup.js":       false, // words
		"report-20240101.pdf":            false, // a date
		"jquery-3.7.1.min.js":            false, // a version
		"deadbeef.js":                    false, // the name itself, no separator
		"index.html":                     false,
		"style-abcdefgh.css":             false, // letters only
		"README-ABCDEFGH.md":             false, // letters only
		"photo-IMG_2024.jpg":             false, // 8 characters, one case
	} {
		if got := looksHashed(name); got != want {
			t.Errorf("looksHashed(%q) = %v, want %v", name, got, want)
		}
	}
	if got := cacheControl("index.3f2a9c1b.html"); got != "public, max-age=0, must-revalidate" {
		t.Errorf("HTML with a hash: %q, want it revalidated", got)
	}
}
