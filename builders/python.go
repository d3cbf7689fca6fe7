package builders

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/seedbed/seedbed/stack"
)

// PipInstall is the command that installs a python service's
// requirements.txt. The packages land in the service folder itself, next
// to the code, as in an AWS Lambda zip: with the artifact's root on
// sys.path (LAMBDA_TASK_ROOT for a lambda handler, the script's folder for
// `python3 app.py`) they import as they would on Lambda. Files the service
// folder already has win over the packages' (pip leaves them and says so).
const PipInstall = "python3 -m pip install -r requirements.txt --target . --no-cache-dir --disable-pip-version-check --no-compile --no-input"

// pipInstall installs a python service's requirements.txt into the
// service folder. When pip fails because no package index is reachable,
// the error says so and what to do.
func pipInstall(ctx context.Context, r runAs, svcDir string, env []string, log Log) error {
	if !isFile(filepath.Join(svcDir, "requirements.txt")) {
		return nil
	}
	if _, err := lookPath(env, "python3"); err != nil {
		return fmt.Errorf("the service has a requirements.txt, but python3 is not installed on this machine (%w); install Python 3 with pip", err)
	}
	rec := &recordLog{Log: log}
	err := runShell(ctx, r, svcDir, env, "install", PipInstall, rec)
	if err == nil || ctx.Err() != nil {
		return err
	}
	lines := rec.lines()
	network := pipNetworkFailure(lines)
	if network == "" && slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "No matching distribution found for ") }) {
		// pip names connection errors only when it retries (PIP_RETRIES
		// may be 0): see for ourselves whether its indexes answer.
		network = indexUnreachable(ctx, env, lines)
	}
	return pipError(lines, network, err)
}

// pipError explains why pip failed, from the lines it printed; network
// says why no package index could be reached, if that is why.
func pipError(lines []string, network string, err error) error {
	pkg := ""
	for _, l := range lines {
		if p, ok := cutAfter(l, "No matching distribution found for "); ok {
			pkg = strings.TrimSpace(p)
		}
	}
	if network != "" {
		what := pkg
		if what == "" {
			what = "the packages in requirements.txt"
		}
		return fmt.Errorf("pip could not download %s: no package index reachable from this machine; vendor the dependency into the service folder or configure PIP_INDEX_URL (%s)", what, network)
	}
	if pkg != "" {
		return fmt.Errorf("pip found no distribution of %s on its package index; check requirements.txt (name, version, Python version): %w", pkg, err)
	}
	return fmt.Errorf("pip could not install requirements.txt (its output is in the log above): %w", err)
}

// pipNetworkFailure returns what pip's output says went wrong reaching a
// package index ("pip: connection refused"), or "".
func pipNetworkFailure(lines []string) string {
	for _, line := range lines {
		for _, marker := range []string{
			"Connection refused", "Name or service not known", "Temporary failure in name resolution",
			"Network is unreachable", "No route to host", "Read timed out", "Connection timed out",
			"ConnectTimeoutError", "ProxyError", "Failed to establish a new connection", "Could not fetch URL",
		} {
			if strings.Contains(line, marker) {
				return "pip: " + strings.ToLower(marker[:1]) + marker[1:]
			}
		}
	}
	return ""
}

// indexUnreachable tries to connect to the package indexes pip looked in
// (from its "Looking in indexes:" line; PyPI when it names none) and
// returns why none could be reached, or "" when one can, or when it cannot
// tell (a proxy is configured, or pip used no index).
func indexUnreachable(ctx context.Context, env, lines []string) string {
	for _, k := range []string{"HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"} {
		if v, ok := lookupEnvFold(env, k); ok && v != "" {
			return ""
		}
	}
	var indexes []string
	for _, l := range lines {
		if rest, ok := strings.CutPrefix(l, "Looking in indexes: "); ok {
			indexes = strings.Split(rest, ", ")
		}
	}
	if indexes == nil {
		if v, ok := lookupEnvFold(env, "PIP_NO_INDEX"); ok && v != "" && v != "0" && !strings.EqualFold(v, "false") && !strings.EqualFold(v, "no") {
			return ""
		}
		indexes = []string{"https://pypi.org/simple"}
	}
	why := ""
	for _, index := range indexes {
		u, err := url.Parse(strings.TrimSpace(index))
		if err != nil || u.Hostname() == "" {
			return ""
		}
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		if port == "" {
			return ""
		}
		dialer := net.Dialer{Timeout: indexProbeTimeout}
		conn, err := dialer.DialContext(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
		if err == nil {
			conn.Close()
			return ""
		}
		why = err.Error()
	}
	return why
}

// indexProbeTimeout bounds indexUnreachable's wait for each index.
const indexProbeTimeout = 5 * time.Second

func cutAfter(s, marker string) (string, bool) {
	if i := strings.Index(s, marker); i >= 0 {
		return s[i+len(marker):], true
	}
	return "", false
}

// recordLog passes lines on to Log and keeps the last ones.
type recordLog struct {
	Log
	mu   sync.Mutex
	last []string
}

// recordLines is how many lines a recordLog keeps.
const recordLines = 200

func (r *recordLog) Line(stream, text string) {
	r.mu.Lock()
	r.last = append(r.last, text)
	if len(r.last) > recordLines {
		r.last = r.last[len(r.last)-recordLines:]
	}
	r.mu.Unlock()
	r.Log.Line(stream, text)
}

func (r *recordLog) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.last...)
}

// cleanPython removes junk folders (see isJunk) from the service folder (a
// workspace copy) before it is packed.
//
// It works through an os.Root on svcDir, so that a folder the build
// swapped for a symlink cannot make Seedbed remove anything outside.
func cleanPython(svcDir string) error {
	r, err := os.OpenRoot(svcDir)
	if err != nil {
		return fmt.Errorf("leave out caches: %w", err)
	}
	defer r.Close()
	var junk []string
	err = fs.WalkDir(r.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != "." && d.IsDir() && isJunk(d.Name()) {
			junk = append(junk, p)
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("leave out caches: %w", err)
	}
	for _, p := range junk {
		if err := r.RemoveAll(p); err != nil {
			return fmt.Errorf("leave out caches: %w", err)
		}
	}
	return nil
}

// isJunk says whether a folder is left out of python artifacts: bytecode
// caches (they hold timestamps, so they would change every digest),
// virtual environments (made for another machine's paths) and git data.
func isJunk(name string) bool {
	switch name {
	case "__pycache__", ".venv", ".git":
		return true
	}
	return false
}

// checkPythonHandler makes sure the file a python function's handler
// names is in the service folder: for a lambda handler "app.handler",
// app.py (or the package app/__init__.py); for an http function, the
// entry file itself.
func checkPythonHandler(ws, svcDir string, fn stack.Function) error {
	var candidates []string
	if fn.Kind == stack.KindLambda {
		module, _, err := stack.SplitLambdaHandler("python", fn.Handler)
		if err != nil {
			return err
		}
		candidates = []string{module + ".py", module + "/__init__.py"}
	} else {
		if fn.Handler == "" || !filepath.IsLocal(filepath.FromSlash(fn.Handler)) {
			return fmt.Errorf("handler %q is not a file inside the service folder; give the entry file that serves HTTP on $PORT, e.g. app.py", fn.Handler)
		}
		candidates = []string{fn.Handler}
	}
	for _, c := range candidates {
		p := filepath.Join(svcDir, filepath.FromSlash(c))
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("handler %q: %w", fn.Handler, err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("handler %q: %s is not a file", fn.Handler, c)
		}
		if _, err := within(ws, p); err != nil {
			return fmt.Errorf("handler %q: %s: %w", fn.Handler, c, err)
		}
		return nil
	}
	return fmt.Errorf("handler %q: %s is not in the service folder after the build", fn.Handler, strings.Join(candidates, " or "))
}
