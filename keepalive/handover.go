package keepalive

import (
	"net"
	"sync"
	"time"
)

// handoverListener is the listener net/http's server accepts the loop's
// handed-over connections from.
type handoverListener struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newHandoverListener(addr net.Addr) *handoverListener {
	return &handoverListener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

// Accept returns the next handed-over connection.
func (l *handoverListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// deliver hands c to the server; false (and c closed) once the listener
// is closed.
func (l *handoverListener) deliver(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.closed:
		c.Close()
		return false
	}
}

// Close stops Accept; it may be called more than once.
func (l *handoverListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

// Addr is the address of the loop's listener.
func (l *handoverListener) Addr() net.Addr { return l.addr }

// replayConn is a handed-over connection: what the loop had read of it
// comes first.
type replayConn struct {
	net.Conn
	pending []byte
	// headBy is the head deadline the loop began with, or zero. net/http
	// starts a head's ReadHeaderTimeout anew when it gets the connection;
	// without the cap a client that dribbles a head net/http must read
	// would hold the connection for twice the timeout.
	headBy time.Time
}

// SetReadDeadline holds the first deadline net/http sets, the one for the
// head the loop began to read, to headBy.
func (c *replayConn) SetReadDeadline(t time.Time) error {
	if !c.headBy.IsZero() {
		if t.IsZero() || t.After(c.headBy) {
			t = c.headBy
		}
		c.headBy = time.Time{}
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite lets net/http's server half-close the connection before it
// closes it after an error, as it does with a *net.TCPConn.
func (c *replayConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
