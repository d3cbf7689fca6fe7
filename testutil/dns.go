package testutil

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// DNS is a tiny authoritative DNS server on loopback (UDP and TCP, one
// port: Pebble asks over TCP, Go's resolver over UDP) that answers A
// queries for the names a test sets, and NXDOMAIN for every other: what
// Pebble and Seedbed resolve a test's made-up domains with.
type DNS struct {
	// Addr is where it listens (127.0.0.1:port).
	Addr string
	mu   sync.Mutex
	a    map[string][]net.IP // fqdn, lower case → addresses
}

// StartDNS starts a DNS server answering with records (name → IPv4
// addresses) and stops it when t ends.
func StartDNS(t testing.TB, records map[string][]string) *DNS {
	t.Helper()
	var pc net.PacketConn
	var ln net.Listener
	for try := 0; ln == nil; try++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatalf("listen for DNS: %v", err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err != nil {
			pc.Close()
			if try == 20 {
				t.Fatalf("listen for DNS over TCP: %v", err)
			}
		}
	}
	d := &DNS{Addr: pc.LocalAddr().String(), a: map[string][]net.IP{}}
	for name, ips := range records {
		d.Set(name, ips...)
	}
	udp := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(d.serve)}
	tcp := &dns.Server{Listener: ln, Handler: dns.HandlerFunc(d.serve)}
	go func() { _ = udp.ActivateAndServe() }()
	go func() { _ = tcp.ActivateAndServe() }()
	t.Cleanup(func() {
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
	})
	return d
}

// Set makes name resolve to ips (none: NXDOMAIN).
func (d *DNS) Set(name string, ips ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fqdn := dns.Fqdn(strings.ToLower(name))
	if len(ips) == 0 {
		delete(d.a, fqdn)
		return
	}
	var out []net.IP
	for _, ip := range ips {
		out = append(out, net.ParseIP(ip))
	}
	d.a[fqdn] = out
}

func (d *DNS) serve(w dns.ResponseWriter, req *dns.Msg) {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, q := range req.Question {
		ips, ok := d.a[strings.ToLower(q.Name)]
		if !ok {
			resp.Rcode = dns.RcodeNameError
			continue
		}
		if q.Qtype != dns.TypeA {
			continue // no AAAA, CAA, TXT: an empty answer
		}
		for _, ip := range ips {
			if ip4 := ip.To4(); ip4 != nil {
				resp.Answer = append(resp.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: ip4})
			}
		}
	}
	_ = w.WriteMsg(resp)
}

// Resolver is a resolver that asks this server only.
func (d *DNS) Resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		dl := net.Dialer{Timeout: 2 * time.Second}
		return dl.DialContext(ctx, "udp", d.Addr)
	}}
}
