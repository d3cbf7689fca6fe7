package local

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// portTakenError says that the port an unconfined function was given is
// held by a process outside the function's process group: another process
// bound it between freePort and the function's own bind. Answers from
// there are not the function's, so the start must not count them.
type portTakenError struct {
	fn   string
	port int
}

func (e *portTakenError) Error() string {
	return fmt.Sprintf("function %s: port %d was taken by another process before the function could listen on it", e.fn, e.port)
}

// portHeldByGroup reports whether every socket listening on port (for
// connections to 127.0.0.1) belongs to a process of group pgid. known is
// false where that cannot be told — no sock_diag or /proc, or a process's descriptors
// that Seedbed may not read — and the caller then trusts the port as it
// did before this check existed.
//
// Every listener must be the group's, not just one: with SO_REUSEPORT a
// process of the same user may share the port and take part of the
// connections.
func portHeldByGroup(port, pgid int) (held, known bool) {
	inodes, err := listeningInodes(port)
	if err != nil {
		return false, false
	}
	if len(inodes) == 0 {
		return false, true
	}
	// Most functions listen in the process Seedbed started (the group's
	// leader): look there first, so a start pays one small readdir.
	if ok := socketsOf(pgid, inodes); !ok {
		return false, false
	}
	if len(inodes) == 0 {
		return true, true
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return false, false
	}
	for _, d := range procs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == pgid {
			continue
		}
		if g, err := processGroup(pid); err != nil || g != pgid {
			continue
		}
		if ok := socketsOf(pid, inodes); !ok {
			return false, false
		}
		if len(inodes) == 0 {
			return true, true
		}
	}
	return false, true
}

// socketsOf removes from inodes the sockets process pid holds open. It
// returns false when pid's descriptors cannot be read although it exists.
func socketsOf(pid int, inodes map[string]bool) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	fds, err := os.ReadDir(dir)
	if err != nil {
		return os.IsNotExist(err) // gone: it holds nothing
	}
	for _, fd := range fds {
		link, err := os.Readlink(dir + "/" + fd.Name())
		if err != nil {
			continue // closed meanwhile
		}
		if inode, ok := strings.CutPrefix(link, "socket:["); ok {
			delete(inodes, strings.TrimSuffix(inode, "]"))
		}
	}
	return true
}
