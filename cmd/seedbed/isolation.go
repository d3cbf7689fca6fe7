package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/seedbed/seedbed/sandbox"
	"github.com/seedbed/seedbed/targets/local"
)

// IsolationStatus says how functions are confined on this server, for the
// log, the console's admin banner and tests.
type IsolationStatus struct {
	// Mode is the setting: auto, sandbox or none.
	Mode sandbox.Isolation
	// Sandboxed says functions run in bubblewrap as users of their own.
	Sandboxed bool
	// OwnNetwork says sandboxed functions have a network of their own
	// (pasta) and cannot reach the host's loopback services.
	OwnNetwork bool
	// Warning, when not empty, says what is not confined and why; the
	// console shows it to admins.
	Warning string
}

// Isolation says how this server confines functions.
func (a *App) Isolation() IsolationStatus { return a.isolation }

// isolationFix is what the warnings and errors tell an admin to do.
const isolationFix = "install bubblewrap and passt (apt-get install bubblewrap passt), run Seedbed as root with its data dir where other users may pass (not under /root), and set --isolation sandbox to refuse to start without it"

// setupIsolation decides how functions run, from cfg.Isolation: "sandbox"
// fails unless bubblewrap and pasta work here, as root, with a data dir
// the functions' users can pass through; "auto" falls back to running
// functions unconfined and says so loudly; "none" (and empty, a Config
// made in code) runs them unconfined. checkDataDirReachable checks the
// data dir once it is prepared.
func setupIsolation(ctx context.Context, cfg Config, log *slog.Logger) (*sandbox.Runner, IsolationStatus, error) {
	mode := sandbox.Isolation(cfg.Isolation)
	if mode == "" {
		mode = sandbox.IsolationNone
	}
	st := IsolationStatus{Mode: mode}
	if !cfg.Deploys {
		return nil, st, nil // a build worker runs no function
	}
	if mode == sandbox.IsolationNone {
		st.Warning = fmt.Sprintf("isolation is off (--isolation none): functions run as Seedbed's own user (uid %d) and can read its data dir and reach every service on this host", os.Getuid())
		return nil, st, nil
	}
	var reason string
	r, err := sandbox.Detect(ctx)
	switch {
	case os.Geteuid() != 0:
		reason = fmt.Sprintf("Seedbed is not running as root (uid %d), so it cannot run functions as users of their own", os.Geteuid())
	case r == nil:
		reason = err.Error()
	case err != nil && mode == sandbox.IsolationSandbox:
		reason = err.Error() // pasta is missing or broken
	}
	if reason != "" {
		if mode == sandbox.IsolationSandbox {
			return nil, st, fmt.Errorf("--isolation sandbox: functions cannot be confined here: %s; %s, or set --isolation auto to run them unconfined", reason, sandbox.InstallHint)
		}
		st.Warning = "functions are NOT confined: " + reason + ". They run as Seedbed's own user and can read its data dir and reach every service on this host. To confine them, " + isolationFix + "."
		return nil, st, nil
	}
	st.Sandboxed = true
	st.OwnNetwork = r.Network()
	if !st.OwnNetwork {
		st.Warning = "functions run sandboxed but share the host's network (" + err.Error() + "): they can reach services on this host's loopback (the queue, databases, Seedbed's own ports)."
	}
	return r, st, nil
}

// checkDataDirReachable falls back from the sandbox (auto) or fails
// (sandbox) when the functions' users cannot pass through the data dir to
// their folders.
func checkDataDirReachable(cfg Config, st *IsolationStatus) (ok bool, err error) {
	uid := local.DefaultUIDBase
	// local.New opens data/run itself.
	if err := sandbox.CheckReachable(cfg.DataDir, uid, uid); err != nil {
		if st.Mode == sandbox.IsolationSandbox {
			return false, fmt.Errorf("--isolation sandbox: %w", err)
		}
		st.Sandboxed, st.OwnNetwork = false, false
		st.Warning = "functions are NOT confined: " + err.Error() + ". They run as Seedbed's own user and can read its data dir and reach every service on this host. To confine them, " + isolationFix + "."
		return false, nil
	}
	return true, nil
}

// logIsolation says in the log how functions run: an error-level line
// when they are not confined.
func logIsolation(log *slog.Logger, st IsolationStatus) {
	switch {
	case !st.Sandboxed:
		log.Error("SECURITY: "+st.Warning, "isolation", string(st.Mode))
	case st.Warning != "":
		log.Warn("SECURITY: "+st.Warning, "isolation", string(st.Mode))
	default:
		log.Info("functions run sandboxed (bubblewrap), each app as a user of its own, with a network of their own", "isolation", string(st.Mode))
	}
}
