package domains

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
)

// Store is what the Manager keeps in the database: the domains, and the
// certificates (ObjectStore).
type Store interface {
	ObjectStore
	Domains(ctx context.Context) ([]store.Domain, error)
	AppDomains(ctx context.Context, appID uint) ([]store.Domain, error)
	DomainByName(ctx context.Context, name string) (store.Domain, error)
	CreateDomain(ctx context.Context, d *store.Domain) error
	DeleteDomain(ctx context.Context, appID uint, name string) error
	DomainRouteByName(ctx context.Context, name string) (store.DomainRoute, error)
	SetDomainCert(ctx context.Context, name string, c store.DomainCert) error
	SetDomainDNS(ctx context.Context, name, status, addrs string) error
	AppByName(ctx context.Context, name string) (store.App, error)
	StageByName(ctx context.Context, appID uint, name string) (store.Stage, error)
}

// Challenge types the Manager can answer.
const (
	HTTP01    = "http-01"
	TLSALPN01 = "tls-alpn-01"
)

// LetsEncrypt is the directory of Let's Encrypt's production CA, the
// default.
const LetsEncrypt = certmagic.LetsEncryptProductionCA

// Config is how a Manager obtains certificates and serves.
type Config struct {
	Store Store
	// Sealer encrypts the private keys kept in Store; nil keeps them in
	// clear.
	Sealer Sealer
	// Objects, when set, keeps certificates, keys, ACME accounts and
	// challenge tokens in a bucket instead of Store, every value sealed
	// (NewBucketStorage; Sealer is then required); the locks stay in
	// Store. Start first copies there what Store holds and the bucket
	// lacks (CopyMissing), so an install that moves to a bucket orders
	// no certificate again.
	Objects Objects
	// CA is the ACME directory URL; empty: Let's Encrypt.
	CA string
	// Email is given to the CA for expiry notices; it may be empty.
	Email string
	// CARoots are the roots trusted for the CA's own HTTPS (Pebble's
	// test CA); nil: the system's.
	CARoots *x509.CertPool
	// Challenges are the ACME challenge types to answer; empty: HTTP-01
	// and TLS-ALPN-01.
	Challenges []string
	// HTTPAddr is where this process serves plain HTTP (the gateway) and
	// HTTPSAddr where it serves HTTPS: the CA validates HTTP-01 on port
	// 80 and TLS-ALPN-01 on 443, so these are those ports or forwarded
	// from them. HTTPSPort is the port redirects to HTTPS name; 0: the
	// port of HTTPSAddr (none in the URL for 443).
	HTTPAddr, HTTPSAddr string
	HTTPSPort           int
	// HSTS, when positive, is the max-age of the Strict-Transport-Security
	// header sent on every HTTPS response.
	HSTS time.Duration
	// ConsoleDomain is a host name the console answers on over HTTPS,
	// with a certificate of its own; empty: none.
	ConsoleDomain string
	// HostDomain is the gateway's host routing domain: STAGE--APP.<it>
	// names get certificates on demand when the app and stage exist.
	HostDomain string
	// DNS01, when set, publishes DNS-01 challenges in the host routing
	// domain's zone by RFC 2136 updates, so the STAGE--APP.<HostDomain>
	// names are served by one wildcard certificate (*.<HostDomain>), which
	// only DNS-01 can obtain, instead of one certificate per name (each
	// counting against the CA's rate limits). Until the wildcard is
	// issued, handshakes for those names fail.
	DNS01 *DNSUpdate
	// DNSResolvers (host:port) are asked whether a DNS-01 record is
	// visible yet; empty: the zone's authoritative servers.
	DNSResolvers []string
	// PublicIPs are this server's addresses as DNS should name them;
	// empty: DNS states are unknown and issuance is tried regardless.
	PublicIPs []net.IP
	// Resolver looks domains up for their DNS state; nil: the system's.
	Resolver Resolver
	// SyncInterval is how often the Manager reads the domains again (other
	// processes add some) and checks their DNS; zero: a minute.
	SyncInterval time.Duration
	// RenewCheckInterval is how often certificates are checked for
	// renewal; zero: certmagic's default (10 minutes). RenewalWindowRatio
	// is the part of a certificate's lifetime, at its end, in which it is
	// renewed; zero: a third.
	RenewCheckInterval time.Duration
	RenewalWindowRatio float64
	Logger             *slog.Logger
}

// Manager obtains, renews and serves the certificates of the registered
// domains, the console's domain and the gateway's STAGE--APP hosts.
type Manager struct {
	cfg Config
	log *slog.Logger
	// magic obtains and renews the registered domains' and the console's
	// certificates ahead of need; onDemand serves handshakes, from the
	// shared cache and database, obtaining certificates only for names
	// decide permits. certmagic defers everything to handshakes in a
	// config that has on-demand set, hence two. wildcard obtains and
	// renews *.<HostDomain> over DNS-01 (nil without Config.DNS01).
	magic, onDemand, wildcard *certmagic.Config
	cache                     *certmagic.Cache
	issuer                    *certmagic.ACMEIssuer
	storage                   *Storage
	fromDB                    *Storage // the database's, when storage is a bucket's: copied from at Start
	httpsPort                 int
	lookups                   *routeCache
	stop                      context.CancelFunc
	done                      chan struct{}
	mu                        sync.Mutex
	managed                   map[string]bool // names handed to certmagic by this process
	background                sync.WaitGroup
	closeOnce                 sync.Once
}

// New makes a Manager; Start makes it obtain certificates.
func New(cfg Config) (*Manager, error) {
	if cfg.Store == nil {
		return nil, errors.New("domains: no store")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.CA == "" {
		cfg.CA = LetsEncrypt
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.SyncInterval <= 0 {
		cfg.SyncInterval = time.Minute
	}
	if len(cfg.Challenges) == 0 {
		cfg.Challenges = []string{HTTP01, TLSALPN01}
	}
	for _, c := range cfg.Challenges {
		if c != HTTP01 && c != TLSALPN01 {
			return nil, fmt.Errorf("ACME challenge %q is not one Seedbed answers: use %s, %s or both", c, HTTP01, TLSALPN01)
		}
	}
	cfg.ConsoleDomain = strings.ToLower(strings.TrimSuffix(cfg.ConsoleDomain, "."))
	cfg.HostDomain = strings.ToLower(strings.TrimSuffix(cfg.HostDomain, "."))
	httpHost, httpPort, err := splitAddr(cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("the gateway's address %q: %w", cfg.HTTPAddr, err)
	}
	_, httpsPort, err := splitAddr(cfg.HTTPSAddr)
	if err != nil {
		return nil, fmt.Errorf("the HTTPS address %q: %w", cfg.HTTPSAddr, err)
	}
	m := &Manager{cfg: cfg, log: cfg.Logger, httpsPort: httpsPort, lookups: newRouteCache(5 * time.Second), managed: map[string]bool{}}
	if cfg.HTTPSPort > 0 {
		m.httpsPort = cfg.HTTPSPort
	}
	zl := zapLogger(cfg.Logger)
	m.storage = NewStorage(cfg.Store, cfg.Sealer)
	if cfg.Objects != nil {
		if m.storage, err = NewBucketStorage(cfg.Objects, cfg.Store, cfg.Sealer); err != nil {
			return nil, err
		}
		m.fromDB = NewStorage(cfg.Store, cfg.Sealer)
	}
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(c certmagic.Certificate) (*certmagic.Config, error) {
			// Renewing a wildcard takes DNS-01: the wildcard config.
			if m.wildcard != nil && slices.ContainsFunc(c.Names, isWildcard) {
				return m.wildcard, nil
			}
			return m.magic, nil
		},
		RenewCheckInterval: cfg.RenewCheckInterval,
		Logger:             zl,
	})
	magicCfg := certmagic.Config{
		Storage:            m.storage,
		RenewalWindowRatio: cfg.RenewalWindowRatio,
		OnEvent:            m.onEvent,
		Logger:             zl,
	}
	m.magic = certmagic.New(m.cache, magicCfg)
	if cfg.DNS01 != nil {
		if err := cfg.DNS01.Check(); err != nil {
			return nil, err
		}
		if !m.hostsIssuable() {
			return nil, fmt.Errorf("DNS-01 is set up for wildcard certificates of the host routing domain, but %q is one no public CA issues for: set --domain to a real domain, or leave the DNS-01 settings out", cfg.HostDomain)
		}
		m.wildcard = certmagic.New(m.cache, magicCfg)
	}
	magicCfg.OnDemand = &certmagic.OnDemandConfig{DecisionFunc: m.decide}
	m.onDemand = certmagic.New(m.cache, magicCfg)
	issuer := certmagic.ACMEIssuer{
		CA: cfg.CA, Email: cfg.Email, Agreed: true, TrustedRoots: cfg.CARoots,
		DisableHTTPChallenge: true, DisableTLSALPNChallenge: true,
		// The solvers try to listen on these; finding them taken (by the
		// gateway and the HTTPS server), they leave answering to them.
		ListenHost: httpHost, AltHTTPPort: httpPort, AltTLSALPNPort: httpsPort,
		Logger: zl,
	}
	for _, c := range cfg.Challenges {
		switch c {
		case HTTP01:
			issuer.DisableHTTPChallenge = false
		case TLSALPN01:
			issuer.DisableTLSALPNChallenge = false
		}
	}
	m.issuer = certmagic.NewACMEIssuer(m.magic, issuer)
	m.magic.Issuers = []certmagic.Issuer{m.issuer}
	// The same CA and account: challenge tokens either stored are found
	// by both.
	m.onDemand.Issuers = []certmagic.Issuer{certmagic.NewACMEIssuer(m.onDemand, issuer)}
	if m.wildcard != nil {
		dns01 := issuer
		dns01.DisableHTTPChallenge, dns01.DisableTLSALPNChallenge = true, true
		dns01.DNS01Solver = &certmagic.DNS01Solver{DNSManager: certmagic.DNSManager{
			DNSProvider: cfg.DNS01, Resolvers: cfg.DNSResolvers, Logger: zl,
		}}
		m.wildcard.Issuers = []certmagic.Issuer{certmagic.NewACMEIssuer(m.wildcard, dns01)}
	}
	return m, nil
}

// isWildcard tells a wildcard name (*.example.com).
func isWildcard(name string) bool { return strings.HasPrefix(name, "*.") }

// splitAddr reads host and port of a listen address.
func splitAddr(addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return "", 0, fmt.Errorf("port %q is not a number", port)
	}
	return host, n, nil
}

// Start obtains (or loads from storage) the certificates of the
// console's domain and of every registered domain whose DNS does not
// point elsewhere, and keeps doing so every SyncInterval in the
// background until Close. With Objects, it first copies the database's
// certificates the bucket lacks, and fails if it cannot reach either:
// starting anyway would order again every certificate it missed.
func (m *Manager) Start(ctx context.Context) error {
	if m.fromDB != nil {
		n, err := CopyMissing(ctx, m.fromDB, m.storage)
		if n > 0 {
			m.log.Info("copied certificates from the database to the bucket", "values", n)
		}
		if err != nil && !errors.Is(err, ErrNotCopied) {
			return err
		}
		if err != nil {
			m.log.Warn("could not copy every certificate from the database to the bucket; those left behind are obtained again", "err", err)
		}
	}
	if m.cfg.ConsoleDomain != "" {
		m.manage(ctx, m.cfg.ConsoleDomain)
	}
	if m.wildcard != nil {
		name := "*." + m.cfg.HostDomain
		if err := m.wildcard.ManageAsync(context.WithoutCancel(ctx), []string{name}); err != nil {
			m.log.Warn("could not manage the host routing domain's wildcard certificate", "domain", name, "err", err)
		}
	}
	if err := m.sync(ctx); err != nil {
		return err
	}
	loopCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	m.stop, m.done = stop, make(chan struct{})
	go func() {
		defer close(m.done)
		t := time.NewTicker(m.cfg.SyncInterval)
		defer t.Stop()
		for {
			select {
			case <-loopCtx.Done():
				return
			case <-t.C:
				if err := m.sync(loopCtx); err != nil && loopCtx.Err() == nil {
					m.log.Warn("could not check the custom domains", "err", err)
				}
			}
		}
	}()
	return nil
}

// Close stops renewing and checking. Closing again does nothing (the
// App closes on shutdown and again in tests' cleanups).
func (m *Manager) Close() {
	m.closeOnce.Do(func() {
		if m.stop != nil {
			m.stop()
			<-m.done
		}
		m.background.Wait()
		m.cache.Stop()
	})
}

// sync checks the DNS of every registered domain, has certmagic manage
// those that point here (or whose state cannot be told), and stops
// managing those removed.
func (m *Manager) sync(ctx context.Context) error {
	ds, err := m.cfg.Store.Domains(ctx)
	if err != nil {
		return err
	}
	registered := map[string]bool{}
	for _, d := range ds {
		registered[d.Name] = true
		if pointsHere(m.check(ctx, d.Name)) {
			m.manage(ctx, d.Name)
		}
	}
	m.mu.Lock()
	var gone []certmagic.SubjectIssuer
	for name := range m.managed {
		if !registered[name] && name != m.cfg.ConsoleDomain {
			gone = append(gone, certmagic.SubjectIssuer{Subject: name})
			delete(m.managed, name)
		}
	}
	m.mu.Unlock()
	if len(gone) > 0 {
		m.cache.RemoveManaged(gone)
	}
	return nil
}

// check looks name up and records what it found.
func (m *Manager) check(ctx context.Context, name string) DNSCheck {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c := checkDNS(ctx, m.cfg.Resolver, m.cfg.PublicIPs, name)
	if err := m.cfg.Store.SetDomainDNS(ctx, name, c.Status, strings.Join(c.Addrs, ",")); err != nil {
		m.log.Warn("could not record a domain's DNS state", "domain", name, "err", err)
	}
	return c
}

// pointsHere tells whether a domain is worth asking the CA for: its DNS
// names this server, or what it names cannot be told. Names that resolve
// elsewhere or not at all would only fail validation and use up the CA's
// rate limits for failures.
func pointsHere(c DNSCheck) bool {
	return c.Status == store.DNSOK || c.Status == store.DNSUnknown
}

// manage has certmagic obtain (or load) and renew name's certificate,
// once per process.
func (m *Manager) manage(ctx context.Context, name string) {
	m.mu.Lock()
	done := m.managed[name]
	m.managed[name] = true
	m.mu.Unlock()
	if done {
		return
	}
	// ManageAsync returns at once; certmagic retries failures with
	// back-off, and OnEvent records each outcome on the domain.
	if err := m.magic.ManageAsync(context.WithoutCancel(ctx), []string{name}); err != nil {
		m.log.Warn("could not manage a domain's certificate", "domain", name, "err", err)
		m.mu.Lock()
		delete(m.managed, name)
		m.mu.Unlock()
	}
}

// decide lets certmagic obtain a certificate during a TLS handshake only
// for a name Seedbed serves: the console's domain, a registered domain,
// or the STAGE--APP host of a stage that exists. A handshake naming
// anything else fails, and no CA hears of it.
func (m *Manager) decide(ctx context.Context, name string) error {
	name = strings.ToLower(name)
	if name == m.cfg.ConsoleDomain && name != "" {
		return nil
	}
	if _, ok, err := m.Route(ctx, name); err != nil || ok {
		return err
	}
	if app, stage, ok := m.hostRoute(name); ok {
		if m.wildcard != nil {
			// The wildcard serves these (once in the cache); one
			// certificate per name would only spend the CA's limits.
			return fmt.Errorf("%s is served by the wildcard certificate *.%s, which is not obtained yet", name, m.cfg.HostDomain)
		}
		a, err := m.cfg.Store.AppByName(ctx, app)
		if err == nil {
			_, err = m.cfg.Store.StageByName(ctx, a.ID, stage)
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return fmt.Errorf("%s is no domain of a stage here", name)
}

// hostRoute reads STAGE--APP.<HostDomain>. It finds none when the host
// routing domain is one no public CA issues for (localhost, the default,
// or a single label): those hosts stay on plain HTTP.
func (m *Manager) hostRoute(name string) (app, stage string, ok bool) {
	if !m.hostsIssuable() {
		return "", "", false
	}
	label, found := strings.CutSuffix(name, "."+m.cfg.HostDomain)
	if !found || strings.Contains(label, ".") {
		return "", "", false
	}
	stage, app, found = strings.Cut(label, "--")
	return app, stage, found && stage != "" && app != ""
}

// hostsIssuable tells whether the host routing domain is one a public CA
// issues for (not localhost, the default, nor a single label).
func (m *Manager) hostsIssuable() bool {
	_, err := Normalize(m.cfg.HostDomain)
	return err == nil && !Under(m.cfg.HostDomain, "localhost")
}

// onEvent records on a domain what became of its certificate.
func (m *Manager) onEvent(ctx context.Context, event string, data map[string]any) error {
	name, _ := data["identifier"].(string)
	if name == "" {
		return nil
	}
	if isWildcard(name) {
		// The host routing wildcard is no registered domain: the log
		// is where its state shows.
		switch event {
		case "cert_obtained":
			m.log.Info("wildcard certificate obtained for the STAGE--APP hosts", "domain", name)
		case "cert_failed":
			m.log.Warn("could not obtain the wildcard certificate of the STAGE--APP hosts; each gets its own meanwhile", "domain", name, "err", data["error"])
		}
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	switch event {
	case "cert_obtained":
		path, _ := data["certificate_path"].(string)
		leaf, err := m.loadLeaf(ctx, path)
		if err != nil {
			m.log.Warn("could not read a certificate just obtained", "domain", name, "err", err)
			return nil
		}
		renewal, _ := data["renewal"].(bool)
		m.log.Info("certificate obtained", "domain", name, "renewal", renewal, "expires", leaf.NotAfter)
		err = m.cfg.Store.SetDomainCert(ctx, name, store.DomainCert{Status: store.DomainIssued, IssuedAt: &leaf.NotBefore, ExpiresAt: &leaf.NotAfter})
		if err != nil {
			m.log.Warn("could not record a domain's certificate", "domain", name, "err", err)
		}
	case "cert_failed":
		cause, _ := data["error"].(error)
		msg := "the CA refused the certificate"
		if cause != nil {
			msg = cause.Error()
		}
		status := store.DomainFailed
		if renewal, _ := data["renewal"].(bool); renewal {
			status = store.DomainIssued // the current certificate is still served
		}
		if err := m.cfg.Store.SetDomainCert(ctx, name, store.DomainCert{Status: status, Error: msg}); err != nil {
			m.log.Warn("could not record a domain's certificate", "domain", name, "err", err)
		}
	}
	return nil
}

// loadLeaf reads the first certificate of a PEM chain in storage.
func (m *Manager) loadLeaf(ctx context.Context, key string) (*x509.Certificate, error) {
	b, err := m.storage.Load(ctx, key)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%s holds no PEM certificate", key)
	}
	return x509.ParseCertificate(block.Bytes)
}

// TLSConfig is the configuration of the HTTPS listener: certificates
// by SNI from the cache, the database or the CA (for permitted names),
// and TLS-ALPN-01 challenges answered.
func (m *Manager) TLSConfig() *tls.Config {
	tc := m.onDemand.TLSConfig()
	tc.MinVersion = tls.VersionTLS12
	tc.NextProtos = append([]string{"h2", "http/1.1"}, tc.NextProtos...)
	return tc
}

// Route tells the app and stage of a registered domain; ok is false for
// a name registered nowhere. Answers are cached for a few seconds: it is
// asked for every request on a custom domain.
func (m *Manager) Route(ctx context.Context, host string) (store.DomainRoute, bool, error) {
	host = hostOnly(host)
	if r, found, ok := m.lookups.get(host); ok {
		return r, found, nil
	}
	r, err := m.cfg.Store.DomainRouteByName(ctx, host)
	if errors.Is(err, store.ErrNotFound) {
		m.lookups.put(host, r, false)
		return r, false, nil
	}
	if err != nil {
		return r, false, err
	}
	m.lookups.put(host, r, true)
	return r, true, nil
}

// hostOnly is a request's host without port or final dot, in lower case.
func hostOnly(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(strings.TrimSuffix(host, "."))
}

// servesHTTPS tells whether requests for host belong on HTTPS: the
// console's domain, registered domains and STAGE--APP hosts.
func (m *Manager) servesHTTPS(ctx context.Context, host string) bool {
	if host == "" {
		return false
	}
	if host == m.cfg.ConsoleDomain {
		return true
	}
	if _, _, ok := m.hostRoute(host); ok {
		return true
	}
	_, ok, err := m.Route(ctx, host)
	return err == nil && ok
}

// HTTPHandler wraps the plain-HTTP gateway: it answers ACME HTTP-01
// challenges (this process's, or another's through the database),
// redirects requests for names served over HTTPS there (308, method and
// body kept), and passes the rest (path routing on an address) to next.
func (m *Manager) HTTPHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.issuer.HandleHTTPChallenge(w, r) {
			return
		}
		host := hostOnly(r.Host)
		if !m.servesHTTPS(r.Context(), host) {
			next.ServeHTTP(w, r)
			return
		}
		http.Redirect(w, r, m.URL(host)+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
}

// HTTPSHandler serves the HTTPS listener: the console on its domain, the
// gateway on every other name, with HSTS when configured.
func (m *Manager) HTTPSHandler(console, gateway http.Handler) http.Handler {
	hsts := ""
	if m.cfg.HSTS > 0 {
		hsts = "max-age=" + strconv.Itoa(int(m.cfg.HSTS/time.Second))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hsts != "" {
			w.Header().Set("Strict-Transport-Security", hsts)
		}
		if console != nil && m.cfg.ConsoleDomain != "" && hostOnly(r.Host) == m.cfg.ConsoleDomain {
			console.ServeHTTP(w, r)
			return
		}
		gateway.ServeHTTP(w, r)
	})
}

// Registration is a domain with where it goes, as the console and API show
// it.
type Registration struct {
	store.Domain
	Stage string
}

// List shows an app's domains with their states.
func (m *Manager) List(ctx context.Context, app store.App, stages []store.Stage) ([]Registration, error) {
	ds, err := m.cfg.Store.AppDomains(ctx, app.ID)
	if err != nil {
		return nil, err
	}
	names := map[uint]string{}
	for _, st := range stages {
		names[st.ID] = st.Name
	}
	out := make([]Registration, 0, len(ds))
	for _, d := range ds {
		out = append(out, Registration{Domain: d, Stage: names[d.StageID]})
	}
	return out, nil
}

// Add registers name on a stage and starts obtaining its certificate in
// the background once its DNS does not point elsewhere. A name that is
// invalid, reserved (the console's, the gateway's host routing domain)
// or registered already is refused with what to do.
func (m *Manager) Add(ctx context.Context, app store.App, stage store.Stage, raw, by string) (Registration, error) {
	name, err := Normalize(raw)
	if err != nil {
		return Registration{}, &pipelines.Error{Code: pipelines.EInvalid, Message: err.Error()}
	}
	if name == m.cfg.ConsoleDomain {
		return Registration{}, &pipelines.Error{Code: pipelines.EConflict, Message: name + " is the console's domain; choose another name."}
	}
	if Under(name, m.cfg.HostDomain) {
		return Registration{}, &pipelines.Error{Code: pipelines.EInvalid, Message: fmt.Sprintf(
			"%s lies under %s, the domain Seedbed routes STAGE--APP hosts by; stages get those names without registering them. Register a name of your own.", name, m.cfg.HostDomain)}
	}
	d := store.Domain{Name: name, AppID: app.ID, StageID: stage.ID, CreatedBy: by}
	if err := m.cfg.Store.CreateDomain(ctx, &d); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return Registration{}, &pipelines.Error{Code: pipelines.EConflict, Message: fmt.Sprintf(
				"%s is already a domain of a stage; a domain belongs to one stage only. Remove it there first (seedbed domains remove APP %s).", name, name)}
		}
		return Registration{}, err
	}
	m.lookups.forget(name)
	m.background.Add(1)
	go func() {
		defer m.background.Done()
		ctx := context.WithoutCancel(ctx)
		if pointsHere(m.check(ctx, name)) {
			m.manage(ctx, name)
		}
	}()
	return Registration{Domain: d, Stage: stage.Name}, nil
}

// Remove unregisters one of an app's domains and stops renewing its
// certificate in this process (others notice at their next sync).
func (m *Manager) Remove(ctx context.Context, app store.App, raw string) error {
	name, err := Normalize(raw)
	if err != nil {
		return &pipelines.Error{Code: pipelines.EInvalid, Message: err.Error()}
	}
	if err := m.cfg.Store.DeleteDomain(ctx, app.ID, name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return &pipelines.Error{Code: pipelines.ENotFound, Message: fmt.Sprintf("%s is no domain of app %s.", name, app.Name)}
		}
		return err
	}
	m.lookups.forget(name)
	m.mu.Lock()
	delete(m.managed, name)
	m.mu.Unlock()
	m.cache.RemoveManaged([]certmagic.SubjectIssuer{{Subject: name}})
	return nil
}

// Check looks one of an app's domains up again now, and starts obtaining
// its certificate if it points here at last.
func (m *Manager) Check(ctx context.Context, app store.App, raw string) (store.Domain, error) {
	name, err := Normalize(raw)
	if err != nil {
		return store.Domain{}, &pipelines.Error{Code: pipelines.EInvalid, Message: err.Error()}
	}
	d, err := m.cfg.Store.DomainByName(ctx, name)
	if err != nil || d.AppID != app.ID {
		return store.Domain{}, &pipelines.Error{Code: pipelines.ENotFound, Message: fmt.Sprintf("%s is no domain of app %s.", name, app.Name)}
	}
	if pointsHere(m.check(ctx, name)) {
		m.manage(ctx, name)
	}
	return m.cfg.Store.DomainByName(ctx, name)
}

// PublicIPs are the addresses DNS states compare with.
func (m *Manager) PublicIPs() []net.IP { return m.cfg.PublicIPs }

// routeCache remembers domain look-ups for a short while.
type routeCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]routeEntry
}

type routeEntry struct {
	route store.DomainRoute
	found bool
	until time.Time
}

func newRouteCache(ttl time.Duration) *routeCache {
	return &routeCache{ttl: ttl, m: map[string]routeEntry{}}
}

func (c *routeCache) get(host string) (store.DomainRoute, bool, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[host]
	if !ok || time.Now().After(e.until) {
		return store.DomainRoute{}, false, false
	}
	return e.route, e.found, true
}

func (c *routeCache) put(host string, r store.DomainRoute, found bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) > 10000 { // names made up by clients: start over
		c.m = map[string]routeEntry{}
	}
	c.m[host] = routeEntry{route: r, found: found, until: time.Now().Add(c.ttl)}
}

func (c *routeCache) forget(host string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, host)
}

// URL is where a stage answers on one of its domains.
func (m *Manager) URL(name string) string {
	u := "https://" + name
	if m.httpsPort != 443 && m.httpsPort != 0 {
		u += ":" + strconv.Itoa(m.httpsPort)
	}
	return u
}

// StageOf tells the stage a registered domain belongs to, for the gateway.
func (m *Manager) StageOf(ctx context.Context, host string) (targets.StageRef, bool, error) {
	r, ok, err := m.Route(ctx, host)
	if err != nil || !ok {
		return targets.StageRef{}, false, err
	}
	return targets.StageRef{App: r.App, Stage: r.Stage}, true, nil
}
