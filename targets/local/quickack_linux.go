package local

import (
	"net"
	"syscall"
)

// quickAckListener acknowledges what its connections receive at once
// (TCP_QUICKACK, set again before every read: the kernel clears it).
//
// A sandboxed function reaches the Seedbed servers on the host (its
// Lambda Runtime API, its instance API) through pasta, whose socket on the
// host side sends with Nagle's algorithm: a request written in two
// segments waits with the second until the first is acknowledged, and a
// delayed acknowledgement takes 40 ms. Every Lambda invocation of a
// sandboxed handler paid that, most of the time.
type quickAckListener struct{ net.Listener }

func (l quickAckListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c, nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c, nil
	}
	return &quickAckConn{TCPConn: tc, raw: rc}, nil
}

// quickAckConn sets TCP_QUICKACK before each read.
type quickAckConn struct {
	*net.TCPConn
	raw syscall.RawConn
}

func (c *quickAckConn) Read(p []byte) (int, error) {
	_ = c.raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
	return c.TCPConn.Read(p)
}
