//go:build !linux

package local

import "net"

// quickAckListener is the listener itself where TCP_QUICKACK does not
// exist (see quickack_linux.go).
type quickAckListener struct{ net.Listener }
