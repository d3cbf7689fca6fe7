// Package sandbox runs untrusted commands confined with bubblewrap.
//
// A Spec says what a command may see and be: the unprivileged host user it
// runs as, the folders bound into it (read-only or writable), its working
// folder, environment and network. Command turns a Spec into a *Cmd whose
// exec.Cmd starts bwrap (https://github.com/containers/bubblewrap, Debian
// package bubblewrap), which runs the command:
//
//   - as Spec.UID/GID on the host: bwrap itself is started as that user
//     (never as root), so the kernel's own permission checks apply to
//     everything the command touches, and it gets no capability;
//   - in new user, mount, pid, ipc, uts and cgroup namespaces: it sees its
//     own processes only, with a /proc and a minimal /dev of its own;
//   - on a root file system that holds only the system's programs and
//     libraries (/usr, /bin, /lib*, read-only), the few files of /etc that
//     name resolution and TLS need, a private tmpfs /tmp and the Spec's
//     binds; not /home, /root, /var, /etc/shadow or Seedbed's data dir;
//   - in a session of its own (no terminal to inject input into), killed
//     with everything it started when bwrap dies (--die-with-parent and the
//     pid namespace: a process that called setsid cannot escape).
//
// The network is one of three (Network): the host's, none (loopback only),
// or a network namespace of its own with outbound access only
// (NetworkOutbound), connected by pasta (Debian package passt): the command
// reaches the internet but not the host's loopback services (a local
// PostgreSQL, Redis or Seedbed's own ports); listed host loopback ports are
// forwarded in (Spec.Reach) and listed ports of the command are forwarded
// out to the host's loopback (Spec.Publish).
//
// Because bwrap runs as the sandbox user, every folder bound into the
// sandbox must be reachable by that user on the host: each folder above it
// needs search (x) permission for it (CheckReachable says which is not).
package sandbox

import (
	"errors"
	"fmt"
	"strings"
)

// Isolation says whether Seedbed confines what it runs.
type Isolation string

const (
	// IsolationAuto confines where bubblewrap works and runs unconfined,
	// saying so loudly, where it does not.
	IsolationAuto Isolation = "auto"
	// IsolationSandbox confines always; Seedbed refuses to start without
	// a working bubblewrap.
	IsolationSandbox Isolation = "sandbox"
	// IsolationNone runs everything as Seedbed's own user, unconfined.
	IsolationNone Isolation = "none"
)

// ParseIsolation reads an isolation setting; empty means auto.
func ParseIsolation(s string) (Isolation, error) {
	switch i := Isolation(strings.ToLower(strings.TrimSpace(s))); i {
	case "":
		return IsolationAuto, nil
	case IsolationAuto, IsolationSandbox, IsolationNone:
		return i, nil
	}
	return "", fmt.Errorf("isolation %q: use auto, sandbox or none", s)
}

// InstallHint says how to get what the sandbox needs on Debian and Ubuntu.
const InstallHint = "install bubblewrap and passt (apt-get install bubblewrap passt)"

// Network is the network a sandboxed command gets.
type Network string

const (
	// NetworkOutbound is a network namespace of its own connected by pasta
	// with outbound access only: the host's loopback and the host itself
	// are out of reach, except the ports listed in Spec.Reach.
	NetworkOutbound Network = "outbound"
	// NetworkNone is a network namespace with only a loopback interface.
	NetworkNone Network = "none"
	// NetworkHost is the host's network, loopback services included.
	NetworkHost Network = "host"
)

// Bind is a host path made visible inside the sandbox.
type Bind struct {
	Src string // absolute host path
	Dst string // absolute path inside the sandbox; "" means Src
}

// Spec is what a sandboxed command may see and be.
type Spec struct {
	// UID and GID are the host user and group the command runs as; both
	// must be above 0. The command has no supplementary groups.
	UID, GID int
	// ReadOnly and Writable are bound into the sandbox in order, after
	// the system folders; a missing source is an error.
	ReadOnly []Bind
	Writable []Bind
	// Tmpfs lists extra private, empty, writable folders besides /tmp.
	Tmpfs []string
	// Dir is the working folder inside the sandbox; "" means /.
	Dir string
	// Env is the whole environment of the command.
	Env []string
	// Network is the command's network; "" means NetworkOutbound.
	Network Network
	// Publish lists TCP ports the command listens on (on 127.0.0.1 or
	// any address) that the host reaches at 127.0.0.1 on the same port;
	// NetworkOutbound only.
	Publish []int
	// Reach lists TCP ports of the host's loopback the command reaches at
	// 127.0.0.1 on the same port inside; NetworkOutbound only. Nothing else
	// on the host's loopback is reachable.
	Reach []int
	// Hostname is the command's host name; "" means "sandbox".
	Hostname string
}

// ErrUnavailable is wrapped by Probe's error when bubblewrap (or, for
// NetworkOutbound, pasta) is missing or does not work here.
var ErrUnavailable = errors.New("the sandbox is not available")

func (s Spec) check() error {
	if s.UID <= 0 || s.GID <= 0 {
		return fmt.Errorf("sandbox: uid %d / gid %d: a sandboxed command never runs as root; give a uid and gid above 0", s.UID, s.GID)
	}
	for _, b := range append(append([]Bind(nil), s.ReadOnly...), s.Writable...) {
		if !strings.HasPrefix(b.Src, "/") || (b.Dst != "" && !strings.HasPrefix(b.Dst, "/")) {
			return fmt.Errorf("sandbox: bind %q -> %q: paths must be absolute", b.Src, b.Dst)
		}
	}
	switch s.Network {
	case "", NetworkOutbound:
	case NetworkNone, NetworkHost:
		if len(s.Publish) > 0 || len(s.Reach) > 0 {
			return fmt.Errorf("sandbox: ports to publish or reach need network %q, not %q", NetworkOutbound, s.Network)
		}
	default:
		return fmt.Errorf("sandbox: network %q: use %s, %s or %s", s.Network, NetworkOutbound, NetworkNone, NetworkHost)
	}
	for _, p := range append(append([]int(nil), s.Publish...), s.Reach...) {
		if p <= 0 || p > 65535 {
			return fmt.Errorf("sandbox: port %d is not a TCP port", p)
		}
	}
	return nil
}
