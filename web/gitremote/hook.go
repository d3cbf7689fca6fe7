package gitremote

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// hookFDsEnv names the file descriptors a hook talks to the server through:
// "<read>,<write>" as the hook sees them.
const hookFDsEnv = "SEEDBED_GIT_HOOK_FDS"

// hookRequest is what the pre-receive hook sends the server, once.
type hookRequest struct {
	Hook       string      `json:"hook"`
	Updates    []RefUpdate `json:"updates"`
	Options    []string    `json:"options,omitempty"`
	Quarantine string      `json:"quarantine,omitempty"`
}

// hookMessage is what the server sends the hook: progress messages, then
// one with Done set, carrying the reason for refusing the push if any.
type hookMessage struct {
	Progress string `json:"progress,omitempty"`
	Done     bool   `json:"done,omitempty"`
	Refuse   string `json:"refuse,omitempty"`
}

// RunHook is the git hook that repositories of the built-in remote run:
// `seedbed git-hook pre-receive`, with args being what follows "git-hook".
// It reads the ref updates git writes to stdin, hands them with the push
// options to the Seedbed server that is receiving the push, copies the
// server's progress to stdout (git shows it to the pusher as "remote:"
// lines) and returns the exit code git expects: 0 accepts the push, 1
// refuses it. getenv is os.Getenv outside tests.
//
// It finds the server through the file descriptors named by the
// SEEDBED_GIT_HOOK_FDS environment variable; without them (a push that did
// not come through the built-in remote) it refuses the push.
func RunHook(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) != 1 || args[0] != "pre-receive" {
		fmt.Fprintln(stderr, "usage: seedbed git-hook pre-receive (git runs it inside the built-in remote's repositories)")
		return 2
	}
	fds := getenv(hookFDsEnv)
	if fds == "" {
		fmt.Fprintln(stderr, "error: this repository takes pushes only through Seedbed's git remote: git push http://HOST/git/APP.git")
		return 1
	}
	fromServer, toServer, err := hookFiles(fds)
	if err != nil {
		fmt.Fprintf(stderr, "error: Seedbed's pre-receive hook: %v\n", err)
		return 1
	}
	defer fromServer.Close() //nolint:errcheck // read end
	defer toServer.Close()   //nolint:errcheck // closed below too
	stop := context.AfterFunc(ctx, func() {
		_ = fromServer.Close()
		_ = toServer.Close()
	})
	defer stop()

	req, err := readHookRequest(stdin, getenv)
	if err == nil {
		err = json.NewEncoder(toServer).Encode(req)
	}
	if err != nil {
		fmt.Fprintf(stderr, "error: Seedbed's pre-receive hook: %v\n", err)
		return 1
	}
	_ = toServer.Close()
	dec := json.NewDecoder(fromServer)
	for {
		var m hookMessage
		if err := dec.Decode(&m); err != nil {
			fmt.Fprintf(stderr, "error: Seedbed stopped answering (%v); the push is refused\n", err)
			return 1
		}
		if m.Progress != "" {
			if _, err := io.WriteString(stdout, m.Progress); err != nil {
				return 1
			}
		}
		if m.Done {
			if m.Refuse != "" {
				fmt.Fprintf(stderr, "error: %s\n", strings.TrimRight(m.Refuse, "\n"))
				return 1
			}
			return 0
		}
	}
}

// hookFiles opens the two descriptors "<read>,<write>".
func hookFiles(fds string) (from, to *os.File, err error) {
	rs, ws, ok := strings.Cut(fds, ",")
	r, rerr := strconv.Atoi(rs)
	w, werr := strconv.Atoi(ws)
	if !ok || rerr != nil || werr != nil || r < 3 || w < 3 {
		return nil, nil, fmt.Errorf("%s=%q is not two file descriptors", hookFDsEnv, fds)
	}
	from = os.NewFile(uintptr(r), "seedbed-from-server")
	to = os.NewFile(uintptr(w), "seedbed-to-server")
	if from == nil || to == nil {
		return nil, nil, fmt.Errorf("%s=%q: descriptors not open", hookFDsEnv, fds)
	}
	return from, to, nil
}

// readHookRequest collects what git hands a pre-receive hook: one
// "<old> <new> <ref>" line per ref on stdin, the push options in
// GIT_PUSH_OPTION_<n>, and where the pushed objects wait.
func readHookRequest(stdin io.Reader, getenv func(string) string) (hookRequest, error) {
	req := hookRequest{Hook: "pre-receive"}
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			return req, fmt.Errorf("unexpected ref update line from git: %q", sc.Text())
		}
		req.Updates = append(req.Updates, RefUpdate{Old: f[0], New: f[1], Ref: f[2]})
	}
	if err := sc.Err(); err != nil {
		return req, fmt.Errorf("read ref updates from git: %w", err)
	}
	if n, err := strconv.Atoi(getenv("GIT_PUSH_OPTION_COUNT")); err == nil {
		for i := range n {
			req.Options = append(req.Options, getenv("GIT_PUSH_OPTION_"+strconv.Itoa(i)))
		}
	}
	if q := getenv("GIT_QUARANTINE_PATH"); q != "" {
		// Hooks run in the repository, so a relative path is relative to it.
		abs, err := filepath.Abs(q)
		if err != nil {
			return req, fmt.Errorf("quarantine path: %w", err)
		}
		req.Quarantine = abs
	}
	if len(req.Updates) == 0 {
		return req, errors.New("git gave no ref updates")
	}
	return req, nil
}
