package handoff

import (
	"fmt"
	"net"
	"os"
)

// Notify tells systemd (a unit with Type=notify) about the service:
// "READY=1" once it serves, and after a handoff "MAINPID=<pid>" too, so
// that systemd follows the new process rather than stopping the unit when
// the old one exits (the unit needs NotifyAccess=all, as the new process
// is not the one systemd started). Without NOTIFY_SOCKET it does nothing.
func Notify(getenv func(string) string, state string) error {
	addr := getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	if addr[0] == '@' {
		addr = "\x00" + addr[1:] // an abstract socket
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("notify systemd: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("notify systemd: %w", err)
	}
	return nil
}

// ReadyState is what a process that serves tells systemd: READY=1, and
// its own pid when it took over from another.
func ReadyState(h *Inherited) string {
	if h == nil {
		return "READY=1"
	}
	return fmt.Sprintf("MAINPID=%d\nREADY=1", os.Getpid())
}
