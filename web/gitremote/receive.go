package gitremote

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// receivePack answers POST git-receive-pack: one push. The body is spooled
// first (see the package documentation for why), then git receive-pack
// reads it, runs the pre-receive hook, which calls back through serveHook,
// and writes its report, which is streamed to the client as it comes.
func (s *Server) receivePack(q *request) {
	if !checkContentType(q, actionReceivePack) {
		return
	}
	body, err := requestBody(q.r, s.maxPush)
	if err != nil {
		textError(q.w, http.StatusBadRequest, err.Error())
		return
	}
	defer body.Close() //nolint:errcheck // read-only
	spool, err := os.CreateTemp(s.reposDir, spoolPattern)
	if err != nil {
		s.log.Error("git remote: spool push", "app", q.app, "err", err)
		textError(q.w, http.StatusInternalServerError, "Seedbed could not store the push; see the server log.")
		return
	}
	defer func() {
		_ = spool.Close()
		_ = os.Remove(spool.Name())
	}()
	size, err := io.Copy(spool, body)
	if errors.Is(err, errBodyTooLarge) {
		s.refuseTooLarge(q, spool)
		return
	}
	if err == nil {
		_, err = spool.Seek(0, io.SeekStart)
	}
	if err != nil {
		s.log.Warn("git remote: read push", "app", q.app, "user", q.user, "received", size, "err", err)
		textError(q.w, http.StatusBadRequest, "Seedbed could not read the push: "+err.Error())
		return
	}

	ctx, cancel := context.WithCancel(q.r.Context())
	defer cancel()
	// Two pipes for the hook's call back: fd 3 carries the server's
	// messages to the hook, fd 4 the hook's request to the server.
	toHookR, toHookW, err := os.Pipe()
	if err != nil {
		s.log.Error("git remote: hook pipe", "err", err)
		textError(q.w, http.StatusInternalServerError, "Seedbed could not start git; see the server log.")
		return
	}
	fromHookR, fromHookW, err := os.Pipe()
	if err != nil {
		_ = toHookR.Close()
		_ = toHookW.Close()
		s.log.Error("git remote: hook pipe", "err", err)
		textError(q.w, http.StatusInternalServerError, "Seedbed could not start git; see the server log.")
		return
	}
	env := []string{
		// Reflog entries name the pusher.
		"GIT_COMMITTER_NAME=" + q.user,
		"GIT_COMMITTER_EMAIL=" + q.user,
		hookFDsEnv + "=3,4",
	}
	cmd := s.git(ctx, q.dir, env, "receive-pack", "--stateless-rpc", q.dir)
	cmd.Stdin = spool
	cmd.ExtraFiles = []*os.File{toHookR, fromHookW}
	var stderr tailBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	// Only git's children hold these ends now, so the server sees the end
	// of the hook's request when they are gone.
	_ = toHookR.Close()
	_ = fromHookW.Close()
	if err != nil {
		_ = toHookW.Close()
		_ = fromHookR.Close()
		s.log.Error("git remote: start receive-pack", "app", q.app, "err", err)
		textError(q.w, http.StatusInternalServerError, "Seedbed could not start git; see the server log.")
		return
	}
	verdict := make(chan hookVerdict, 1)
	go func() {
		verdict <- s.serveHook(ctx, Push{App: q.app, User: q.user, RepoDir: q.dir}, fromHookR, toHookW)
	}()

	h := q.w.Header()
	noCache(h)
	h.Set("Content-Type", "application/x-git-receive-pack-result")
	q.w.WriteHeader(http.StatusOK)
	sent, copyErr := stream(q.w, q.rc, stdout)
	if copyErr != nil {
		cancel()
	}
	waitErr := cmd.Wait()
	// receive-pack is gone, so nothing waits for OnPush any more.
	cancel()
	v := <-verdict
	// git leaves its quarantine behind when it is stopped during the hook.
	if v.quarantine != "" {
		if err := os.RemoveAll(v.quarantine); err != nil {
			s.log.Error("git remote: remove the quarantine of an abandoned push", "app", q.app, "err", err)
		}
	}
	if v.ran && v.err == nil && waitErr == nil {
		if err := s.fixHead(context.WithoutCancel(ctx), q.dir, v.updates); err != nil {
			s.log.Error("git remote: point HEAD at a branch", "app", q.app, "err", err)
		}
	}
	if v.unlock != nil {
		v.unlock() // git has made the ref updates, or never will: the next push's turn
	}
	level, msg := levelOf(q.r.Context(), copyErr, waitErr)
	if !v.ran && level == slog.LevelInfo {
		level = slog.LevelDebug // git's probe before a large push, or nothing to update
	}
	s.log.Log(q.r.Context(), level, "git remote: "+msg+"push", "app", q.app, "user", q.user,
		"received", size, "content_length", q.r.ContentLength, "sent", sent, "updates", len(v.updates), "options", v.options, "accepted", v.ran && v.err == nil,
		"refused", errString(v.err), "duration", time.Since(q.start).Round(time.Millisecond),
		"err", errors.Join(copyErr, waitErr), "stderr", stderr.String())
}

// refuseTooLarge answers a push over the size limit with git's own report,
// every ref rejected and a message saying what to do, without starting git.
// The rest of the body, up to another limit's worth, is read and dropped
// first, because git reads no answer while it is still sending; a bigger
// push gets a bare 413.
func (s *Server) refuseTooLarge(q *request, spool *os.File) {
	limit := formatBytes(s.maxPush)
	s.log.Warn("git remote: push over the size limit", "app", q.app, "user", q.user, "limit", s.maxPush)
	msg := "This push is larger than Seedbed's limit of " + limit + ". Keep large files (build outputs, binaries, data) out of git, or push fewer commits at a time."
	drained, err := io.Copy(io.Discard, io.LimitReader(q.r.Body, s.maxPush+1))
	if err != nil || drained > s.maxPush {
		textError(q.w, http.StatusRequestEntityTooLarge, msg)
		return
	}
	var refs []string
	var caps map[string]bool
	if _, err = spool.Seek(0, io.SeekStart); err == nil {
		refs, caps, err = readCommands(spool)
	}
	if err != nil || len(refs) == 0 {
		textError(q.w, http.StatusRequestEntityTooLarge, msg)
		return
	}
	h := q.w.Header()
	noCache(h)
	h.Set("Content-Type", "application/x-git-receive-pack-result")
	q.w.WriteHeader(http.StatusOK)
	_, _ = q.w.Write(rejectReport(refs, caps, "push larger than "+limit, "error: "+msg+"\n"))
}

// formatBytes writes n in a binary unit, with at most one decimal.
func formatBytes(n int64) string {
	unit, div := "bytes", int64(1)
	switch {
	case n >= 1<<30:
		unit, div = "GiB", 1<<30
	case n >= 1<<20:
		unit, div = "MiB", 1<<20
	case n >= 1<<10:
		unit, div = "KiB", 1<<10
	}
	v := strconv.FormatFloat(float64(n)/float64(div), 'f', 1, 64)
	return strings.TrimSuffix(v, ".0") + " " + unit
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
