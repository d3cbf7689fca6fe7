package gitremote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
)

// hookVerdict is how the pre-receive hook of one receive-pack went.
type hookVerdict struct {
	ran        bool // false when git ran no hook: nothing to update
	updates    []RefUpdate
	options    []string
	quarantine string // git's quarantine directory of the push, checked; "" if none
	err        error  // why the push was refused; nil accepts it
	unlock     func() // releases the app's push lock, once git is done; nil if not taken
}

// serveHook is the server's end of the pre-receive hook of one push: it
// reads the hook's request, makes the pushed objects readable in the
// repository, takes the app's push lock, checks that git will be able to
// make the ref updates, asks OnPush, streams its progress to the hook and
// sends the verdict. It owns from and to and closes them.
//
// The push lock makes the pushes of one app take turns from here until git
// receive-pack has updated the refs and exited (the caller releases it
// through the verdict). git runs pre-receive before it locks the refs, so
// without it two pushes of main could both be accepted by OnPush, which
// deploys, and then one of them fail to update main ("cannot lock ref"),
// leaving the stage serving a commit that is not on the branch. Under the
// lock, the ref updates are tried (and aborted) right before OnPush; nothing
// else moves the refs until git has made the same updates, so a push that
// OnPush accepts is one git applies, and the pushes that reach OnPush do so
// in the order their refs change.
func (s *Server) serveHook(ctx context.Context, push Push, from, to *os.File) hookVerdict {
	defer from.Close() //nolint:errcheck // read end
	defer to.Close()   //nolint:errcheck // nothing left to report to
	// Closing unblocks reads and writes when the pusher goes away.
	stop := context.AfterFunc(ctx, func() {
		_ = from.Close()
		_ = to.Close()
	})
	defer stop()

	var req hookRequest
	if err := json.NewDecoder(from).Decode(&req); err != nil {
		// EOF: git ran no hook, e.g. every ref was up to date or refused.
		if !errors.Is(err, io.EOF) && ctx.Err() == nil {
			s.log.Error("git remote: read the pre-receive hook's request", "app", push.App, "err", err)
		}
		return hookVerdict{}
	}
	push.Updates, push.Options = req.Updates, req.Options
	v := hookVerdict{ran: true, updates: req.Updates, options: req.Options}
	out := &progressWriter{enc: json.NewEncoder(to)}
	refuse := ""
	if v.quarantine, v.err = takeObjects(push.RepoDir, req); v.err != nil {
		s.log.Error("git remote: take the pushed objects", "app", push.App, "err", v.err)
		refuse = "Seedbed could not take the pushed objects; see the server log."
	} else if v.unlock, v.err = lockPushes(ctx, push.RepoDir, func() {
		_, _ = fmt.Fprintf(out, "Seedbed: waiting for another push to %s to finish...\n", push.App)
	}); v.err != nil {
		if ctx.Err() == nil {
			s.log.Error("git remote: push lock", "app", push.App, "err", v.err)
		}
		refuse = "Seedbed could not take the app's push lock; see the server log."
	} else if v.err = s.checkRefUpdates(ctx, push.RepoDir, push.Updates); v.err != nil {
		refuse = fmt.Sprintf("%s; the branch or tag moved since you fetched: fetch, merge or rebase, and push again", v.err)
	} else if v.err = s.onPush(ctx, push, out); v.err != nil {
		refuse = v.err.Error()
		if refuse == "" {
			refuse = "push refused"
		}
	}
	if err := out.finish(refuse); err != nil && ctx.Err() == nil {
		s.log.Warn("git remote: send the verdict to the pre-receive hook", "app", push.App, "err", err)
	}
	return v
}

// onPush calls Config.OnPush, turning a panic into a refused push.
func (s *Server) onPush(ctx context.Context, push Push, progress io.Writer) (err error) {
	if s.cfg.OnPush == nil {
		return nil
	}
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("git remote: OnPush panicked", "app", push.App, "panic", p, "stack", string(debug.Stack()))
			err = errors.New("internal error while accepting this push; see the Seedbed server log")
		}
	}()
	return s.cfg.OnPush(ctx, push, progress)
}

// errPushOver is what progress writes return once OnPush has returned.
var errPushOver = errors.New("the push is over: progress can no longer reach the pusher")

// progressWriter sends OnPush's progress to the hook, one message per
// Write, so that it reaches the pusher as soon as it is written.
type progressWriter struct {
	mu   sync.Mutex
	enc  *json.Encoder
	done bool
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return 0, errPushOver
	}
	if len(b) == 0 {
		return 0, nil
	}
	if err := p.enc.Encode(hookMessage{Progress: string(b)}); err != nil {
		return 0, fmt.Errorf("send progress to the pusher: %w", err)
	}
	return len(b), nil
}

// finish sends the verdict; later writes fail.
func (p *progressWriter) finish(refuse string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = true
	return p.enc.Encode(hookMessage{Done: true, Refuse: refuse})
}

// checkUpdates makes sure the hook's ref updates look like git's.
func checkUpdates(updates []RefUpdate) error {
	if len(updates) == 0 {
		return errors.New("no ref updates")
	}
	for _, u := range updates {
		if !isObjectName(u.Old) || !isObjectName(u.New) || !strings.HasPrefix(u.Ref, "refs/") {
			return fmt.Errorf("malformed ref update %q %q %q", u.Old, u.New, u.Ref)
		}
	}
	return nil
}

func isObjectName(s string) bool {
	if len(s) != len(ZeroID) {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// takeObjects checks the hook's request and moves the pushed objects from
// git's quarantine into the repository's object store, returning the
// quarantine directory ("" for a push without objects).
func takeObjects(repoDir string, req hookRequest) (string, error) {
	if err := checkUpdates(req.Updates); err != nil {
		return "", err
	}
	q, err := quarantineDir(repoDir, req.Quarantine)
	if err != nil || q == "" {
		return q, err
	}
	return q, moveObjects(q, filepath.Dir(q))
}

// quarantineDir checks that quarantine, which the hook reports, is a
// quarantine directory of repoDir's object store, and returns it without
// symbolic links. The pushed objects wait there while pre-receive runs;
// moving them into the object store (its parent) early, as git itself does
// once the hook accepts, lets them be read before any ref points at them.
func quarantineDir(repoDir, quarantine string) (string, error) {
	if quarantine == "" {
		return "", nil // a push that only deletes refs sends no objects
	}
	objects, err := filepath.EvalSymlinks(filepath.Join(repoDir, "objects"))
	if err != nil {
		return "", fmt.Errorf("object store: %w", err)
	}
	q, err := filepath.EvalSymlinks(quarantine)
	if err != nil {
		return "", fmt.Errorf("quarantine: %w", err)
	}
	if filepath.Dir(q) != objects || !strings.HasPrefix(filepath.Base(q), "tmp_objdir-incoming-") {
		return "", fmt.Errorf("quarantine %q is not one of %s", quarantine, objects)
	}
	return q, nil
}

// moveObjects moves every file under src to the same place under dst,
// keeping what dst already has (objects are named by their content). Pack
// files go in git's order, the .idx last, so that a reader never finds an
// index without its pack.
func moveObjects(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("read %s: %w", src, err)
	}
	sort.SliceStable(entries, func(i, j int) bool { return packOrder(entries[i].Name()) < packOrder(entries[j].Name()) })
	for _, e := range entries {
		from, to := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
		if e.IsDir() {
			if err := os.Mkdir(to, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("move objects: %w", err)
			}
			if err := moveObjects(from, to); err != nil {
				return err
			}
			continue
		}
		err := os.Link(from, to)
		switch {
		case err == nil || errors.Is(err, fs.ErrExist):
			err = os.Remove(from)
		default: // a file system without hard links
			err = os.Rename(from, to)
		}
		if err != nil {
			return fmt.Errorf("move objects: %w", err)
		}
	}
	return nil
}

// packOrder is git's tmp-objdir order: loose objects, then packs' .keep,
// .pack, .rev and .idx files.
func packOrder(name string) int {
	if !strings.HasPrefix(name, "pack") {
		return 0
	}
	for i, ext := range []string{".keep", ".pack", ".rev", ".idx"} {
		if strings.HasSuffix(name, ext) {
			return i + 1
		}
	}
	return 5
}
