package local

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"syscall"
)

// listeningInodes returns the socket inodes of the TCP listeners on port at
// an address that receives connections to 127.0.0.1 (the health check and
// the gateway dial that address): 127.0.0.1, 0.0.0.0, :: and
// ::ffff:127.0.0.1.
//
// It asks the kernel through sock_diag (what ss uses) for listening
// sockets only. /proc/net/tcp would give the same, but reading it walks
// the whole established-connection hash table: 9 ms a read here with 28
// sockets, paid by every start of an unconfined function.
func listeningInodes(port int) (map[string]bool, error) {
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, syscall.NETLINK_INET_DIAG)
	if err != nil {
		return nil, fmt.Errorf("sock_diag: %w", err)
	}
	defer syscall.Close(fd)
	inodes := map[string]bool{}
	for _, family := range []uint8{syscall.AF_INET, syscall.AF_INET6} {
		if err := dumpListeners(fd, family, port, inodes); err != nil {
			return nil, err
		}
	}
	return inodes, nil
}

// Sizes and offsets of linux/inet_diag.h's structures.
const (
	sizeofDiagReq     = 56 // inet_diag_req_v2: family, protocol, ext, pad, states, inet_diag_sockid (48)
	diagMsgSport      = 4  // inet_diag_msg: family, state, timer, retrans, then inet_diag_sockid
	diagMsgSrc        = 8
	diagMsgInode      = 68 // after the sockid (48) and expires, rqueue, wqueue, uid
	sizeofDiagMsg     = 72
	tcpListenStateBit = 1 << 10 // TCP_LISTEN
	sockDiagByFamily  = 20      // SOCK_DIAG_BY_FAMILY
)

// dumpListeners adds the listeners of one address family to inodes.
func dumpListeners(fd int, family uint8, port int, inodes map[string]bool) error {
	req := make([]byte, syscall.NLMSG_HDRLEN+sizeofDiagReq)
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], sockDiagByFamily)
	binary.NativeEndian.PutUint16(req[6:], syscall.NLM_F_REQUEST|syscall.NLM_F_DUMP)
	body := req[syscall.NLMSG_HDRLEN:]
	body[0], body[1] = family, syscall.IPPROTO_TCP
	binary.NativeEndian.PutUint32(body[4:], tcpListenStateBit)
	if err := syscall.Sendto(fd, req, 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		return fmt.Errorf("sock_diag: %w", err)
	}
	buf := make([]byte, 64<<10)
	for {
		n, _, err := syscall.Recvfrom(fd, buf, 0)
		if err != nil {
			return fmt.Errorf("sock_diag: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return fmt.Errorf("sock_diag: %w", err)
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case syscall.NLMSG_DONE:
				return nil
			case syscall.NLMSG_ERROR:
				return fmt.Errorf("sock_diag: the kernel refused the dump of family %d", family)
			}
			d := m.Data
			if len(d) < sizeofDiagMsg || int(binary.BigEndian.Uint16(d[diagMsgSport:])) != port {
				continue
			}
			if receivesLoopback(d[0], d[diagMsgSrc:diagMsgSrc+16]) {
				inodes[strconv.FormatUint(uint64(binary.NativeEndian.Uint32(d[diagMsgInode:])), 10)] = true
			}
		}
	}
}

// receivesLoopback reports whether a listener bound to src (inet_diag's
// 16-byte address) receives connections to 127.0.0.1.
func receivesLoopback(family uint8, src []byte) bool {
	zero := func(b []byte) bool {
		for _, c := range b {
			if c != 0 {
				return false
			}
		}
		return true
	}
	loopback4 := []byte{127, 0, 0, 1}
	if family == syscall.AF_INET {
		return zero(src[:4]) || string(src[:4]) == string(loopback4)
	}
	// ::, or ::ffff:127.0.0.1
	return zero(src) || zero(src[:10]) && src[10] == 0xff && src[11] == 0xff && string(src[12:16]) == string(loopback4)
}
