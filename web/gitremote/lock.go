package gitremote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// pushLockFile, in each bare repository, is locked (flock) by the push
// being accepted. Pushes to one app take turns; see serveHook.
const pushLockFile = "seedbed-push.lock"

// pushLockPoll is how often a push that waits for another one tries again.
const pushLockPoll = 50 * time.Millisecond

// lockPushes takes the app's push lock, waiting until ctx is done for the
// push holding it; waiting is called once if it has to wait. The lock is
// an flock on a file in the repository, so it holds between processes
// sharing the repositories too, and the kernel drops it if the process
// dies. Calling the returned function releases it.
func lockPushes(ctx context.Context, repoDir string, waiting func()) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(repoDir, pushLockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the push lock: %w", err)
	}
	told := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = f.Close() }, nil // closing the file releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			_ = f.Close()
			return nil, fmt.Errorf("take the push lock: %w", err)
		}
		if !told {
			told = true
			waiting()
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, ctx.Err()
		case <-time.After(pushLockPoll):
		}
	}
}

// checkRefUpdates tries the push's ref updates in a transaction that it
// prepares and then aborts: git takes the refs' locks, checks each ref's
// old value (the one the pusher saw) and the names, and lets go. Under the
// push lock nothing else moves these refs, so updates that pass here are
// the ones git receive-pack then makes. The error is git's own reason, for
// the pusher.
func (s *Server) checkRefUpdates(ctx context.Context, repoDir string, updates []RefUpdate) error {
	var in bytes.Buffer
	in.WriteString("start\n")
	for _, u := range updates {
		fmt.Fprintf(&in, "update %s %s %s\n", u.Ref, u.New, u.Old)
	}
	in.WriteString("prepare\nabort\n")
	cmd := s.git(ctx, repoDir, []string{"GIT_DIR=" + repoDir}, "update-ref", "--stdin")
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(stderr.String()), "fatal: "))
		if msg == "" {
			msg = err.Error()
		}
		return errors.New(msg)
	}
	return nil
}
