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
	"strconv"
	"strings"
	"time"

	"github.com/seedbed/seedbed/builders/artifact"
	"github.com/seedbed/seedbed/bytesize"
	"github.com/seedbed/seedbed/sandbox"
	"github.com/seedbed/seedbed/stack"
)

// DefaultGoBuild is the build command of a go service that names none. It
// is reproducible: no paths, VCS stamps or build IDs end up in the binary,
// so the same source gives the same artifact.
const DefaultGoBuild = `go build -trimpath -buildvcs=false -ldflags="-s -w -buildid=" -o bootstrap .`

// Config is what a Builder is made of.
type Config struct {
	// Artifacts receives every packaged function.
	Artifacts ArtifactStore
	// CacheDir keeps toolchain caches between builds: Go's build and
	// module caches and npm's cache, per app (see BuildOptions.CacheKey).
	// Empty means a folder under os.TempDir().
	CacheDir string
	// Env is the environment build commands start from (PATH, HOME,
	// GOPROXY, PIP_INDEX_URL, ...). Seedbed adds what each runtime needs;
	// a GOCACHE, GOMODCACHE or npm_config_cache given here wins over
	// CacheDir, unless commands run as another user (User): that user
	// cannot write Seedbed's caches, so its own under CacheDir win, and
	// its HOME is CacheDir/home/<cache key>.
	Env []string
	// WorkDir holds the per-service workspaces while they build. Empty
	// means os.TempDir().
	WorkDir string
	// User is who build commands, install steps and hooks run as (see
	// ResolveUser); nil is Seedbed's own user. When it is another user,
	// every workspace (a copy of the checkout), the per-app caches and
	// HOME are made that user's, and the user must be able to pass
	// through to CacheDir and WorkDir (see Check).
	User *User
	// Isolation is whether commands run in a sandbox (bubblewrap; see
	// the sandbox package): IsolationAuto, IsolationSandbox or
	// IsolationNone. Empty is IsolationNone. Commands that run as root
	// are never sandboxed.
	Isolation sandbox.Isolation
	// Hide are folders no sandboxed command may see: the data dir.
	// CacheDir and WorkDir are hidden too, all but the folders of the
	// build or hook run at hand.
	Hide []string
	// SharedCaches, when set, keeps each app's Go and npm caches (the
	// folders CacheDir/go/<key> and CacheDir/npm/<key>) where other
	// machines find them: BuildWith restores them before a build with a
	// cache key and saves them after it succeeds. nil: caches stay on
	// this machine.
	SharedCaches SharedCaches
}

// Builder turns a checkout into artifacts, one per function. It is safe
// for concurrent use; each Build works in folders of its own.
type Builder struct {
	cfg     Config
	scratch *scratch
	box     *sandboxState
	goStd   *goStd
}

// New makes a Builder.
func New(cfg Config) *Builder {
	if cfg.CacheDir == "" {
		cfg.CacheDir = filepath.Join(os.TempDir(), "seedbed-cache")
	}
	if abs, err := filepath.Abs(cfg.CacheDir); err == nil {
		cfg.CacheDir = abs
	}
	if cfg.WorkDir == "" {
		cfg.WorkDir = os.TempDir()
	}
	if cfg.User == nil {
		cfg.User, _ = ResolveUser(UserNone)
		cfg.User.Setting = ""
	}
	return &Builder{cfg: cfg, scratch: &scratch{}, box: &sandboxState{}, goStd: &goStd{}}
}

// Check makes sure build commands can run as the build user in dirs
// (CacheDir and WorkDir are always checked): that the user can pass
// through to each, and that this process can start commands as that
// user at all. It makes the dirs that are missing. The error says what
// stops it; nothing is checked when commands run as Seedbed's own user.
func (b *Builder) Check(ctx context.Context, dirs ...string) error {
	u := b.cfg.User
	// Detecting the sandbox runs one, as nobody.
	sb := b.sandbox(ctx)
	if sb.err != nil {
		return sb.err
	}
	if x, why := b.newBox(ctx, u); x == nil && b.cfg.Isolation == IsolationSandbox {
		return b.requireBox(x, why)
	}
	if !u.switches() {
		return nil
	}
	dirs = append([]string{b.cfg.CacheDir, b.cfg.WorkDir}, dirs...)
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return fmt.Errorf("builds run as %s: make %s: %w", u, d, err)
		}
		if err := u.CheckReach(d); err != nil {
			return fmt.Errorf("builds run as %s, who %w: put the folder where other users may pass through (for Seedbed's data dir, e.g. --data-dir /var/lib/seedbed), or run builds as Seedbed's own user with SEEDBED_BUILD_USER=none", u, err)
		}
	}
	// The real thing, once: switching users can be refused (a container
	// without the capability, an id the user namespace does not map).
	for _, d := range dirs {
		if err := runShell(ctx, runAs{user: u}, d, []string{"PATH=/usr/bin:/bin"}, "user check", ":", discardLog{}); err != nil {
			return fmt.Errorf("builds run as %s, but a command could not start as that user in %s (%w): this process may not switch to that user; choose another with SEEDBED_BUILD_USER, or run builds as Seedbed's own user with SEEDBED_BUILD_USER=none", u, d, err)
		}
	}
	return nil
}

// Output is the artifact of one function.
type Output struct {
	Service  string
	Function string
	Digest   string // "sha256:<hex>"
	Size     int64
}

// BuildOptions says what BuildWith builds.
type BuildOptions struct {
	// Dir is the checkout to build. It is never changed.
	Dir string
	// Stack is the checkout's parsed stack file.
	Stack *stack.Stack
	// CacheKey keeps one app's toolchain caches apart from another's:
	// with a key, Go's caches live in CacheDir/go/<key> and npm's in
	// CacheDir/npm/<key>, so builds of one app reuse what its earlier
	// builds downloaded and compiled, and never see another app's. Use
	// the app's name. It must be a plain name: letters, digits, ".", "_"
	// and "-", starting with a letter or digit. Empty shares one cache
	// between every build without a key.
	CacheKey string
	// AppID is the id of the app the build is of. With per-app build
	// users (UserAuto as root) its commands run as that app's own user
	// (see User.ForApp); 0 is allowed only when commands do not switch
	// to per-app users.
	AppID uint
	// Only, when not nil, names the services to build; the others are
	// left out (their artifacts are reused by the caller).
	Only []string
	// Vars are the SEEDBED_* variables of every build command and hook,
	// SEEDBED_SERVICE aside (set per service).
	Vars Vars
	// Env is added to the environment of every build command and hook
	// after Config.Env (a stage's env and secrets).
	Env []string
	// Phase, when set, is called as each phase of a service ends.
	Phase func(Phase)
}

// Build builds every service of st from the checkout in dir, without a
// cache key; see BuildWith.
func (b *Builder) Build(ctx context.Context, dir string, st *stack.Stack, log Log) ([]Output, error) {
	return b.BuildWith(ctx, BuildOptions{Dir: dir, Stack: st}, log)
}

// BuildWith builds every service of opts.Stack from the checkout in
// opts.Dir, in order, and returns one Output per function. Each service
// builds in a fresh copy of the checkout (without .git), so the checkout
// itself is never changed and services do not see each other's build
// output. The first failure stops the build; its error names the service
// and the failing command.
//
// A service builds in these steps, each logged:
//
//  1. install dependencies: node, when the service folder has a
//     package.json: npm ci (npm install without a package-lock.json);
//     python, when it has a requirements.txt: pip installs them into the
//     service folder, next to the code;
//  2. the before_build hooks;
//  3. the build command (go has a default, DefaultGoBuild);
//  4. the after_build hooks;
//  5. packaging, per runtime (see the package comment); node handlers
//     are bundled here.
//
// With Config.SharedCaches and a cache key, the app's Go and npm caches
// are restored before the first service and saved after the last; a
// cache that cannot be restored or saved is said so in the log, and the
// build goes on without it.
func (b *Builder) BuildWith(ctx context.Context, opts BuildOptions, log Log) ([]Output, error) {
	if fi, err := os.Stat(opts.Dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("build: checkout %s is not a folder", opts.Dir)
	}
	if opts.Stack == nil {
		return nil, errors.New("build: no stack given")
	}
	if opts.CacheKey != "" && !validCacheKey(opts.CacheKey) {
		return nil, fmt.Errorf("build: cache key %q is not a plain name; use letters, digits, \".\", \"_\" and \"-\", starting with a letter or digit", opts.CacheKey)
	}
	u, err := b.cfg.User.ForApp(opts.AppID)
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	log.Line("seedbed", u.Describe())
	if x, why := b.newBox(ctx, u); x != nil || b.requireBox(x, why) == nil {
		log.Line("seedbed", b.describeBox(x, why))
	} else {
		return nil, fmt.Errorf("build: %w", b.requireBox(x, why))
	}
	shared := b.sharedCaches(opts, u)
	b.restoreCaches(ctx, shared, u, log)
	var outs []Output
	for _, svc := range opts.Stack.Services {
		if opts.Only != nil && !slices.Contains(opts.Only, svc.Name) {
			continue
		}
		o, err := b.buildService(ctx, opts, u, svc, log)
		if err != nil {
			return nil, fmt.Errorf("build service %s: %w", svc.Name, err)
		}
		outs = append(outs, o...)
	}
	b.saveCaches(ctx, shared, log)
	return outs, nil
}

// validCacheKey says whether key can name a cache folder: one path
// element that is neither hidden nor "..".
func validCacheKey(key string) bool {
	if len(key) > 128 {
		return false
	}
	for i, r := range key {
		alnum := (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !alnum && (i == 0 || !strings.ContainsRune("._-", r)) {
			return false
		}
	}
	return key != ""
}

func (b *Builder) buildService(ctx context.Context, opts BuildOptions, u *User, svc stack.Service, log Log) ([]Output, error) {
	checkout, cacheKey := opts.Dir, opts.CacheKey
	log.Line("seedbed", fmt.Sprintf("Building service %s (%s)", svc.Name, svc.Runtime))
	start := time.Now()
	phase := phaseTimer(opts.Phase, svc.Name)
	if !slices.Contains(stack.Runtimes, svc.Runtime) {
		return nil, fmt.Errorf("unknown runtime %q; valid runtimes: %s", svc.Runtime, strings.Join(stack.Runtimes, ", "))
	}
	rel := filepath.FromSlash(svc.Path)
	if rel == "" || !(rel == "." || filepath.IsLocal(rel)) {
		return nil, fmt.Errorf("path %q is not a folder inside the repository", svc.Path)
	}
	root, err := b.TempDir("service-" + svc.Name + "-")
	if err != nil {
		return nil, fmt.Errorf("make workspace: %w", err)
	}
	defer removeAll(root)
	// The copy of the checkout goes in src; what the packaging makes
	// (bundles) in out, where no build command looks. When commands
	// run as another user, src is theirs and closed to everyone else;
	// root and out stay Seedbed's.
	ws, out := filepath.Join(root, "src"), filepath.Join(root, "out")
	for _, d := range []string{ws, out} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, fmt.Errorf("make workspace: %w", err)
		}
	}
	if err := copyTree(checkout, ws); err != nil {
		return nil, fmt.Errorf("copy the checkout to a workspace: %w", err)
	}
	if u.switches() {
		if err := os.Chmod(root, 0o711); err != nil {
			return nil, fmt.Errorf("make workspace: %w", err)
		}
		if err := giveTree(ws, u.UID, u.GID); err != nil {
			return nil, fmt.Errorf("make workspace: %w", err)
		}
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

	base := b.env(svc, cacheKey, u)
	if err := b.userDirs(base, u, log); err != nil {
		return nil, err
	}
	if svc.Runtime == "go" {
		b.seedGoCache(ctx, base, u, log)
	}
	r := runAs{user: u}
	r.box, _ = b.newBox(ctx, u)
	if r.box != nil {
		if err := b.furnish(r.box, ws, base, log); err != nil {
			return nil, err
		}
	}
	env := append(base, opts.Env...)
	env = append(env, opts.Vars.environ(svc.Name)...)
	run := func(what string, cmds ...string) error {
		for _, c := range cmds {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := runShell(ctx, r, svcDir, env, what, c, log); err != nil {
				return err
			}
		}
		return nil
	}
	end := phase(PhaseInstall)
	err = install(ctx, r, svcDir, env, svc, log)
	end()
	if err != nil {
		return nil, err
	}
	if len(svc.Hooks.BeforeBuild) > 0 {
		end = phase(PhaseHooks)
		err = run("before_build hook", svc.Hooks.BeforeBuild...)
		end()
		if err != nil {
			return nil, err
		}
	}
	if build := buildCommand(svc); build != "" {
		end = phase(PhaseCompile)
		err = run("build command", build)
		end()
		if err != nil {
			return nil, err
		}
	}
	if len(svc.Hooks.AfterBuild) > 0 {
		end = phase(PhaseHooks)
		err = run("after_build hook", svc.Hooks.AfterBuild...)
		end()
		if err != nil {
			return nil, err
		}
	}

	end = phase(PhasePackage)
	outs, err := b.packageFunctions(ctx, ws, out, svcDir, svc, log)
	end()
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
// what the runtime needs (later entries win). cacheKey picks the app's
// own caches.
func (b *Builder) env(svc stack.Service, cacheKey string, u *User) []string {
	env := slices.Clone(b.cfg.Env)
	if u.switches() {
		// Seedbed's own caches, HOME and GOPATH are not the user's to
		// write: it gets its own, under CacheDir.
		env = slices.DeleteFunc(env, func(kv string) bool {
			k, _, _ := strings.Cut(kv, "=")
			switch k {
			case "GOCACHE", "GOMODCACHE", "GOPATH", "HOME", "USER", "LOGNAME":
				return true
			}
			return strings.EqualFold(k, "npm_config_cache")
		})
		home := cacheKey
		if home == "" {
			home = "_shared" // no valid key starts with "_"
		}
		name := u.Name
		if name == "" {
			name = strconv.Itoa(u.UID)
		}
		env = append(env, "HOME="+filepath.Join(b.cfg.CacheDir, "home", home), "USER="+name, "LOGNAME="+name)
	}
	lookup := func(key string) (string, bool) { return lookupEnv(env, key) }
	env = append(env, "SEEDBED_SERVICE="+svc.Name)
	switch svc.Runtime {
	case "go":
		// The local target runs the binaries on this machine, so they are
		// built for it; no cgo, so they do not depend on its libc.
		env = append(env, "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
		flags, _ := lookup("GOFLAGS")
		env = append(env, "GOFLAGS="+strings.TrimSpace(flags+" -mod=mod"))
		buildCache, modCache := filepath.Join(b.cfg.CacheDir, "go-build"), filepath.Join(b.cfg.CacheDir, "gomod")
		if cacheKey != "" {
			buildCache = filepath.Join(b.cfg.CacheDir, "go", cacheKey, "build")
			modCache = filepath.Join(b.cfg.CacheDir, "go", cacheKey, "mod")
		}
		if _, ok := lookup("GOCACHE"); !ok {
			env = append(env, "GOCACHE="+buildCache)
		}
		if _, ok := lookup("GOMODCACHE"); !ok {
			env = append(env, "GOMODCACHE="+modCache)
		}
	case "node":
		// npm reads its settings from npm_config_* in any case.
		if _, ok := lookupEnvFold(env, "npm_config_cache"); !ok {
			key := cacheKey
			if key == "" {
				key = "_shared" // no valid key starts with "_"
			}
			env = append(env, "npm_config_cache="+filepath.Join(b.cfg.CacheDir, "npm", key))
		}
		// A build has no one to read these, and they cost requests.
		env = append(env, "npm_config_update_notifier=false", "npm_config_fund=false", "npm_config_audit=false")
	case "python":
		// __pycache__ folders are left out of artifacts anyway.
		env = append(env, "PYTHONDONTWRITEBYTECODE=1", "PIP_DISABLE_PIP_VERSION_CHECK=1")
	}
	return env
}

// userDirs makes the caches and HOME that env, as b.env made it, names
// the build user's when commands run as another user. Only folders
// Seedbed chose: those are inside CacheDir, under folders only Seedbed
// may change; a folder a stage's env names is left as it is, since a
// build could have put a symlink on its way.
func (b *Builder) userDirs(env []string, u *User, log Log) error {
	if !u.switches() {
		return nil
	}
	for _, key := range []string{"HOME", "GOCACHE", "GOMODCACHE", "npm_config_cache"} {
		dir, ok := lookupEnvFold(env, key)
		if !ok || dir == "" || !filepath.IsAbs(dir) {
			continue
		}
		rel, err := filepath.Rel(b.cfg.CacheDir, dir)
		if err != nil || rel == "." || !filepath.IsLocal(rel) {
			continue
		}
		if err := userDir(dir, u, log); err != nil {
			return fmt.Errorf("prepare %s for %s: %w", key, u, err)
		}
	}
	return nil
}

// cacheKeys are the variables of a build's environment naming folders
// its commands write, besides the workspace.
var cacheKeys = []string{"HOME", "GOCACHE", "GOMODCACHE", "npm_config_cache"}

// furnish gives box the workspace ws and the folders that base, the
// environment b.env made (Seedbed's choice, or its configuration's, never
// a stage's), names for caches and HOME. A missing one is made when it
// lies in CacheDir and skipped otherwise; one that holds a folder the box
// hides (HOME=/, say) is left out, and the log says so.
func (b *Builder) furnish(x *box, ws string, base []string, log Log) error {
	if err := x.give(ws); err != nil {
		return fmt.Errorf("make the sandbox: %w", err)
	}
	for _, key := range cacheKeys {
		dir, ok := lookupEnvFold(base, key)
		if !ok || dir == "" || !filepath.IsAbs(dir) {
			continue
		}
		dir = filepath.Clean(dir)
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			if !inside(b.cfg.CacheDir, dir) {
				continue
			}
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return fmt.Errorf("make %s: %w", dir, err)
			}
		}
		if err := x.give(dir); err != nil {
			log.Line("seedbed", fmt.Sprintf("%s is not in the sandbox: %v", key, err))
		}
	}
	return nil
}

// lookupEnv returns the value of key in env; the last entry wins, as in
// exec.Cmd.
func lookupEnv(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v, true
		}
	}
	return "", false
}

// lookupEnvFold is lookupEnv ignoring case, for tools (npm) that do.
func lookupEnvFold(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}

// install installs the dependencies of a node or python service, as r
// says.
func install(ctx context.Context, r runAs, svcDir string, env []string, svc stack.Service, log Log) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	switch svc.Runtime {
	case "node":
		return npmInstall(ctx, r, svcDir, env, log)
	case "python":
		return pipInstall(ctx, r, svcDir, env, log)
	}
	return nil
}

// source is what one function's artifact is packed from.
type source struct {
	// key is the same for functions whose artifacts are the same, so
	// that they are packed once.
	key string
	// prepare makes the files (if packaging makes any) and says where
	// they are: paths inside dir.
	prepare func() (dir string, paths []string, err error)
}

// files is the source of an artifact made of paths in dir as they are.
func files(key, dir string, paths ...string) source {
	return source{key: key, prepare: func() (string, []string, error) { return dir, paths, nil }}
}

// packageFunctions packs and stores the artifact of every function of
// svc, from the service folder svcDir inside the workspace ws; out is an
// empty folder for what packaging makes. Functions with the same
// contents share one artifact. What an artifact holds, per runtime:
//
//   - go: the handler binary alone;
//   - node: the handler bundled into one file (see nodeSource);
//   - python, process: the whole service folder (python without
//     __pycache__ and .venv folders);
//   - static: the output folder.
func (b *Builder) packageFunctions(ctx context.Context, ws, out, svcDir string, svc stack.Service, log Log) ([]Output, error) {
	var sourceOf func(fn stack.Function) (source, error)
	switch svc.Runtime {
	case "go":
		sourceOf = func(fn stack.Function) (source, error) {
			if err := checkHandler(ws, svcDir, fn); err != nil {
				return source{}, err
			}
			return files(fn.Handler, svcDir, filepath.FromSlash(fn.Handler)), nil
		}
	case "node":
		sourceOf = func(fn stack.Function) (source, error) {
			return nodeSource(ws, out, svcDir, fn, log)
		}
	case "python":
		if err := cleanPython(svcDir); err != nil {
			return nil, fmt.Errorf("package: %w", err)
		}
		sourceOf = func(fn stack.Function) (source, error) {
			if err := checkPythonHandler(ws, svcDir, fn); err != nil {
				return source{}, err
			}
			return files(".", svcDir, "."), nil
		}
	case "static":
		dir, err := staticOutput(ws, svcDir, svc)
		if err != nil {
			return nil, err
		}
		sourceOf = func(stack.Function) (source, error) { return files(".", dir, "."), nil }
	default:
		sourceOf = func(stack.Function) (source, error) { return files(".", svcDir, "."), nil }
	}

	type stored struct {
		digest string
		size   int64
	}
	done := map[string]stored{}
	var outs []Output
	for _, fn := range svc.Functions {
		src, err := sourceOf(fn)
		if err != nil {
			return nil, fmt.Errorf("function %s: %w", fn.Name, err)
		}
		s, ok := done[src.key]
		if !ok {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			dir, paths, err := src.prepare()
			if err != nil {
				return nil, fmt.Errorf("function %s: %w", fn.Name, err)
			}
			digest, size, err := b.pack(ctx, ws, dir, paths)
			if err != nil {
				return nil, fmt.Errorf("function %s: package: %w", fn.Name, err)
			}
			s = stored{digest, size}
			done[src.key] = s
		}
		log.Line("seedbed", fmt.Sprintf("Packaged %s/%s %s (%s)", svc.Name, fn.Name, shortDigest(s.digest), bytesize.Format(s.size)))
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

// pack streams Pack of paths in dir into the artifact store. dir is in
// the workspace ws (or a folder of Seedbed's, for bundles): it is opened
// through a root on ws, so that a symlink the build put on the way to it
// cannot make Seedbed pack a folder outside.
func (b *Builder) pack(ctx context.Context, ws, dir string, paths []string) (string, int64, error) {
	if b.cfg.Artifacts == nil {
		return "", 0, errors.New("no artifact store configured")
	}
	src, err := openIn(ws, dir)
	if err != nil {
		return "", 0, err
	}
	defer src.Close()
	pr, pw := io.Pipe()
	packed := make(chan error, 1)
	go func() {
		err := artifact.PackRoot(pw, src, paths)
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

// openIn opens dir as an os.Root: through a root on ws when dir lies in
// ws (resolved, as within returns it), directly otherwise.
func openIn(ws, dir string) (*os.Root, error) {
	realWS, err := filepath.EvalSymlinks(ws)
	if err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(realWS, dir)
	if err != nil || !(rel == "." || filepath.IsLocal(rel)) {
		return os.OpenRoot(dir)
	}
	wsRoot, err := os.OpenRoot(realWS)
	if err != nil {
		return nil, err
	}
	defer wsRoot.Close()
	r, err := wsRoot.OpenRoot(rel)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	return r, nil
}

func shortDigest(d string) string {
	if len(d) > len(artifact.DigestPrefix)+10 {
		return d[:len(artifact.DigestPrefix)+10]
	}
	return d
}
