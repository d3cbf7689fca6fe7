package gitremote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// DefaultMaxPushBytes is the push size limit when Config.MaxPushBytes is 0.
const DefaultMaxPushBytes int64 = 512 << 20

// ZeroID is the object name git uses for "no object": the Old of a ref
// being created and the New of a ref being deleted.
const ZeroID = "0000000000000000000000000000000000000000"

// Config is what a Server is made of.
type Config struct {
	// ReposDir holds the bare repositories, one per app at ReposDir/<app>.git.
	// It is created if missing. Push bodies are spooled to temporary files in
	// it (names starting with a dot, which no app name does).
	ReposDir string

	// Authenticate checks the HTTP Basic credentials of every request: the
	// password is a Seedbed API token, the user name is whatever the client
	// sent (often the email, or anything). It returns the user's email. Any
	// error answers 401, which makes git ask for credentials again or fail
	// with "Authentication failed"; the error itself is only logged.
	// Required.
	Authenticate func(ctx context.Context, user, password string) (email string, err error)

	// Authorize tells what the user Authenticate returned may do with an
	// app's repository: ReadAccess to clone and fetch, WriteAccess to push
	// too. NoAccess, for an app that does not exist and for one the user has
	// no role on alike, answers 404 with the same text in both cases, so
	// that the names of apps do not leak; ReadAccess on a push answers 403.
	// It is asked after authentication, for every request. An error answers
	// 500 (a database outage is not "no such app") and is logged. Required.
	Authorize func(ctx context.Context, user, app string) (Access, error)

	// OnPush is called from the pre-receive hook with the ref updates of one
	// push, after git has received and checked the objects and before it
	// updates any ref. Whatever it writes to progress reaches the pusher's
	// terminal live, as "remote: ..." lines. Returning an error refuses the
	// whole push: no ref changes, git push exits non-zero, and the error's
	// text is shown to the pusher (so keep internals out of it).
	//
	// The new objects are already readable in push.RepoDir (see the package
	// documentation). ctx is canceled when the pusher disconnects; OnPush
	// must return soon after. Writes to progress fail once the push is over.
	// OnPush may be called concurrently for different apps; for one app the
	// calls take turns, in the order the refs change, and git can make the
	// ref updates of a push OnPush sees (see the package documentation).
	// Nil accepts every push.
	OnPush func(ctx context.Context, push Push, progress io.Writer) error

	// MaxPushBytes bounds the body of one push (the pack, as sent). Zero
	// means DefaultMaxPushBytes.
	MaxPushBytes int64

	// HookCommand is the command the pre-receive hook script runs, with
	// "pre-receive" appended; it must end up calling RunHook. The first
	// element is resolved to an absolute path because hooks run inside the
	// repository. Empty means the running binary with "git-hook", i.e.
	// `seedbed git-hook pre-receive`.
	HookCommand []string

	// Logger receives one line per served request and the errors that are
	// not the client's. Nil discards.
	Logger *slog.Logger
}

// Access is what a user may do with an app's repository.
type Access int

const (
	// NoAccess: the app does not exist, or the user has no role on it.
	NoAccess Access = iota
	// ReadAccess allows clone and fetch (git upload-pack).
	ReadAccess
	// WriteAccess allows push (git receive-pack) as well.
	WriteAccess
)

// RefUpdate is one ref a push changes. Old and New are full object names
// (40 hex digits); Old is ZeroID when the ref is created, New is ZeroID when
// it is deleted.
type RefUpdate struct {
	Ref string `json:"ref"`
	Old string `json:"old"`
	New string `json:"new"`
}

// Push is one push, as OnPush sees it.
type Push struct {
	// App is the app pushed to.
	App string
	// User is the email Authenticate returned for the pusher.
	User string
	// Updates are the refs the push changes, in the order the client sent
	// them.
	Updates []RefUpdate
	// Options are the push options (`git push -o nowait` gives ["nowait"]).
	Options []string
	// RepoDir is the absolute path of the app's bare repository.
	RepoDir string
}

// Server serves the git remote. Make one with New.
type Server struct {
	cfg      Config
	log      *slog.Logger
	reposDir string   // absolute
	gitPath  string   // absolute path of the git binary
	baseEnv  []string // the environment of git commands, without GIT_* variables
	hook     []byte   // the pre-receive script every repository gets
	maxPush  int64
}

// New checks cfg, finds git, creates ReposDir and removes request spools
// left behind by a crashed process.
func New(cfg Config) (*Server, error) {
	if cfg.ReposDir == "" {
		return nil, errors.New("gitremote: ReposDir is required")
	}
	if cfg.Authenticate == nil || cfg.Authorize == nil {
		return nil, errors.New("gitremote: Authenticate and Authorize are required")
	}
	if cfg.MaxPushBytes < 0 {
		return nil, fmt.Errorf("gitremote: MaxPushBytes is %d; use 0 for the default of %d", cfg.MaxPushBytes, DefaultMaxPushBytes)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, maxPush: cfg.MaxPushBytes}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.maxPush == 0 {
		s.maxPush = DefaultMaxPushBytes
	}
	var err error
	if s.gitPath, err = exec.LookPath("git"); err != nil {
		return nil, fmt.Errorf("gitremote: the git command is needed to serve the built-in remote: %w", err)
	}
	if s.reposDir, err = filepath.Abs(cfg.ReposDir); err != nil {
		return nil, fmt.Errorf("gitremote: repositories folder: %w", err)
	}
	if err := os.MkdirAll(s.reposDir, 0o750); err != nil {
		return nil, fmt.Errorf("gitremote: create repositories folder: %w", err)
	}
	hookCmd, err := resolveHookCommand(cfg.HookCommand)
	if err != nil {
		return nil, err
	}
	s.hook = hookScript(hookCmd)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") && !strings.HasPrefix(kv, hookFDsEnv+"=") {
			s.baseEnv = append(s.baseEnv, kv)
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(s.reposDir, spoolPattern))
	for _, f := range leftovers {
		_ = os.Remove(f)
	}
	return s, nil
}

// resolveHookCommand makes the hook command absolute, defaulting to the
// running binary's git-hook subcommand.
func resolveHookCommand(cmd []string) ([]string, error) {
	if len(cmd) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("gitremote: find the running binary for the pre-receive hook: %w", err)
		}
		return []string{exe, "git-hook"}, nil
	}
	path, err := exec.LookPath(cmd[0])
	if err != nil {
		return nil, fmt.Errorf("gitremote: hook command: %w", err)
	}
	if path, err = filepath.Abs(path); err != nil {
		return nil, fmt.Errorf("gitremote: hook command: %w", err)
	}
	return append([]string{path}, cmd[1:]...), nil
}

// The three things a smart HTTP client asks for.
const (
	actionInfoRefs    = "info/refs"
	actionUploadPack  = "git-upload-pack"
	actionReceivePack = "git-receive-pack"
)

// ServeHTTP serves /git/<app>.git/info/refs, .../git-upload-pack and
// .../git-receive-pack (the ".git" is optional). Everything else under /git/
// is 404: the dumb HTTP protocol is not served.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	app, action, ok := parsePath(r.URL.Path)
	if !ok {
		textError(w, http.StatusNotFound, "Not a Seedbed git URL: use http://HOST/git/APP.git with an app name of lower-case letters, digits and dashes.")
		return
	}
	method := http.MethodPost
	if action == actionInfoRefs {
		method = http.MethodGet
	}
	if r.Method != method {
		w.Header().Set("Allow", method)
		textError(w, http.StatusMethodNotAllowed, "Method not allowed.")
		return
	}
	user, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	if !s.authorize(w, r, user, app, action) {
		return
	}
	dir, err := s.EnsureRepo(app)
	if err != nil {
		s.log.Error("git remote: prepare repository", "app", app, "err", err)
		textError(w, http.StatusInternalServerError, "Seedbed could not open the app's repository; see the server log.")
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	req := &request{w: w, r: r, rc: rc, app: app, user: user, dir: dir, start: time.Now()}
	switch action {
	case actionInfoRefs:
		s.advertise(req)
	case actionUploadPack:
		s.uploadPack(req)
	case actionReceivePack:
		s.receivePack(req)
	}
}

// request is one authenticated request for an existing app.
type request struct {
	w     http.ResponseWriter
	r     *http.Request
	rc    *http.ResponseController
	app   string
	user  string
	dir   string
	start time.Time
}

// parsePath splits /git/<app>[.git]/<action>. Only valid app names pass, so
// the name can be joined to ReposDir safely.
func parsePath(p string) (app, action string, ok bool) {
	rest, ok := strings.CutPrefix(p, "/git/")
	if !ok {
		return "", "", false
	}
	app, action, ok = strings.Cut(rest, "/")
	if !ok {
		return "", "", false
	}
	app = strings.TrimSuffix(app, ".git")
	if !validApp(app) {
		return "", "", false
	}
	switch action {
	case actionInfoRefs, actionUploadPack, actionReceivePack:
		return app, action, true
	}
	return "", "", false
}

// validApp reports whether name is an app name: [a-z0-9][a-z0-9-]{0,62},
// the rule package pipelines applies when an app is created.
func validApp(name string) bool {
	if name == "" || len(name) > 63 || name[0] == '-' {
		return false
	}
	for _, c := range []byte(name) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// authenticate answers 401 unless the request carries credentials
// Authenticate accepts.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (string, bool) {
	user, password, ok := r.BasicAuth()
	if ok && password != "" {
		email, err := s.cfg.Authenticate(r.Context(), user, password)
		if err == nil {
			return email, true
		}
		s.log.Warn("git remote: authentication failed", "user", user, "remote", r.RemoteAddr, "err", err)
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="Seedbed", charset="UTF-8"`)
	textError(w, http.StatusUnauthorized, "Authentication required: use a Seedbed API token as the password.")
	return "", false
}

// authorize answers 404, 403 or 500 unless user may do what the request
// asks of app: push (receive-pack, and its advertisement) needs
// WriteAccess, anything else ReadAccess.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, user, app, action string) bool {
	need := ReadAccess
	if action == actionReceivePack || (action == actionInfoRefs && r.URL.Query().Get("service") == actionReceivePack) {
		need = WriteAccess
	}
	has, err := s.cfg.Authorize(r.Context(), user, app)
	switch {
	case err != nil:
		s.log.Error("git remote: check access", "app", app, "user", user, "err", err)
		textError(w, http.StatusInternalServerError, "Seedbed could not check your access to this app; see the server log.")
		return false
	case has < ReadAccess:
		// The same answer as for an app that does not exist.
		textError(w, http.StatusNotFound, fmt.Sprintf("Seedbed has no app %q: create it first, then push to it.", app))
		return false
	case has < need:
		s.log.Warn("git remote: push refused: read-only access", "app", app, "user", user, "remote", r.RemoteAddr)
		textError(w, http.StatusForbidden, fmt.Sprintf("You may clone and fetch app %s but not push to it: a push deploys, which needs the deployer role. Ask an owner of %s.", app, app))
		return false
	}
	return true
}

// textError answers with a plain-text message; git shows such a body of an
// info/refs answer to the user as "remote: ..." lines.
func textError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}

// noCache sets the headers git http-backend sets: nothing here may be cached.
func noCache(h http.Header) {
	h.Set("Expires", "Fri, 01 Jan 1980 00:00:00 GMT")
	h.Set("Pragma", "no-cache")
	h.Set("Cache-Control", "no-cache, max-age=0, must-revalidate")
}
