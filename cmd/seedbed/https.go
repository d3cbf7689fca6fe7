package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/seedbed/seedbed/domains"
)

// HTTPSConfig is how serve speaks HTTPS: on which address, with
// certificates from which ACME CA, for the console's domain, the stages'
// custom domains and the gateway's STAGE--APP hosts (docs/domains.md).
type HTTPSConfig struct {
	// Addr is where HTTPS is served; empty: no HTTPS, no custom domains.
	Addr string
	// CA is the ACME directory URL; empty: Let's Encrypt.
	CA string
	// Email is given to the CA for expiry notices.
	Email string
	// CARootFile is a PEM file of roots to trust for the CA's own HTTPS
	// (a private CA, or Pebble in tests); finish reads it into CARoots.
	CARootFile string
	CARoots    *x509.CertPool
	// ChallengeList is --acme-challenges as given; finish parses it into
	// Challenges.
	ChallengeList string
	Challenges    []string
	// HSTS, when positive, is the max-age of Strict-Transport-Security on
	// every HTTPS answer.
	HSTS time.Duration
	// ConsoleDomain is a host name the console answers on over HTTPS.
	ConsoleDomain string
	// PublicIPList is --public-ip as given; finish parses it into
	// PublicIPs, or detects them.
	PublicIPList string
	PublicIPs    []net.IP
	// DNS01 publishes DNS-01 challenges by RFC 2136 updates, for the
	// STAGE--APP hosts' wildcard certificate; nil without --acme-dns-server.
	// DNSResolverList is --acme-dns-resolvers as given; finish parses it.
	DNS01           *domains.DNSUpdate
	DNSResolverList string
	DNSResolvers    []string

	// No flags: tests point these at their own DNS server and make
	// short-lived certificates renew quickly.
	Resolver           domains.Resolver
	SyncInterval       time.Duration
	RenewCheckInterval time.Duration
	RenewalWindowRatio float64
}

// httpsFlags registers the HTTPS and ACME settings.
func httpsFlags(fs *pflag.FlagSet, env func(k, def string) string, c *Config) {
	h := &c.HTTPS
	fs.StringVar(&h.Addr, "https-addr", env("SEEDBED_HTTPS_ADDR", ""), "HTTPS listen address (e.g. :443) for stages' custom domains, STAGE--APP hosts and --console-domain, with certificates from ACME; empty: no HTTPS. The CA checks HTTP-01 on port 80 (the gateway: --gateway-addr :80) and TLS-ALPN-01 on 443 (SEEDBED_HTTPS_ADDR)")
	fs.StringVar(&h.CA, "acme-ca", env("SEEDBED_ACME_CA", domains.LetsEncrypt), "ACME directory URL certificates come from (SEEDBED_ACME_CA)")
	fs.StringVar(&h.Email, "acme-email", env("SEEDBED_ACME_EMAIL", ""), "email the ACME CA sends expiry notices to (SEEDBED_ACME_EMAIL)")
	fs.StringVar(&h.CARootFile, "acme-ca-root", env("SEEDBED_ACME_CA_ROOT", ""), "PEM file with the root(s) to trust for the ACME CA's own HTTPS, for a private CA; empty: the system's (SEEDBED_ACME_CA_ROOT)")
	fs.StringVar(&h.ChallengeList, "acme-challenges", env("SEEDBED_ACME_CHALLENGES", domains.HTTP01+","+domains.TLSALPN01), "ACME challenges to answer: http-01 (port 80), tls-alpn-01 (port 443) or both, comma-separated (SEEDBED_ACME_CHALLENGES)")
	hsts := c.envDuration(env, "SEEDBED_HSTS", 0, "8760h, or 0 for none")
	fs.DurationVar(&h.HSTS, "hsts", hsts, "send Strict-Transport-Security with this max-age (e.g. 8760h) on every HTTPS answer; 0: none. Browsers then refuse plain HTTP for the name that long (SEEDBED_HSTS)")
	fs.StringVar(&h.ConsoleDomain, "console-domain", env("SEEDBED_CONSOLE_DOMAIN", ""), "host name the console answers on over HTTPS, with its own certificate (needs --https-addr); it is also the default --public-url (SEEDBED_CONSOLE_DOMAIN)")
	h.DNS01 = &domains.DNSUpdate{Secret: env("SEEDBED_ACME_DNS_TSIG_SECRET", "")}
	fs.StringVar(&h.DNS01.Server, "acme-dns-server", env("SEEDBED_ACME_DNS_SERVER", ""), "primary DNS server (host:port) of the --domain zone that takes RFC 2136 updates: set it to get one wildcard certificate for every STAGE--APP host over DNS-01; the TSIG secret comes from SEEDBED_ACME_DNS_TSIG_SECRET (SEEDBED_ACME_DNS_SERVER)")
	fs.StringVar(&h.DNS01.KeyName, "acme-dns-tsig-key", env("SEEDBED_ACME_DNS_TSIG_KEY", ""), "name of the TSIG key that signs the DNS updates (SEEDBED_ACME_DNS_TSIG_KEY)")
	fs.StringVar(&h.DNS01.Algorithm, "acme-dns-tsig-algorithm", env("SEEDBED_ACME_DNS_TSIG_ALGORITHM", "hmac-sha256"), "TSIG algorithm: hmac-sha256 or hmac-sha512 (SEEDBED_ACME_DNS_TSIG_ALGORITHM)")
	fs.StringVar(&h.DNSResolverList, "acme-dns-resolvers", env("SEEDBED_ACME_DNS_RESOLVERS", ""), "comma-separated DNS servers (host:port) asked whether a DNS-01 record is visible yet; empty: the zone's own name servers (SEEDBED_ACME_DNS_RESOLVERS)")
	fs.StringVar(&h.PublicIPList, "public-ip", env("SEEDBED_PUBLIC_IP", ""), "comma-separated public addresses of this server, that domains' DNS must name; empty: the machine's public interface addresses (SEEDBED_PUBLIC_IP)")
}

// finish checks the HTTPS settings and reads what they name.
func (h *HTTPSConfig) finish() error {
	if h.Addr == "" {
		if h.ConsoleDomain != "" {
			return errors.New("--console-domain needs --https-addr: the console's domain is served over HTTPS")
		}
		if h.DNS01 != nil && h.DNS01.Server != "" {
			return errors.New("--acme-dns-server needs --https-addr: the wildcard certificate it obtains is served over HTTPS")
		}
		return nil
	}
	if _, _, err := net.SplitHostPort(h.Addr); err != nil {
		return fmt.Errorf("--https-addr %q: want host:port or :port, such as :443", h.Addr)
	}
	if h.ConsoleDomain != "" {
		name, err := domains.Normalize(h.ConsoleDomain)
		if err != nil {
			return fmt.Errorf("--console-domain: %w", err)
		}
		h.ConsoleDomain = name
	}
	if h.CARootFile != "" && h.CARoots == nil {
		b, err := os.ReadFile(h.CARootFile)
		if err != nil {
			return fmt.Errorf("--acme-ca-root: %w", err)
		}
		h.CARoots = x509.NewCertPool()
		if !h.CARoots.AppendCertsFromPEM(b) {
			return fmt.Errorf("--acme-ca-root %s holds no PEM certificate", h.CARootFile)
		}
	}
	if h.Challenges == nil {
		if h.ChallengeList == "" {
			h.ChallengeList = domains.HTTP01 + "," + domains.TLSALPN01
		}
		for f := range strings.SplitSeq(h.ChallengeList, ",") {
			switch f = strings.ToLower(strings.TrimSpace(f)); f {
			case "":
			case domains.HTTP01, domains.TLSALPN01:
				h.Challenges = append(h.Challenges, f)
			default:
				return fmt.Errorf("--acme-challenges: %q is not http-01 or tls-alpn-01 (DNS-01 serves the STAGE--APP hosts' wildcard certificate when --acme-dns-server is set)", f)
			}
		}
	}
	if h.DNS01 != nil && h.DNS01.Server == "" {
		h.DNS01 = nil
	}
	if h.DNS01 != nil {
		if err := h.DNS01.Check(); err != nil {
			return err
		}
		for r := range strings.SplitSeq(h.DNSResolverList, ",") {
			if r = strings.TrimSpace(r); r == "" {
				continue
			}
			if _, _, err := net.SplitHostPort(r); err != nil {
				r = net.JoinHostPort(r, "53")
			}
			h.DNSResolvers = append(h.DNSResolvers, r)
		}
	}
	if h.HSTS < 0 {
		return fmt.Errorf("--hsts must be 0 (none) or a duration such as 8760h, not %s", h.HSTS)
	}
	if h.PublicIPs == nil {
		ips, err := domains.ParseIPs(h.PublicIPList)
		if err != nil {
			return fmt.Errorf("--public-ip: %w", err)
		}
		if len(ips) == 0 {
			if ips, err = domains.DetectPublicIPs(); err != nil {
				return err
			}
		}
		h.PublicIPs = ips
	}
	return nil
}

// httpsURL is the URL of name on the HTTPS listener ln.
func httpsURL(name string, ln net.Listener) string {
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	if port == "443" {
		return "https://" + name
	}
	return "https://" + name + ":" + port
}

// newDomains makes the manager of custom domains and certificates, which
// answers ACME challenges on the gateway's and the HTTPS listener's ports.
// objs, when not nil, keeps the certificates in the bucket of
// --artifact-store instead of the database.
func (a *App) newDomains(cfg Config, sealer domains.Sealer, objs domains.Objects, log *slog.Logger) (*domains.Manager, error) {
	h := cfg.HTTPS
	return domains.New(domains.Config{
		Store: a.store, Sealer: sealer, Objects: objs, CA: h.CA, Email: h.Email, CARoots: h.CARoots, Challenges: h.Challenges,
		HTTPAddr: a.gatewayLn.Addr().String(), HTTPSAddr: a.httpsLn.Addr().String(),
		HSTS: h.HSTS, ConsoleDomain: h.ConsoleDomain, HostDomain: cfg.Domain, PublicIPs: h.PublicIPs,
		DNS01: h.DNS01, DNSResolvers: h.DNSResolvers,
		Resolver: h.Resolver, SyncInterval: h.SyncInterval, RenewCheckInterval: h.RenewCheckInterval, RenewalWindowRatio: h.RenewalWindowRatio,
		Logger: log.With("part", "domains"),
	})
}

// httpsLong tells the HTTPS requests whose bodies may take long: those to
// functions and git pushes, as on their own servers.
func httpsLong(consoleDomain string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		return !strings.EqualFold(hostOf(r.Host), consoleDomain) || isGitRequest(r)
	}
}

func hostOf(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// serveTLS serves HTTPS until the server is shut down.
func (a *App) serveTLS() {
	if err := a.https.ServeTLS(a.httpsLn, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
		a.log.Error("server stopped", "server", "https", "err", err)
	}
}

// HTTPSAddr is where HTTPS is served, or "" for nowhere.
func (a *App) HTTPSAddr() string {
	if a.httpsLn == nil {
		return ""
	}
	return a.httpsLn.Addr().String()
}

// startDomains obtains the certificates the manager is to hold and serves
// HTTPS.
func (a *App) startDomains(ctx context.Context) error {
	if a.domains == nil {
		return nil
	}
	if err := a.domains.Start(ctx); err != nil {
		return fmt.Errorf("start managing certificates: %w", err)
	}
	go a.serveTLS()
	return nil
}
