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
	// zone, when set, is served with its SOA and takes RFC 2136 updates
	// of TXT records signed with the TSIG key the server was started
	// with (StartDNSZone).
	zone    string
	txt     map[string][]string // fqdn, lower case → texts
	updates int
}

// StartDNS starts a DNS server answering with records (name → IPv4
// addresses) and stops it when t ends.
func StartDNS(t testing.TB, records map[string][]string) *DNS {
	t.Helper()
	return startDNS(t, records, "", nil)
}

// StartDNSZone starts a DNS server that is also authoritative for zone:
// it answers its SOA, and TXT queries from records added by RFC 2136
// updates that are signed with the TSIG key keyName (hmac-sha256, base64
// secret); unsigned or wrongly signed updates are refused. It is the
// DNS-01 challenge's counterpart of a team's own DNS server.
func StartDNSZone(t testing.TB, zone, keyName, secret string, records map[string][]string) *DNS {
	t.Helper()
	return startDNS(t, records, zone, map[string]string{dns.Fqdn(strings.ToLower(keyName)): secret})
}

func startDNS(t testing.TB, records map[string][]string, zone string, tsig map[string]string) *DNS {
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
	d := &DNS{Addr: pc.LocalAddr().String(), a: map[string][]net.IP{}, txt: map[string][]string{}}
	if zone != "" {
		d.zone = dns.Fqdn(strings.ToLower(zone))
	}
	for name, ips := range records {
		d.Set(name, ips...)
	}
	udp := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(d.serve), TsigSecret: tsig, MsgAcceptFunc: acceptUpdates}
	tcp := &dns.Server{Listener: ln, Handler: dns.HandlerFunc(d.serve), TsigSecret: tsig, MsgAcceptFunc: acceptUpdates}
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

// acceptUpdates lets RFC 2136 updates through to the handler, which the
// library's default refuses as not implemented.
func acceptUpdates(h dns.Header) dns.MsgAcceptAction {
	const response = 1 << 15 // the QR bit
	if h.Bits&response == 0 && int(h.Bits>>11)&0xF == dns.OpcodeUpdate {
		return dns.MsgAccept
	}
	return dns.DefaultMsgAcceptFunc(h)
}

// TXT is what the server answers for name's TXT records now.
func (d *DNS) TXT(name string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.txt[dns.Fqdn(strings.ToLower(name))]...)
}

// Updates counts the signed updates the server applied.
func (d *DNS) Updates() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.updates
}

func (d *DNS) serve(w dns.ResponseWriter, req *dns.Msg) {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	d.mu.Lock()
	defer d.mu.Unlock()
	if req.Opcode == dns.OpcodeUpdate {
		resp.Rcode = d.update(w, req)
		if t := req.IsTsig(); t != nil && resp.Rcode != dns.RcodeNotAuth {
			resp.SetTsig(t.Hdr.Name, t.Algorithm, 300, time.Now().Unix())
		}
		_ = w.WriteMsg(resp)
		return
	}
	for _, q := range req.Question {
		name := strings.ToLower(q.Name)
		if d.zone != "" && (name == d.zone || strings.HasSuffix(name, "."+d.zone)) {
			d.answerZone(resp, q, name)
			continue
		}
		ips, ok := d.a[name]
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

// answerZone answers a question about a name in the server's zone.
func (d *DNS) answerZone(resp *dns.Msg, q dns.Question, name string) {
	soa := &dns.SOA{Hdr: dns.RR_Header{Name: d.zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 1},
		Ns: "ns." + d.zone, Mbox: "hostmaster." + d.zone, Serial: uint32(d.updates + 1), Refresh: 60, Retry: 60, Expire: 600, Minttl: 1}
	switch {
	case q.Qtype == dns.TypeSOA && name == d.zone:
		resp.Answer = append(resp.Answer, soa)
	case q.Qtype == dns.TypeTXT && len(d.txt[name]) > 0:
		for _, text := range d.txt[name] {
			resp.Answer = append(resp.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 1}, Txt: []string{text}})
		}
	case q.Qtype == dns.TypeA && len(d.a[name]) > 0:
		for _, ip := range d.a[name] {
			if ip4 := ip.To4(); ip4 != nil {
				resp.Answer = append(resp.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: ip4})
			}
		}
	default:
		resp.Ns = append(resp.Ns, soa) // no such record: the zone's SOA says whose it is
	}
}

// update applies an RFC 2136 update of TXT records in the zone, if it is
// signed with the server's key.
func (d *DNS) update(w dns.ResponseWriter, req *dns.Msg) int {
	if d.zone == "" || len(req.Question) != 1 || strings.ToLower(req.Question[0].Name) != d.zone {
		return dns.RcodeNotZone
	}
	if req.IsTsig() == nil || w.TsigStatus() != nil {
		return dns.RcodeNotAuth
	}
	for _, rr := range req.Ns {
		h := rr.Header()
		name := strings.ToLower(h.Name)
		if name != d.zone && !strings.HasSuffix(name, "."+d.zone) {
			return dns.RcodeNotZone
		}
		if h.Rrtype != dns.TypeTXT {
			return dns.RcodeRefused
		}
		text := ""
		if txt, ok := rr.(*dns.TXT); ok {
			text = strings.Join(txt.Txt, "")
		}
		switch h.Class {
		case dns.ClassINET: // add
			d.txt[name] = append(d.txt[name], text)
		case dns.ClassNONE: // delete this record
			kept := d.txt[name][:0]
			for _, have := range d.txt[name] {
				if have != text {
					kept = append(kept, have)
				}
			}
			d.txt[name] = kept
		case dns.ClassANY: // delete the name's records of the type
			delete(d.txt, name)
		}
	}
	d.updates++
	return dns.RcodeSuccess
}

// Resolver is a resolver that asks this server only.
func (d *DNS) Resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		dl := net.Dialer{Timeout: 2 * time.Second}
		return dl.DialContext(ctx, "udp", d.Addr)
	}}
}
