package domains

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/seedbed/seedbed/store"
)

// Resolver looks host names up; *net.Resolver is one.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// DNSCheck is what a look-up of a domain found.
type DNSCheck struct {
	Status string   // store.DNSOK, DNSElsewhere, DNSMissing or DNSUnknown
	Addrs  []string // what the name resolved to
}

// checkDNS resolves name and compares its addresses with this server's
// public ones: it points here when every address it resolves to is one
// of ours (a name that also resolves elsewhere would fail validation from
// the CA's vantage points half the time). With no public address known,
// the status is unknown and issuance is tried anyway.
func checkDNS(ctx context.Context, r Resolver, public []net.IP, name string) DNSCheck {
	addrs, err := r.LookupHost(ctx, name)
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound || err == nil && len(addrs) == 0 {
		return DNSCheck{Status: store.DNSMissing}
	}
	if err != nil {
		return DNSCheck{Status: store.DNSUnknown}
	}
	slices.Sort(addrs)
	if len(public) == 0 {
		return DNSCheck{Status: store.DNSUnknown, Addrs: addrs}
	}
	for _, a := range addrs {
		ip := net.ParseIP(a)
		if ip == nil || !slices.ContainsFunc(public, ip.Equal) {
			return DNSCheck{Status: store.DNSElsewhere, Addrs: addrs}
		}
	}
	return DNSCheck{Status: store.DNSOK, Addrs: addrs}
}

// DetectPublicIPs lists the addresses of this machine's interfaces that
// the internet could reach: global unicast, neither private nor loopback.
// Behind NAT there are none; then --public-ip says what DNS should name.
func DetectPublicIPs() ([]net.IP, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("list this machine's addresses: %w", err)
	}
	var out []net.IP
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		if ip := n.IP; ip.IsGlobalUnicast() && !ip.IsPrivate() && !ip.IsLoopback() {
			out = append(out, ip)
		}
	}
	return out, nil
}

// ParseIPs reads a comma-separated list of addresses, as --public-ip
// takes it.
func ParseIPs(list string) ([]net.IP, error) {
	var out []net.IP
	for f := range strings.SplitSeq(list, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		ip := net.ParseIP(f)
		if ip == nil {
			return nil, fmt.Errorf("%q is not an IP address; write e.g. 203.0.113.7 or 2001:db8::7", f)
		}
		out = append(out, ip)
	}
	return out, nil
}
