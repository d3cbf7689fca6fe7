package gitremote

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// maxFetchRequestBytes bounds a fetch negotiation request after
// decompression: the wants and haves of even a big repository are far
// smaller, and it stops a gzip bomb.
const maxFetchRequestBytes = 64 << 20

// advertise answers GET info/refs?service=...: the refs and capabilities the
// client starts a fetch or push with.
func (s *Server) advertise(q *request) {
	svc := q.r.URL.Query().Get("service")
	if svc != actionUploadPack && svc != actionReceivePack {
		textError(q.w, http.StatusForbidden, "Seedbed serves git's smart HTTP protocol only; use git 1.6.6 or later.")
		return
	}
	name := strings.TrimPrefix(svc, "git-")
	proto := protocolEnv(q.r)
	out, err := s.git(q.r.Context(), q.dir, proto, name, "--stateless-rpc", "--advertise-refs", q.dir).Output()
	if err != nil {
		s.log.Error("git remote: advertise refs", "app", q.app, "service", svc, "err", gitError(err))
		textError(q.w, http.StatusInternalServerError, "Seedbed could not read the app's repository; see the server log.")
		return
	}
	h := q.w.Header()
	noCache(h)
	h.Set("Content-Type", "application/x-"+svc+"-advertisement")
	q.w.WriteHeader(http.StatusOK)
	// Protocol v2 starts with its own capability advertisement instead of
	// the service line; git http-backend makes the same choice.
	if !(svc == actionUploadPack && wantsV2(proto)) {
		var pre bytes.Buffer
		writePkt(&pre, "# service="+svc+"\n")
		pre.WriteString("0000")
		_, _ = q.w.Write(pre.Bytes())
	}
	_, _ = q.w.Write(out)
	s.log.Debug("git remote: advertised refs", "app", q.app, "user", q.user, "service", svc, "protocol", strings.Join(proto, " "))
}

// uploadPack answers POST git-upload-pack: one round of fetch negotiation,
// or the pack.
func (s *Server) uploadPack(q *request) {
	if !checkContentType(q, actionUploadPack) {
		return
	}
	body, err := requestBody(q.r, maxFetchRequestBytes)
	if err != nil {
		textError(q.w, http.StatusBadRequest, err.Error())
		return
	}
	defer body.Close() //nolint:errcheck // read-only
	// git may answer before it has read the whole request; the body is
	// still being read while the answer is written.
	_ = q.rc.EnableFullDuplex()
	ctx, cancel := context.WithCancel(q.r.Context())
	defer cancel()
	proto := protocolEnv(q.r)
	cmd := s.git(ctx, q.dir, proto, "upload-pack", "--stateless-rpc", q.dir)
	cmd.Stdin = body
	var stderr tailBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		s.log.Error("git remote: start upload-pack", "app", q.app, "err", err)
		textError(q.w, http.StatusInternalServerError, "Seedbed could not start git; see the server log.")
		return
	}
	h := q.w.Header()
	noCache(h)
	h.Set("Content-Type", "application/x-git-upload-pack-result")
	q.w.WriteHeader(http.StatusOK)
	sent, copyErr := stream(q.w, q.rc, stdout)
	if copyErr != nil {
		cancel()
	}
	waitErr := cmd.Wait()
	level, msg := levelOf(q.r.Context(), copyErr, waitErr)
	s.log.Log(q.r.Context(), level, "git remote: "+msg+"fetch", "app", q.app, "user", q.user,
		"sent", sent, "encoding", q.r.Header.Get("Content-Encoding"), "protocol", strings.Join(proto, " "),
		"duration", time.Since(q.start).Round(time.Millisecond), "err", errors.Join(copyErr, waitErr), "stderr", stderr.String())
}

// checkContentType answers 415 unless the request is the given service's.
func checkContentType(q *request, svc string) bool {
	if ct := q.r.Header.Get("Content-Type"); ct != "application/x-"+svc+"-request" {
		textError(q.w, http.StatusUnsupportedMediaType, fmt.Sprintf("Expected Content-Type application/x-%s-request, not %q.", svc, ct))
		return false
	}
	return true
}

// requestBody is the request body, decompressed when git gzipped it, and
// failing once more than limit bytes have been read.
func requestBody(r *http.Request, limit int64) (io.ReadCloser, error) {
	var body io.ReadCloser = r.Body
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, fmt.Errorf("read gzip request body: %w", err)
		}
		body = zr
	default:
		return nil, fmt.Errorf("unsupported Content-Encoding %q", enc)
	}
	return &limitedBody{r: body, left: limit}, nil
}

// errBodyTooLarge is returned by a limitedBody that has reached its limit.
var errBodyTooLarge = errors.New("request body too large")

// limitedBody reads at most left bytes, then fails with errBodyTooLarge.
type limitedBody struct {
	r    io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells "exactly at the limit" from "over it".
		var one [1]byte
		n, err := b.r.Read(one[:])
		if n > 0 {
			return 0, errBodyTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.r.Close() }

// protocolEnv passes the Git-Protocol header (e.g. "version=2") on to git,
// as git http-backend does, when it has the shape git gives it.
func protocolEnv(r *http.Request) []string {
	p := r.Header.Get("Git-Protocol")
	if p == "" || len(p) > 256 {
		return nil
	}
	for _, c := range []byte(p) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("=:.,_-", c) >= 0) {
			return nil
		}
	}
	return []string{"GIT_PROTOCOL=" + p}
}

// wantsV2 reports whether env asks for protocol version 2.
func wantsV2(env []string) bool {
	for _, kv := range env {
		if p, ok := strings.CutPrefix(kv, "GIT_PROTOCOL="); ok {
			for _, item := range strings.Split(p, ":") {
				if item == "version=2" {
					return true
				}
			}
		}
	}
	return false
}

// errClientGone marks a failure to write to the client.
var errClientGone = errors.New("write to client")

// stream copies git's output to the client, flushing after every read so
// that progress reaches the client as git writes it.
func stream(w http.ResponseWriter, rc *http.ResponseController, r io.Reader) (int64, error) {
	buf := make([]byte, 64<<10)
	var sent int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return sent, fmt.Errorf("%w: %w", errClientGone, werr)
			}
			sent += int64(n)
			if ferr := rc.Flush(); ferr != nil && !errors.Is(ferr, http.ErrNotSupported) {
				return sent, fmt.Errorf("%w: %w", errClientGone, ferr)
			}
		}
		if errors.Is(err, io.EOF) {
			return sent, nil
		}
		if err != nil {
			return sent, fmt.Errorf("read from git: %w", err)
		}
	}
}

// gitError adds what git printed to its error, if anything.
func gitError(err error) error {
	var exit *exec.ExitError
	if errors.As(err, &exit) && len(exit.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(exit.Stderr))
	}
	return err
}

// tailBuffer keeps the last 4 KiB written to it: what git says when it
// fails, for the log.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - 4096; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.buf))
}

// levelOf is how to log a served request: failures of the client
// connection are the client's business, failures of git are ours.
func levelOf(ctx context.Context, copyErr, waitErr error) (slog.Level, string) {
	switch {
	case errors.Is(copyErr, errClientGone) || ctx.Err() != nil && (copyErr != nil || waitErr != nil):
		return slog.LevelWarn, "client went away during "
	case copyErr != nil || waitErr != nil:
		return slog.LevelError, "failed "
	}
	return slog.LevelInfo, ""
}
