// Package netguard decides which network addresses Seedbed may connect to
// on a user's behalf (fetching an app's repository, listing its refs,
// posting commit statuses to a forge), and provides the dialer and HTTP
// client that hold every such connection to that decision.
//
// A user who may set a URL that the server then requests could otherwise
// make Seedbed reach what only the server can reach: its own ports, a
// database or queue on loopback with trust auth, a cloud metadata service
// at 169.254.169.254, other machines of a private network. So addresses on
// loopback, private, link-local, unique-local and similar ranges are
// refused unless the operator allows them (Policy.AllowPrivate). The check
// runs on the address actually connected to, after DNS resolution, so a
// hostname that resolved to a public address when the URL was saved and to
// 127.0.0.1 when it is fetched (DNS rebinding) is refused too, and so is a
// redirect to such an address.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Setting names the operator's switch that allows private addresses, as
// refusals quote it.
const Setting = "--allow-private-repos (SEEDBED_ALLOW_PRIVATE_REPOS=true)"

// Policy says which addresses connections made for users may reach. The
// zero Policy refuses every address that is not public.
type Policy struct {
	// AllowPrivate lets connections reach loopback, private, link-local
	// and the other non-public ranges: for a forge on the same host or
	// network as Seedbed. It applies to every app.
	AllowPrivate bool
}

// BlockedError is a refused connection: the host asked for, the address it
// resolved to, and why that address is refused.
type BlockedError struct {
	Host   string     // as given: a name or an address
	Addr   netip.Addr // the address refused
	Reason string     // e.g. "loopback", "private"
}

func (e *BlockedError) Error() string {
	at := e.Addr.String()
	if e.Host != "" && e.Host != at {
		at = e.Host + " (" + at + ")"
	}
	return fmt.Sprintf("%s is a %s address; Seedbed does not connect to loopback, private or link-local addresses for apps "+
		"unless an admin starts it with %s", at, e.Reason, Setting)
}

// IsBlocked tells whether err comes from a connection the policy refused.
func IsBlocked(err error) bool {
	var b *BlockedError
	return errors.As(err, &b)
}

type prefixReason struct {
	prefix netip.Prefix
	reason string
}

// nonPublic lists the ranges that are not the public internet, by why.
// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are unmapped before the
// check, so they are judged as the IPv4 address they reach.
var nonPublic = func() []prefixReason {
	var out []prefixReason
	for _, r := range []struct{ cidr, reason string }{
		{"0.0.0.0/8", "unspecified"}, // "this network"; 0.0.0.0 reaches the local host
		{"127.0.0.0/8", "loopback"},
		{"10.0.0.0/8", "private"},
		{"172.16.0.0/12", "private"},
		{"192.168.0.0/16", "private"},
		{"100.64.0.0/10", "shared (carrier-grade NAT)"},
		{"169.254.0.0/16", "link-local"}, // cloud metadata services live here
		{"192.0.0.0/24", "IETF protocol assignment"},
		{"198.18.0.0/15", "benchmarking"},
		{"224.0.0.0/4", "multicast"},
		{"240.0.0.0/4", "reserved"}, // and 255.255.255.255, broadcast
		{"::/128", "unspecified"},
		{"::1/128", "loopback"},
		{"::/96", "IPv4-compatible"}, // deprecated ::a.b.c.d
		{"64:ff9b::/96", "NAT64"},    // judged by the IPv4 address it embeds, below
		{"fc00::/7", "unique-local"},
		{"fe80::/10", "link-local"},
		{"fec0::/10", "site-local"},
		{"ff00::/8", "multicast"},
	} {
		out = append(out, prefixReason{netip.MustParsePrefix(r.cidr), r.reason})
	}
	return out
}()

// Reason tells why ip is not a public address ("loopback", "private",
// "link-local", ...), or "" for a public one.
func Reason(ip netip.Addr) string {
	if !ip.IsValid() {
		return "invalid"
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() && netip.MustParsePrefix("64:ff9b::/96").Contains(ip) {
		// NAT64 reaches the IPv4 address in the low 32 bits.
		b := ip.As16()
		if r := Reason(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})); r != "" {
			return r
		}
		return ""
	}
	for _, p := range nonPublic {
		if p.prefix.Contains(ip) {
			return p.reason
		}
	}
	return ""
}

// CheckAddr refuses ip unless it is public or the policy allows private
// addresses. host is what was asked for, for the message.
func (p Policy) CheckAddr(host string, ip netip.Addr) error {
	if p.AllowPrivate {
		return nil
	}
	if r := Reason(ip); r != "" {
		return &BlockedError{Host: host, Addr: ip.Unmap().WithZone(""), Reason: r}
	}
	return nil
}

// ParseHostIP reads host as an IP address the way the C library's resolver
// would, so "2130706433", "0x7f000001", "0177.0.0.1" and "127.1" all read
// as 127.0.0.1, as well as the usual forms ("127.0.0.1", "::1", "[::1]").
// ok is false for a host name.
func ParseHostIP(host string) (netip.Addr, bool) {
	h := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip, true
	}
	return parseLooseIPv4(h)
}

// parseLooseIPv4 reads inet_aton's forms: one to four parts, each decimal,
// octal (leading 0) or hex (leading 0x), the last part filling the bytes
// the others leave.
func parseLooseIPv4(s string) (netip.Addr, bool) {
	s = strings.TrimSuffix(s, ".")
	parts := strings.Split(s, ".")
	if s == "" || len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		base := 10
		switch {
		case strings.HasPrefix(p, "0x") || strings.HasPrefix(p, "0X"):
			p, base = p[2:], 16
			if p == "" {
				p = "0"
			}
		case len(p) > 1 && p[0] == '0':
			p, base = p[1:], 8
		}
		v, err := strconv.ParseUint(p, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	var n uint64
	for i, v := range vals[:len(vals)-1] {
		if v > 255 {
			return netip.Addr{}, false
		}
		n |= v << (24 - 8*uint(i))
	}
	last := vals[len(vals)-1]
	if last >= 1<<(8*uint(5-len(vals))) {
		return netip.Addr{}, false
	}
	n |= last
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

// Resolver looks host names up; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// CheckHost refuses a host that is, or resolves to, an address the policy
// refuses. A name that does not resolve passes: the connection, which
// checks again after its own lookup, will fail or be refused then. This is
// the early check, made when a user saves a URL; the dialer is the one
// that counts.
func (p Policy) CheckHost(ctx context.Context, r Resolver, host string) error {
	if p.AllowPrivate {
		return nil
	}
	if ip, ok := ParseHostIP(host); ok {
		return p.CheckAddr(host, ip)
	}
	if r == nil {
		r = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, ip := range ips {
		if err := p.CheckAddr(host, ip); err != nil {
			return err
		}
	}
	return nil
}

// Dialer returns a dialer that refuses, right before connecting, every
// address the policy refuses: after DNS resolution, for each address
// tried, so neither a rebinding name nor a redirect gets around it.
func (p Policy) Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: p.control}
}

// control is the net.Dialer hook that sees the resolved address.
func (p Policy) control(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("netguard: dial %s: %w", address, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("netguard: dial %s: not an IP address", address)
	}
	return p.CheckAddr("", ip)
}

// Transport returns an HTTP transport whose every connection goes through
// p's dialer. It uses no proxy from the environment: a proxy would make
// the connection, and the address checked would be the proxy's.
func (p Policy) Transport() *http.Transport {
	return &http.Transport{
		DialContext:           p.Dialer(30 * time.Second).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          10,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// HTTPClient returns a client whose connections, redirects included, are
// held to the policy; timeout 0 means none (a clone can take long).
func (p Policy) HTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Transport: p.Transport(), Timeout: timeout}
}
