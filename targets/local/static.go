package local

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/seedbed/seedbed/gateway"
	"io"
	"mime"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Static functions: the gateway serves the files of the artifact.
//
//   - The file is the part of the path a trailing {name+} parameter of the
//     route matched ("GET /assets/{file+}" serves /assets/app.js from
//     app.js), or the whole path for a route without one ("GET /" serves
//     index.html, "GET /about.html" about.html).
//   - A folder is served by its index.html; a folder asked for without a
//     trailing slash is redirected to it, so relative links work.
//   - A missing file is a 404, with the site's own 404.html when it has one.
//     Nothing outside the artifact is ever served: ".." segments are
//     refused and files are opened through os.Root, which also refuses
//     symbolic links that lead out.
//   - Content-Type comes from the extension (a fixed table for the web's
//     types, then the system's), else from the content.
//   - The ETag is a hash of the content, computed once per file (artifacts
//     never change); If-None-Match answers 304, Range requests work.
//   - Cache-Control: files whose names carry a content hash, as bundlers
//     write them (app.3f2a9c1b.js, index-B_x3kQ1z.js, chunk-5XKJQ2HF.js),
//     are "public, max-age=31536000, immutable"; everything else,
//     HTML always, is "public, max-age=0, must-revalidate", so a deploy
//     shows at once and an unchanged file costs a 304. A hashed name the
//     heuristic misses is merely revalidated.
//   - Only GET and HEAD are answered; there is no directory listing and no
//     single-page-app fallback.

// staticSite is the files one static function serves.
type staticSite struct {
	root *os.Root

	mu    sync.Mutex
	etags map[string]string // by file name within root
}

// openSite opens the folder a static function serves.
func openSite(dir string) (*staticSite, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open the site's files: %w", err)
	}
	return &staticSite{root: root, etags: map[string]string{}}, nil
}

func (s *staticSite) close() { _ = s.root.Close() }

// serve answers a request for the file rt's match names.
func (s *staticSite) serve(w http.ResponseWriter, r *http.Request, c *gateway.Call) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		gateway.PlainError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed: function %s serves files (GET and HEAD)", r.Method, c.Route.Function().Key()))
		return
	}
	name, ok := fileName(c.Route.Tail(c.Segments))
	if !ok {
		s.notFound(w, r)
		return
	}
	fi, err := s.root.Stat(name)
	if err != nil {
		s.notFound(w, r)
		return
	}
	if fi.IsDir() {
		if p := r.URL.EscapedPath(); !strings.HasSuffix(p, "/") {
			// Never "//host": that would lead to another site.
			target := "/" + strings.TrimLeft(p, "/") + "/"
			if r.URL.RawQuery != "" {
				target += "?" + r.URL.RawQuery
			}
			http.Redirect(w, r, target, http.StatusMovedPermanently)
			return
		}
		name = path.Join(name, "index.html")
	}
	s.serveFile(w, r, name, http.StatusOK)
}

// serveFile sends one regular file with its headers; a missing one is a 404.
func (s *staticSite) serveFile(w http.ResponseWriter, r *http.Request, name string, status int) {
	f, err := s.root.Open(name)
	if err != nil {
		s.notFound(w, r)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		s.notFound(w, r)
		return
	}
	etag, err := s.etag(name, f)
	if err != nil {
		gateway.PlainError(w, http.StatusInternalServerError, fmt.Sprintf("read %s: %v", name, err))
		return
	}
	h := w.Header()
	if ct := contentType(name); ct != "" {
		h.Set("Content-Type", ct)
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", cacheControl(name))
	if status != http.StatusOK {
		// A 404 page: no ranges or revalidation.
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			gateway.PlainError(w, http.StatusInternalServerError, fmt.Sprintf("read %s: %v", name, err))
			return
		}
		if h.Get("Content-Type") == "" {
			h.Set("Content-Type", "text/html; charset=utf-8")
		}
		h.Set("Content-Length", strconv.FormatInt(fi.Size(), 10))
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			_, _ = io.Copy(w, f)
		}
		return
	}
	h.Set("ETag", etag)
	http.ServeContent(w, r, name, time.Time{}, f)
}

// notFound answers 404, with the site's 404.html when it has one.
func (s *staticSite) notFound(w http.ResponseWriter, r *http.Request) {
	if fi, err := s.root.Stat("404.html"); err == nil && fi.Mode().IsRegular() {
		f, err := s.root.Open("404.html")
		if err == nil {
			defer f.Close()
			h := w.Header()
			h.Set("Content-Type", "text/html; charset=utf-8")
			h.Set("Cache-Control", cacheControl("404.html"))
			h.Set("Content-Length", strconv.FormatInt(fi.Size(), 10))
			w.WriteHeader(http.StatusNotFound)
			if r.Method != http.MethodHead {
				_, _ = io.Copy(w, f)
			}
			return
		}
	}
	gateway.NotFound(w, "no file for "+r.URL.EscapedPath())
}

// fileName joins decoded path segments into a name inside the site, or
// refuses them: "." and "..", and segments with a slash or a NUL in them
// (an encoded %2F or %00), name nothing.
func fileName(segs []string) (string, bool) {
	for _, s := range segs {
		if s == "." || s == ".." || strings.ContainsAny(s, "/\\\x00") {
			return "", false
		}
	}
	if len(segs) == 0 {
		return ".", true
	}
	return strings.Join(segs, "/"), true
}

// etag returns the file's ETag, hashing it the first time.
func (s *staticSite) etag(name string, f *os.File) (string, error) {
	s.mu.Lock()
	tag, ok := s.etags[name]
	s.mu.Unlock()
	if ok {
		return tag, nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	tag = `"` + hex.EncodeToString(h.Sum(nil)[:16]) + `"`
	s.mu.Lock()
	s.etags[name] = tag
	s.mu.Unlock()
	return tag, nil
}

// contentType returns the media type of a file by its extension, or ""
// when unknown (ServeContent then looks at the content).
func contentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	switch ext {
	case ".html", ".htm":
		return "text/html; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".js", ".mjs", ".cjs":
		return "text/javascript; charset=utf-8"
	case ".json", ".map":
		return "application/json"
	case ".webmanifest":
		return "application/manifest+json"
	case ".txt":
		return "text/plain; charset=utf-8"
	case ".md":
		return "text/markdown; charset=utf-8"
	case ".csv":
		return "text/csv; charset=utf-8"
	case ".xml":
		return "application/xml"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	case ".jpg", ".jpeg":
		return "image/jpeg"
	case ".gif":
		return "image/gif"
	case ".webp":
		return "image/webp"
	case ".avif":
		return "image/avif"
	case ".ico":
		return "image/x-icon"
	case ".woff":
		return "font/woff"
	case ".woff2":
		return "font/woff2"
	case ".ttf":
		return "font/ttf"
	case ".otf":
		return "font/otf"
	case ".wasm":
		return "application/wasm"
	case ".pdf":
		return "application/pdf"
	case ".mp4":
		return "video/mp4"
	case ".webm":
		return "video/webm"
	case ".mp3":
		return "audio/mpeg"
	case ".zip":
		return "application/zip"
	case "":
		return ""
	}
	return mime.TypeByExtension(ext)
}

// cacheControl says how long browsers and proxies may keep a file; see
// the comment at the top of this file.
func cacheControl(name string) string {
	if ext := strings.ToLower(path.Ext(name)); ext != ".html" && ext != ".htm" && looksHashed(name) {
		return "public, max-age=31536000, immutable"
	}
	return "public, max-age=0, must-revalidate"
}

// looksHashed reports whether a file name carries a content hash the way
// bundlers write one: a part after a "." or "-" of the name (extension
// aside) that is 8 or more hex digits with both digits and letters
// (webpack, parcel), or exactly 8 characters of base64url with digits and
// both cases (vite, rollup) or of upper-case base32 with digits (esbuild).
func looksHashed(name string) bool {
	base := path.Base(name)
	stem := strings.TrimSuffix(base, path.Ext(base))
	parts := strings.Split(stem, ".")
	for i, part := range parts {
		if i > 0 && isHashToken(part) {
			return true
		}
		if j := strings.LastIndexByte(part, '-'); j >= 0 && isHashToken(part[j+1:]) {
			return true
		}
		// A base64url hash may hold "-" itself: "index-B_x-3kQ1".
		if n := len(part); n > 9 && part[n-9] == '-' && isHashToken(part[n-8:]) {
			return true
		}
	}
	return false
}

// isHashToken reports whether s looks like a content hash; see looksHashed.
func isHashToken(s string) bool {
	var digits, hexLetters, lower, upper int
	base32 := true
	for _, c := range s {
		switch {
		case '0' <= c && c <= '9':
			digits++
			base32 = base32 && '2' <= c && c <= '7'
		case 'a' <= c && c <= 'z':
			lower++
			base32 = false
			if c <= 'f' {
				hexLetters++
			}
		case 'A' <= c && c <= 'Z':
			upper++
		case c == '-' || c == '_':
			base32 = false
		default:
			return false
		}
	}
	n := len(s)
	switch {
	case n >= 8 && digits > 0 && hexLetters > 0 && digits+hexLetters == n:
		return true // hex
	case n == 8 && digits > 0 && upper > 0 && base32:
		return true // upper-case base32
	case n == 8 && digits > 0 && lower > 0 && upper > 0:
		return true // base64url
	}
	return false
}
