package builders

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/seedbed/seedbed/stack"
)

// Every app has a Go build cache of its own, so that one app's build can
// never feed another's a poisoned object. The price was that each app's
// first build compiled the whole standard library again (50–65 s). The
// standard library is the same for every app, though, and Seedbed can
// compile it itself, from the toolchain the admin installed, with no app
// code involved: that compilation is the std cache, and a new app's cache
// starts as a copy of it.
//
// When builds run as per-app users the copy is made of hard links to
// files only Seedbed may write (mode 0444, Seedbed's own): the app's
// build reads them, adds its own objects beside them in folders of its
// own, and can neither change nor replace what another app sees. When
// builds run as Seedbed's own user they could write those files, so the
// copy is a real one.
//
// The std cache is compiled with -trimpath, as DefaultGoBuild builds; a
// build command without it compiles the standard library itself.
//
// The std cache lives in CacheDir/go-std/<toolchain key>, where the key
// covers the Go version, GOROOT and the target platform: a new toolchain
// gets a new one and the old is removed.

// goStd builds the std cache once per toolchain.
type goStd struct {
	mu      sync.Mutex
	dir     string        // the ready cache, once built
	running chan struct{} // closed when the build in progress ends
	err     error         // the last build's error
}

// stdCacheName is the folder of CacheDir that holds std caches. No cache
// key can take it: keys are names under CacheDir/go.
const stdCacheName = "go-std"

// stdEnv is the environment the std cache is compiled in: what a go
// service's commands get (see env), so that their compilations of the
// standard library are the very same actions, with the caches pointed
// into dir.
func (b *Builder) stdEnv(dir string) []string {
	env := b.env(stack.Service{Runtime: "go"}, "", nil)
	return append(env, "GOCACHE="+filepath.Join(dir, "build"), "GOMODCACHE="+filepath.Join(dir, "mod"),
		"HOME="+filepath.Join(dir, "home"), "GOTOOLCHAIN=local")
}

// stdKey names the toolchain that builds with env use.
func stdKey(ctx context.Context, env []string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "env", "GOVERSION", "GOROOT", "GOOS", "GOARCH", "CGO_ENABLED", "GOFLAGS", "GOEXPERIMENT", "GOAMD64", "GOARM64")
	cmd.Env = env
	if path, ok := lookupEnv(env, "PATH"); ok {
		if p, err := lookPathIn("go", path); err == nil {
			cmd.Path, cmd.Err = p, nil
		}
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go env: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	sum := sha256.Sum256(out)
	version, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(version) + "-" + hex.EncodeToString(sum[:8]), nil
}

// lookPathIn finds file in the folders of path, as exec.LookPath does with
// $PATH.
func lookPathIn(file, path string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, file)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH", file)
}

// WarmGoCache compiles the standard library into the std cache now,
// unless it is there already, so that the first Go build of a new app
// does not wait for it. serve and worker call it in the background at
// start; it returns an error when no Go toolchain is found.
// Builds that use a GOCACHE of the configuration's own (Config.Env, with
// commands running as Seedbed's user) share that cache already, and have
// nothing to warm.
func (b *Builder) WarmGoCache(ctx context.Context) error {
	env := b.env(stack.Service{Runtime: "go"}, "warm", b.cfg.User)
	if dir, _ := lookupEnv(env, "GOCACHE"); !inside(b.cfg.CacheDir, dir) {
		return nil
	}
	_, err := b.stdCache(ctx, true)
	return err
}

// errNoStdCache says that no std cache was made: WarmGoCache never ran
// (--warm-go-cache=false) or has not finished.
var errNoStdCache = errors.New("the standard library has not been compiled for sharing (seedbed serve and worker do it at start unless --warm-go-cache=false)")

// stdCache returns the std cache's build folder. When it is being
// compiled it waits; when it is missing it compiles it if compile is set
// and fails with errNoStdCache otherwise (a build does not compile all of
// the standard library for the next app's sake). Concurrent callers wait
// for one compilation; processes sharing CacheDir each compile into a
// folder of their own and the first to finish wins.
func (b *Builder) stdCache(ctx context.Context, compile bool) (string, error) {
	for {
		s := b.goStd
		s.mu.Lock()
		if s.dir != "" {
			dir := s.dir
			s.mu.Unlock()
			if _, err := os.Stat(dir); err == nil {
				return dir, nil
			}
			s.mu.Lock()
			s.dir = "" // removed (seedbed gc, by hand): make it again
			s.mu.Unlock()
			continue
		}
		if running := s.running; running != nil {
			s.mu.Unlock()
			select {
			case <-running:
				s.mu.Lock()
				dir, err := s.dir, s.err
				s.mu.Unlock()
				if dir != "" || (err != nil && !(compile && errors.Is(err, errNoStdCache))) {
					return dir, err
				}
				continue // it only looked, and this caller compiles
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		s.running = make(chan struct{})
		s.mu.Unlock()

		dir, err := b.buildStdCache(ctx, compile)
		s.mu.Lock()
		s.dir, s.err = dir, err
		close(s.running)
		s.running = nil
		s.mu.Unlock()
		return dir, err
	}
}

// buildStdCache compiles the standard library into CacheDir/go-std/<key>
// unless it is there (or, without compile, fails with errNoStdCache), and
// removes the std caches of other toolchains.
func (b *Builder) buildStdCache(ctx context.Context, compile bool) (string, error) {
	root := filepath.Join(b.cfg.CacheDir, stdCacheName)
	if err := os.MkdirAll(root, 0o711); err != nil {
		return "", fmt.Errorf("make %s: %w", root, err)
	}
	tmp, err := os.MkdirTemp(root, ".new-")
	if err != nil {
		return "", fmt.Errorf("make the std cache: %w", err)
	}
	defer os.RemoveAll(tmp) //nolint:errcheck // best effort; a leftover .new- folder is removed next time
	env := b.stdEnv(tmp)
	key, err := stdKey(ctx, env)
	if err != nil {
		return "", fmt.Errorf("find the Go toolchain: %w", err)
	}
	final := filepath.Join(root, key)
	if _, err := os.Stat(filepath.Join(final, "build")); err == nil {
		b.removeOtherStdCaches(root, key)
		return filepath.Join(final, "build"), nil
	}
	if !compile {
		return "", errNoStdCache
	}
	// -trimpath, as DefaultGoBuild: it is part of every compilation's
	// action id, so a build without it finds nothing to share.
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "std")
	cmd.WaitDelay = 5 * time.Second
	cmd.Dir, cmd.Env = tmp, env
	if path, ok := lookupEnv(env, "PATH"); ok {
		if p, err := lookPathIn("go", path); err == nil {
			cmd.Path, cmd.Err = p, nil
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build std: %w: %s", err, strings.TrimSpace(string(out)))
	}
	// Only the build cache is kept; what else the compilation wrote (a
	// HOME, an empty module cache) goes with tmp.
	if err := readOnlyTree(filepath.Join(tmp, "build")); err != nil {
		return "", err
	}
	if err := os.Mkdir(filepath.Join(tmp, "keep"), 0o711); err != nil {
		return "", fmt.Errorf("make the std cache: %w", err)
	}
	if err := os.Rename(filepath.Join(tmp, "build"), filepath.Join(tmp, "keep", "build")); err != nil {
		return "", fmt.Errorf("make the std cache: %w", err)
	}
	if err := os.Rename(filepath.Join(tmp, "keep"), final); err != nil && !errors.Is(err, fs.ErrExist) && !isNotEmpty(err) {
		return "", fmt.Errorf("make the std cache: %w", err)
	}
	b.removeOtherStdCaches(root, key)
	return filepath.Join(final, "build"), nil
}

// isNotEmpty reports whether a rename failed because another process put
// the same std cache in place first.
func isNotEmpty(err error) bool {
	var le *os.LinkError
	return errors.As(err, &le) && strings.Contains(le.Err.Error(), "not empty")
}

// readOnlyTree makes every file under dir read-only and every folder
// passable (0711 would hide the names Go looks up by; 0755), so that the
// build users can read the std cache and nobody but Seedbed changes it.
func readOnlyTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		mode := fs.FileMode(0o444)
		if d.IsDir() {
			mode = 0o755
		}
		if err := os.Chmod(p, mode); err != nil {
			return fmt.Errorf("make the std cache read-only: %w", err)
		}
		return nil
	})
}

// removeOtherStdCaches removes the std caches of other toolchains and
// compilations abandoned by a killed process.
func (b *Builder) removeOtherStdCaches(root, keep string) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.Name() == keep {
			continue
		}
		if strings.HasPrefix(e.Name(), ".new-") {
			// Another process may be compiling into it right now; one
			// that has not finished within an hour was killed.
			if fi, err := e.Info(); err != nil || time.Since(fi.ModTime()) < time.Hour {
				continue
			}
		}
		_ = os.RemoveAll(filepath.Join(root, e.Name())) //nolint:errcheck // best effort: the next start tries again
	}
}

// seedGoCache starts the Go build cache that env names from the std
// cache, when it is a per-app cache Seedbed chose (inside CacheDir) and
// still empty. It never fails a build: without a std cache the build
// compiles the standard library itself, as it always could, and the log
// says why.
func (b *Builder) seedGoCache(ctx context.Context, env []string, u *User, log Log) {
	dir, ok := lookupEnv(env, "GOCACHE")
	if !ok || !filepath.IsAbs(dir) || !inside(b.cfg.CacheDir, dir) || inside(filepath.Join(b.cfg.CacheDir, stdCacheName), dir) {
		return
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return // not new: it has its own objects already
	}
	tpl, err := b.stdCache(ctx, false)
	if err != nil {
		log.Line("seedbed", "This app's first Go build compiles the standard library itself: "+err.Error())
		return
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		log.Line("seedbed", fmt.Sprintf("Could not start %s from the standard-library cache: %v", dir, err))
		return
	}
	if err := copyStdCache(tpl, dir, u); err != nil {
		log.Line("seedbed", fmt.Sprintf("Could not start %s from the standard-library cache: %v", dir, err))
		return
	}
	log.Line("seedbed", "Started this app's Go build cache from the shared standard-library cache")
}

// copyStdCache fills dst, an empty cache folder, from the std cache src:
// folders of u's own, files linked when u is another user than Seedbed's
// (they cannot write them) and copied otherwise. Go's own bookkeeping
// files (README, trim.txt) are left for Go to write.
func copyStdCache(src, dst string, u *User) error {
	link := u.switches()
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil || rel == "." {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			if err := os.Mkdir(target, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			if link {
				return os.Lchown(target, u.UID, u.GID)
			}
			return nil
		case !d.Type().IsRegular(), rel == "README", rel == "trim.txt":
			return nil
		case link:
			return os.Link(p, target)
		default:
			return copyFile(p, target, 0o644)
		}
	})
}
