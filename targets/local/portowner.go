package local

import (
	"bufio"
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

// receivesLoopback reports whether a listener's local address, as
// /proc/net/tcp{,6} spells it, receives connections to 127.0.0.1: the
// health check and the gateway dial that address.
func receivesLoopback(addr string) bool {
	switch addr {
	case "0100007F", // 127.0.0.1
		"00000000",                         // 0.0.0.0
		"00000000000000000000000000000000", // ::
		"0000000000000000FFFF00000100007F": // ::ffff:127.0.0.1
		return true
	}
	return false
}

// portHeldByGroup reports whether every socket listening on port (for
// connections to 127.0.0.1) belongs to a process of group pgid. known is
// false where that cannot be told — no /proc, or a process's descriptors
// that Seedbed may not read — and the caller then trusts the port as it
// did before this check existed.
//
// Every listener must be the group's, not just one: with SO_REUSEPORT a
// process of the same user may share the port and take part of the
// connections.
func portHeldByGroup(port, pgid int) (held, known bool) {
	inodes := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		if err := listeningInodes(table, port, inodes); err != nil {
			if table == "/proc/net/tcp6" && os.IsNotExist(err) {
				continue // IPv6 off
			}
			return false, false
		}
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

// listeningInodes adds to inodes the socket inodes of table's rows that
// listen on port at an address that receives loopback connections.
func listeningInodes(table string, port int, inodes map[string]bool) error {
	f, err := os.Open(table)
	if err != nil {
		return err
	}
	defer f.Close()
	want := fmt.Sprintf("%04X", port)
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != "0A" { // 0A: TCP_LISTEN
			continue
		}
		addr, p, ok := strings.Cut(fields[1], ":")
		if ok && p == want && receivesLoopback(addr) {
			inodes[fields[9]] = true
		}
	}
	return sc.Err()
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
