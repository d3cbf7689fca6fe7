// Package harness boots the real seedbed binary for the benchmarks under
// bench/: it builds ./cmd/seedbed, starts `seedbed serve` on free 127.0.0.1
// ports with a temporary data dir, signs in through the API and makes small
// Git repositories. Nothing here is used by the product.
package harness

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/seedbed/seedbed/web/apiv1"
)

// Admin credentials the benchmarks start Seedbed with.
const (
	AdminEmail    = "bench@seedbed.local"
	AdminPassword = "bench-password-1"
)

// ModuleRoot is the folder of Seedbed's go.mod.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("run the benchmarks from inside the seedbed module")
	}
	return filepath.Dir(mod), nil
}

// BuildBinary compiles ./cmd/seedbed into dir and returns its path, unless
// SEEDBED_BENCH_BINARY names a binary built already (useful while the tree
// does not compile, or to measure a fixed build).
func BuildBinary(dir string) (string, error) {
	if bin := os.Getenv("SEEDBED_BENCH_BINARY"); bin != "" {
		return bin, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "seedbed")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/seedbed")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/seedbed: %v\n%s", err, out)
	}
	return bin, nil
}

// Options says how to start a server.
type Options struct {
	Binary      string
	DataDir     string
	DatabaseURL string   // empty: SQLite in DataDir
	Env         []string // added to the server's environment (e.g. GOCACHE=…)
	NoLogin     bool     // do not make an API token
	// Addr and GatewayAddr are where the console and the gateway listen;
	// empty: a free port each (a restart on the same ones sets them).
	Addr, GatewayAddr string
}

// Server is a running `seedbed serve`.
type Server struct {
	Console, Gateway string // http://127.0.0.1:port
	API              *apiv1.Client
	cmd              *exec.Cmd
	done             chan struct{}
	LogPath          string
}

// FreeAddr returns a 127.0.0.1 address nothing listens on right now.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Start runs `seedbed serve` and waits until it answers, then signs in.
func Start(ctx context.Context, o Options) (*Server, error) {
	addr, gw := o.Addr, o.GatewayAddr
	var err error
	if addr == "" {
		if addr, err = FreeAddr(); err != nil {
			return nil, err
		}
	}
	if gw == "" {
		if gw, err = FreeAddr(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
		return nil, err
	}
	// The benchmarks' temporary folders are 0700; builds run as an
	// unprivileged user when Seedbed is root, who must pass through
	// to the caches under the data dir.
	if err := os.Chmod(filepath.Dir(o.DataDir), 0o711); err != nil {
		return nil, err
	}
	logPath := filepath.Join(o.DataDir, "..", filepath.Base(o.DataDir)+"-server.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.Binary, "serve", "--addr", addr, "--gateway-addr", gw, "--data-dir", o.DataDir)
	cmd.Env = append(os.Environ(), "SEEDBED_ADMIN_EMAIL="+AdminEmail, "SEEDBED_ADMIN_PASSWORD="+AdminPassword)
	if o.DatabaseURL != "" {
		cmd.Env = append(cmd.Env, "SEEDBED_DATABASE_URL="+o.DatabaseURL)
	}
	cmd.Env = append(cmd.Env, o.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start seedbed: %w", err)
	}
	s := &Server{Console: "http://" + addr, Gateway: "http://" + gw, cmd: cmd, done: make(chan struct{}), LogPath: logPath}
	go func() { cmd.Wait(); logf.Close(); close(s.done) }()
	OnFatal(s.Stop)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.Console + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case <-s.done:
			b, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("seedbed exited at start:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("seedbed did not answer on %s within 60 s (log: %s)", s.Console, logPath)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.API = apiv1.NewClient(s.Console, "")
	if !o.NoLogin {
		lr, err := s.API.Login(ctx, apiv1.LoginRequest{Email: AdminEmail, Password: AdminPassword, TokenName: "bench"})
		if err != nil {
			s.Stop()
			return nil, fmt.Errorf("login: %w", err)
		}
		s.API.Token = lr.Token
	}
	return s, nil
}

// Stop ends the server (SIGTERM, then SIGKILL after 20 s).
func (s *Server) Stop() {
	if s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
}

// Repo is a Git repository in a temporary folder.
type Repo struct{ Dir string }

// NewRepo makes an empty repository with branch main.
func NewRepo(dir string) (*Repo, error) {
	r := &Repo{Dir: dir}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if _, err := r.Git("init", "-q", "-b", "main"); err != nil {
		return nil, err
	}
	return r, nil
}

// Git runs git in the repository.
func (r *Repo) Git(args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = r.Dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Bench", "GIT_AUTHOR_EMAIL=bench@example.com",
		"GIT_COMMITTER_NAME=Bench", "GIT_COMMITTER_EMAIL=bench@example.com", "GIT_TERMINAL_PROMPT=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// Commit writes files and commits them.
func (r *Repo) Commit(msg string, files map[string]string) error {
	for name, body := range files {
		p := filepath.Join(r.Dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return err
		}
	}
	if _, err := r.Git("add", "-A"); err != nil {
		return err
	}
	_, err := r.Git("commit", "-q", "-m", msg)
	return err
}

// WaitDeploy polls a deploy until it ends and returns it.
func WaitDeploy(ctx context.Context, api *apiv1.Client, id uint, limit time.Duration) (apiv1.Deploy, error) {
	deadline := time.Now().Add(limit)
	for {
		d, err := api.GetDeploy(ctx, id)
		if err != nil {
			return d, err
		}
		switch d.Status {
		case "succeeded":
			return d, nil
		case "failed", "cancelled", "superseded", "rejected":
			return d, fmt.Errorf("deploy %d ended %s: %s", id, d.Status, d.Error)
		}
		if time.Now().After(deadline) {
			return d, fmt.Errorf("deploy %d still %s after %s", id, d.Status, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// GoHTTPFunction is a Go HTTP function answering "VERSION <path>".
func GoHTTPFunction(version string) string {
	return `package main

import (
	"net/http"
	"os"
)

const version = "` + version + `"

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(version + " " + r.URL.Path))
	})
	http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil)
}
`
}

// GoMod is the go.mod of the benchmark functions.
const GoMod = "module example.com/benchfn\n\ngo 1.22\n"

// Stats summarises durations.
type Stats struct {
	N                       int
	Min, P50, P90, P99, Max time.Duration
	Mean                    time.Duration
}

// Summarise computes order statistics (nearest rank).
func Summarise(ds []time.Duration) Stats {
	if len(ds) == 0 {
		return Stats{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		if i < 0 {
			i = 0
		}
		return s[i]
	}
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return Stats{N: len(s), Min: s[0], P50: rank(0.50), P90: rank(0.90), P99: rank(0.99), Max: s[len(s)-1], Mean: sum / time.Duration(len(s))}
}

// Ms formats a duration in milliseconds with one decimal.
func Ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// Boot is how a benchmark begins: a temporary folder named for it, the
// binary built into it and a server started on a data dir inside it, with
// env added to the server's environment. Any failure ends the program
// (Fatal). done stops the server and removes the folder; defer it.
func Boot(ctx context.Context, name string, env ...string) (srv *Server, tmp string, done func()) {
	tmp, err := os.MkdirTemp("", "seedbed-bench-"+name+"-")
	if err != nil {
		Fatal(err)
	}
	OnFatal(func() { os.RemoveAll(tmp) })
	bin, err := BuildBinary(tmp)
	if err != nil {
		Fatal(err)
	}
	srv, err = Start(ctx, Options{Binary: bin, DataDir: filepath.Join(tmp, "data"), Env: env})
	if err != nil {
		Fatal(err)
	}
	return srv, tmp, func() { srv.Stop(); os.RemoveAll(tmp) }
}

// PID is the server process's id (for its CPU time in /proc).
func (s *Server) PID() int { return s.cmd.Process.Pid }

// DeployNew is how most benchmarks get a function running: files are
// committed to a new repository in dir, the app is created from it and its
// stage dev deployed, within limit. Any failure ends the program, after
// the build's log.
func DeployNew(ctx context.Context, srv *Server, dir, app string, files map[string]string, limit time.Duration) apiv1.DeployResponse {
	repo, err := NewRepo(dir)
	if err != nil {
		Fatal(err)
	}
	if err := repo.Commit("v1", files); err != nil {
		Fatal(err)
	}
	if _, err := srv.API.CreateApp(ctx, apiv1.CreateAppRequest{Name: app, RepoURL: repo.Dir, Branch: "main"}); err != nil {
		Fatal(err)
	}
	dr, err := srv.API.Deploy(ctx, app, apiv1.DeployRequest{Stage: "dev"})
	if err != nil {
		Fatal(err)
	}
	if _, err := WaitDeploy(ctx, srv.API, dr.Deploy.ID, limit); err != nil {
		page, _ := srv.API.BuildLogs(ctx, dr.Build.ID, 0)
		for _, l := range page.Lines {
			fmt.Println("  ", l.Text)
		}
		Fatal(err)
	}
	return dr
}
