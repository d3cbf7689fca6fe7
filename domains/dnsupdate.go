package domains

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libdns/libdns"
	"github.com/miekg/dns"
)

// DNSUpdate publishes the TXT records of ACME DNS-01 challenges with
// RFC 2136 dynamic updates signed with a TSIG key: the standard protocol
// BIND, Knot, PowerDNS, Windows DNS and most self-hosted DNS servers
// accept, so one provider serves every zone a team runs itself. The key
// should be allowed to change only _acme-challenge TXT records of the
// host routing zone (BIND: update-policy { grant KEY name
// _acme-challenge.example.com. TXT; }).
//
// It implements certmagic's DNSProvider (libdns.RecordAppender and
// RecordDeleter).
type DNSUpdate struct {
	// Server is the primary (master) DNS server of the zone, host:port.
	Server string
	// KeyName is the TSIG key's name; Secret its base64 secret.
	KeyName, Secret string
	// Algorithm is the TSIG algorithm; empty: hmac-sha256.
	Algorithm string
	// Timeout bounds one update; zero: 10s.
	Timeout time.Duration
}

// Check tells what is missing or malformed in the settings, in words a
// person fixing a flag understands.
func (u *DNSUpdate) Check() error {
	if u.Server == "" {
		return errors.New("DNS-01: no DNS server to send updates to (--acme-dns-server host:port)")
	}
	if !strings.Contains(u.Server, ":") {
		return fmt.Errorf("DNS-01: the DNS server %q needs a port, as in %s:53", u.Server, u.Server)
	}
	if u.KeyName == "" || u.Secret == "" {
		return errors.New("DNS-01: updates are signed with a TSIG key: set --acme-dns-tsig-key and SEEDBED_ACME_DNS_TSIG_SECRET")
	}
	switch u.algorithm() {
	case dns.HmacSHA256, dns.HmacSHA512, dns.HmacSHA384, dns.HmacSHA224, dns.HmacSHA1:
	default:
		return fmt.Errorf("DNS-01: TSIG algorithm %q is not supported: use hmac-sha256 (or hmac-sha512)", u.Algorithm)
	}
	return nil
}

func (u *DNSUpdate) algorithm() string {
	if u.Algorithm == "" {
		return dns.HmacSHA256
	}
	return dns.Fqdn(strings.ToLower(u.Algorithm))
}

// AppendRecords adds recs (TXT records only) to zone.
func (u *DNSUpdate) AppendRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	rrs, err := u.txtRecords(zone, recs)
	if err != nil {
		return nil, err
	}
	m := new(dns.Msg)
	m.SetUpdate(dns.Fqdn(zone))
	m.Insert(rrs)
	if err := u.send(ctx, zone, m); err != nil {
		return nil, fmt.Errorf("add the ACME challenge record to zone %s: %w", zone, err)
	}
	return recs, nil
}

// DeleteRecords removes recs (TXT records only, matched by name and
// text) from zone.
func (u *DNSUpdate) DeleteRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	rrs, err := u.txtRecords(zone, recs)
	if err != nil {
		return nil, err
	}
	m := new(dns.Msg)
	m.SetUpdate(dns.Fqdn(zone))
	m.Remove(rrs)
	if err := u.send(ctx, zone, m); err != nil {
		return nil, fmt.Errorf("remove the ACME challenge record from zone %s: %w", zone, err)
	}
	return recs, nil
}

// txtRecords turns libdns records into wire TXT records of zone.
func (u *DNSUpdate) txtRecords(zone string, recs []libdns.Record) ([]dns.RR, error) {
	out := make([]dns.RR, 0, len(recs))
	for _, rec := range recs {
		txt, ok := rec.(libdns.TXT)
		if !ok {
			rr := rec.RR()
			if rr.Type != "TXT" {
				return nil, fmt.Errorf("DNS-01 publishes TXT records only, not %s", rr.Type)
			}
			parsed, err := rr.Parse()
			if err != nil {
				return nil, err
			}
			if txt, ok = parsed.(libdns.TXT); !ok {
				return nil, fmt.Errorf("DNS-01: %s is not a TXT record", rr.Name)
			}
		}
		ttl := uint32(txt.TTL / time.Second)
		if ttl == 0 {
			ttl = 60
		}
		out = append(out, &dns.TXT{
			Hdr: dns.RR_Header{Name: dns.Fqdn(libdns.AbsoluteName(txt.Name, zone)), Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: ttl},
			Txt: splitTXT(txt.Text),
		})
	}
	return out, nil
}

// splitTXT cuts a text into the strings of at most 255 bytes a TXT record
// is made of.
func splitTXT(s string) []string {
	var parts []string
	for len(s) > 255 {
		parts = append(parts, s[:255])
		s = s[255:]
	}
	return append(parts, s)
}

// send signs m with the TSIG key and sends it to the server over TCP.
func (u *DNSUpdate) send(ctx context.Context, zone string, m *dns.Msg) error {
	if err := u.Check(); err != nil {
		return err
	}
	timeout := u.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	key := dns.Fqdn(strings.ToLower(u.KeyName))
	m.SetTsig(key, u.algorithm(), 300, time.Now().Unix())
	c := &dns.Client{Net: "tcp", Timeout: timeout, TsigSecret: map[string]string{key: u.Secret}}
	r, _, err := c.ExchangeContext(ctx, m, u.Server)
	if err != nil {
		return fmt.Errorf("DNS server %s: %w", u.Server, err)
	}
	if r.Rcode != dns.RcodeSuccess {
		why := dns.RcodeToString[r.Rcode]
		switch r.Rcode {
		case dns.RcodeRefused, dns.RcodeNotAuth:
			why += fmt.Sprintf(": the server does not let key %s change zone %s (check its update policy and the key's secret)", u.KeyName, zone)
		case dns.RcodeNotZone:
			why += fmt.Sprintf(": the server is not authoritative for zone %s", zone)
		}
		return fmt.Errorf("DNS server %s refused the update: %s", u.Server, why)
	}
	return nil
}
