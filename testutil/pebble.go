package testutil

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// PebbleOptions set up a Pebble ACME server for a test.
type PebbleOptions struct {
	// HTTPPort and TLSPort are where Pebble validates HTTP-01 and
	// TLS-ALPN-01 challenges: the ports the server under test listens on.
	HTTPPort, TLSPort int
	// DNSServer (host:port) is where Pebble looks the test's names up.
	DNSServer string
	// Validity is how long the certificates it issues last; zero: 90 days.
	Validity time.Duration
}

// Pebble is Let's Encrypt's test ACME server, run by a test: a real CA
// that really validates challenges (PEBBLE_VA_ALWAYS_VALID=0).
type Pebble struct {
	// DirectoryURL is the ACME directory to give a client.
	DirectoryURL string
	// ServerRootFile is a PEM file with the root Pebble's own HTTPS
	// certificate is signed by: what an ACME client must trust to talk
	// to it (--acme-ca-root).
	ServerRootFile string
	mgmt           string // management address
	serverRoots    *x509.CertPool
	log            *lockedBuffer
}

// StartPebble builds Pebble (from the module's tool dependency), starts it
// on loopback ports with opts and stops it when t ends.
func StartPebble(t testing.TB, opts PebbleOptions) *Pebble {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "pebble")
	build := exec.Command("go", "build", "-o", bin, "github.com/letsencrypt/pebble/v2/cmd/pebble")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build pebble: %v\n%s", err, out)
	}
	rootPEM, certPEM, keyPEM := serverCerts(t)
	p := &Pebble{ServerRootFile: filepath.Join(dir, "root.pem"), log: &lockedBuffer{}}
	writeFile(t, p.ServerRootFile, rootPEM)
	writeFile(t, filepath.Join(dir, "cert.pem"), certPEM)
	writeFile(t, filepath.Join(dir, "key.pem"), keyPEM)
	p.serverRoots = x509.NewCertPool()
	p.serverRoots.AppendCertsFromPEM(rootPEM)

	listen, mgmt := FreeAddr(t), FreeAddr(t)
	p.mgmt = mgmt
	p.DirectoryURL = "https://" + listen + "/dir"
	validity := int64(opts.Validity / time.Second)
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": mgmt,
		"certificate": filepath.Join(dir, "cert.pem"), "privateKey": filepath.Join(dir, "key.pem"),
		"httpPort": opts.HTTPPort, "tlsPort": opts.TLSPort,
		"retryAfter":   map[string]int{"authz": 1, "order": 1},
		"keyAlgorithm": "ecdsa",
		"profiles":     map[string]any{"default": map[string]any{"description": "test", "validityPeriod": validity}},
	}}
	b, _ := json.Marshal(cfg)
	writeFile(t, filepath.Join(dir, "pebble.json"), b)
	args := []string{"-config", filepath.Join(dir, "pebble.json")}
	if opts.DNSServer != "" {
		args = append(args, "-dnsserver", opts.DNSServer)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_VA_ALWAYS_VALID=0", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start pebble: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("pebble's log:\n%s", p.log.String())
		}
	})
	client := p.client()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(p.DirectoryURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not answer at %s within 30s: %v\n%s", p.DirectoryURL, err, p.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// client talks to Pebble's own HTTPS endpoints.
func (p *Pebble) client() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.serverRoots}}}
}

// IssuerRoots fetches the root Pebble signs certificates under (it makes
// a new one each start): what a TLS client verifies served chains with.
func (p *Pebble) IssuerRoots(t testing.TB) *x509.CertPool {
	t.Helper()
	resp, err := p.client().Get("https://" + p.mgmt + "/roots/0")
	if err != nil {
		t.Fatalf("fetch pebble's root: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("fetch pebble's root: %s %v", resp.Status, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("pebble's root is no PEM certificate:\n%s", b)
	}
	return pool
}

// Log is what Pebble printed so far.
func (p *Pebble) Log() string { return p.log.String() }

// FreeAddr finds a free loopback TCP address. Another process could take
// it before the caller listens; for servers (Pebble) whose address must be
// known before they start.
func FreeAddr(t testing.TB) string {
	t.Helper()
	// A port from below Linux's ephemeral range (32768-60999): a test
	// that stops a server and starts another on the same address found
	// it taken, now and then, by some other test's outgoing connection,
	// which the kernel gives ephemeral source ports.
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(10000+mathrand.IntN(32768-10000)))
		if err == nil {
			addr := ln.Addr().String()
			ln.Close()
			return addr
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// serverCerts makes a root and a certificate it signs for 127.0.0.1 and
// localhost, for Pebble's own HTTPS.
func serverCerts(t testing.TB) (rootPEM, certPEM, keyPEM []byte) {
	t.Helper()
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	root := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "seedbed test pebble root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	rootDER, err := x509.CreateCertificate(rand.Reader, root, root, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ = x509.ParseCertificate(rootDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, root, &key.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// lockedBuffer collects a child's output while tests read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// ServedChain dials addr over TLS for serverName, verifies the chain the
// server sends against roots (a real client's check: name, dates, chain),
// and returns it, leaf first.
func ServedChain(ctx context.Context, addr, serverName string, roots *x509.CertPool) ([]*x509.Certificate, error) {
	d := tls.Dialer{Config: &tls.Config{ServerName: serverName, RootCAs: roots, MinVersion: tls.VersionTLS12}}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("TLS handshake with %s for %s: %w", addr, serverName, err)
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState().PeerCertificates, nil
}
