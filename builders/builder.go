package builders

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/seedbed/seedbed/builders/artifact"
	"github.com/seedbed/seedbed/pipelines/stack"
)

// DefaultGoBuild is the build command of a go service that names none. It
// is reproducible: no paths, VCS stamps or build IDs end up in the binary,
// so the same source gives the same artifact.
const DefaultGoBuild = `go build -trimpath -buildvcs=false -ldflags="-s -w -buildid=" -o bootstrap .`

// Config is what a Builder is made of.
type Config struct {
	// Artifacts receives every packaged function.
	Artifacts ArtifactStore
	// CacheDir keeps toolchain caches between builds (Go's build and
	// module caches). Empty means a folder under os.TempDir().
	CacheDir string
	// Env is the environment build commands start from (PATH, HOME,
	// GOPROXY, ...). Seedbed adds what each runtime needs; a GOCACHE or
	// GOMODCACHE given here wins over CacheDir.
	Env []string
	// WorkDir holds the per-service workspaces while they build. Empty
	// means os.TempDir().
	WorkDir string
}

// Builder turns a checkout into artifacts, one per function. It is safe
// for concurrent use; each Build works in folders of its own.
type Builder struct {
	cfg Config
}

// New makes a Builder.
func New(cfg Config) *Builder {
	if cfg.CacheDir == "" {
		cfg.CacheDir = filepath.Join(os.TempDir(), "seedbed-cache")
	}
	if cfg.WorkDir == "" {
		cfg.WorkDir = os.TempDir()
	}
	return &Builder{cfg: cfg}
}

// Output is the artifact of one function.
type Output struct {
	Service  string
	Function string
	Digest   string // "sha256:<hex>"
	Size     int64
}

// Build builds every service of st from the checkout in dir, in order, and
// returns one Output per function. Each service builds in a fresh copy of
// the checkout (without .git), so the checkout itself is never changed
// and services do not see each other's build output. The first failure
// stops the build; its error names the service and the failing command.
func (b *Builder) Build(ctx context.Context, dir string, st *stack.Stack, log Log) ([]Output, error) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("build: checkout %s is not a folder", dir)
	}
	var outs []Output
	for _, svc := range st.Services {
		o, err := b.buildService(ctx, dir, svc, log)
		if err != nil {
			return nil, fmt.Errorf("build service %s: %w", svc.Name, err)
		}
		outs = append(outs, o...)
	}
	return outs, nil
}

func (b *Builder) buildService(ctx context.Context, checkout string, svc stack.Service, log Log) ([]Output, error) {
	log.Line("seedbed", fmt.Sprintf("Building service %s (%s)", svc.Name, svc.Runtime))
	start := time.Now()
	if !slices.Contains(stack.Runtimes, svc.Runtime) {
		return nil, fmt.Errorf("unknown runtime %q; valid runtimes: %s", svc.Runtime, strings.Join(stack.Runtimes, ", "))
	}
	rel := filepath.FromSlash(svc.Path)
	if rel == "" || !(rel == "." || filepath.IsLocal(rel)) {
		return nil, fmt.Errorf("path %q is not a folder inside the repository", svc.Path)
	}
	if err := os.MkdirAll(b.cfg.WorkDir, 0o755); err != nil {
		return nil, fmt.Errorf("make workspace: %w", err)
	}
	ws, err := os.MkdirTemp(b.cfg.WorkDir, "seedbed-"+svc.Name+"-")
	if err != nil {
		return nil, fmt.Errorf("make workspace: %w", err)
	}
	defer removeAll(ws)
	if err := copyTree(checkout, ws); err != nil {
		return nil, fmt.Errorf("copy the checkout to a workspace: %w", err)
	}
	svcDir, err := within(ws, filepath.Join(ws, rel))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("path %q does not exist in the repository; fix path in %s", svc.Path, stack.FileName)
	}
	if err != nil {
		return nil, fmt.Errorf("path %q: %w", svc.Path, err)
	}
	if fi, err := os.Stat(svcDir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("path %q is not a folder; fix path in %s", svc.Path, stack.FileName)
	}

	env := b.env(svc)
	run := func(what string, cmds ...string) error {
		for _, c := range cmds {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := runShell(ctx, svcDir, env, what, c, log); err != nil {
				return err
			}
		}
		return nil
	}
	if err := run("before_build hook", svc.Hooks.BeforeBuild...); err != nil {
		return nil, err
	}
	if build := buildCommand(svc); build != "" {
		if err := run("build command", build); err != nil {
			return nil, err
		}
	}
	if err := run("after_build hook", svc.Hooks.AfterBuild...); err != nil {
		return nil, err
	}

	outs, err := b.packageFunctions(ctx, ws, svcDir, svc, log)
	if err != nil {
		return nil, err
	}
	log.Line("seedbed", fmt.Sprintf("Built service %s in %s", svc.Name, time.Since(start).Round(time.Millisecond)))
	return outs, nil
}

func buildCommand(svc stack.Service) string {
	if svc.Build != "" {
		return svc.Build
	}
	if svc.Runtime == "go" {
		return DefaultGoBuild
	}
	return ""
}

// env is the environment of svc's commands: the configured base, then
// what the runtime needs (later entries win).
func (b *Builder) env(svc stack.Service) []string {
	env := slices.Clone(b.cfg.Env)
	lookup := func(key string) (string, bool) {
		for i := len(env) - 1; i >= 0; i-- {
			if v, ok := strings.CutPrefix(env[i], key+"="); ok {
				return v, true
			}
		}
		return "", false
	}
	env = append(env, "SEEDBED_SERVICE="+svc.Name)
	if svc.Runtime != "go" {
		return env
	}
	// The local target runs the binaries on this machine, so they are
	// built for it; no cgo, so they do not depend on its libc.
	env = append(env, "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	flags, _ := lookup("GOFLAGS")
	env = append(env, "GOFLAGS="+strings.TrimSpace(flags+" -mod=mod"))
	if _, ok := lookup("GOCACHE"); !ok {
		env = append(env, "GOCACHE="+filepath.Join(b.cfg.CacheDir, "go-build"))
	}
	if _, ok := lookup("GOMODCACHE"); !ok {
		env = append(env, "GOMODCACHE="+filepath.Join(b.cfg.CacheDir, "gomod"))
	}
	return env
}

// packageFunctions packs and stores the artifact of every function of svc.
// A go function's artifact is its handler binary alone; a process
// function's is the whole service folder. Functions with the same
// contents share one artifact.
func (b *Builder) packageFunctions(ctx context.Context, ws, svcDir string, svc stack.Service, log Log) ([]Output, error) {
	type stored struct {
		digest string
		size   int64
	}
	done := map[string]stored{}
	var outs []Output
	for _, fn := range svc.Functions {
		paths := []string{"."}
		if svc.Runtime == "go" {
			if err := checkHandler(ws, svcDir, fn); err != nil {
				return nil, fmt.Errorf("function %s: %w", fn.Name, err)
			}
			paths = []string{filepath.FromSlash(fn.Handler)}
		}
		key := strings.Join(paths, "\x00")
		s, ok := done[key]
		if !ok {
			digest, size, err := b.pack(ctx, svcDir, paths)
			if err != nil {
				return nil, fmt.Errorf("function %s: package: %w", fn.Name, err)
			}
			s = stored{digest, size}
			done[key] = s
		}
		log.Line("seedbed", fmt.Sprintf("Packaged %s/%s %s (%s)", svc.Name, fn.Name, shortDigest(s.digest), humanSize(s.size)))
		outs = append(outs, Output{Service: svc.Name, Function: fn.Name, Digest: s.digest, Size: s.size})
	}
	return outs, nil
}

// checkHandler makes sure a go function's handler is a file the build
// produced inside the service folder.
func checkHandler(ws, svcDir string, fn stack.Function) error {
	rel := filepath.FromSlash(fn.Handler)
	if fn.Handler == "" || !filepath.IsLocal(rel) {
		return fmt.Errorf("handler %q is not a file inside the service folder", fn.Handler)
	}
	p := filepath.Join(svcDir, rel)
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("handler %q not found after build; the build command must produce it", fn.Handler)
	}
	if err != nil {
		return fmt.Errorf("handler %q: %w", fn.Handler, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("handler %q is not a regular file (it is a %s); the build command must produce the binary there", fn.Handler, fileKind(fi.Mode()))
	}
	if _, err := within(ws, filepath.Dir(p)); err != nil {
		return fmt.Errorf("handler %q: %w", fn.Handler, err)
	}
	return nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "folder"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	}
	return "special file"
}

// pack streams Pack of paths into the artifact store.
func (b *Builder) pack(ctx context.Context, dir string, paths []string) (string, int64, error) {
	if b.cfg.Artifacts == nil {
		return "", 0, errors.New("no artifact store configured")
	}
	pr, pw := io.Pipe()
	packed := make(chan error, 1)
	go func() {
		err := artifact.Pack(pw, dir, paths)
		pw.CloseWithError(err)
		packed <- err
	}()
	digest, size, err := b.cfg.Artifacts.Put(ctx, pr)
	// If Put stopped early, this unblocks the packer.
	pr.CloseWithError(errors.New("artifact store stopped reading"))
	if perr := <-packed; perr != nil {
		return "", 0, perr
	}
	if err != nil {
		return "", 0, err
	}
	return digest, size, nil
}

func shortDigest(d string) string {
	if len(d) > len(artifact.DigestPrefix)+10 {
		return d[:len(artifact.DigestPrefix)+10]
	}
	return d
}

// humanSize renders n bytes the way the log shows sizes: "12.3 KiB".
func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, exp := float64(n)/unit, 0
	for v >= unit && exp < 3 {
		v /= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGT"[exp])
}
