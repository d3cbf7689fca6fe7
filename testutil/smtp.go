package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Mail is one message an SMTPServer accepted.
type Mail struct {
	From string
	To   []string
	Data string // the message as sent: headers, blank line, body
	User string // who authenticated; "" when no one did
	TLS  bool   // the message came over TLS (STARTTLS)
}

// SMTPOptions configure a test SMTP server.
type SMTPOptions struct {
	// User and Password, when set, are the one account AUTH PLAIN takes;
	// mail is refused without it.
	User, Password string
	// StartTLS makes the server offer STARTTLS with a certificate for
	// 127.0.0.1 that SMTPServer.RootCAs trusts.
	StartTLS bool
}

// SMTPServer is a real SMTP server (github.com/emersion/go-smtp) on a
// loopback port, keeping what it receives.
type SMTPServer struct {
	Addr string
	// RootCAs trusts the server's certificate (with StartTLS).
	RootCAs *x509.CertPool
	Mails   chan Mail
}

// StartSMTP starts an SMTP server for the test; it stops at cleanup.
func StartSMTP(t testing.TB, opt SMTPOptions) *SMTPServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen for SMTP: %v", err)
	}
	s := &SMTPServer{Addr: ln.Addr().String(), Mails: make(chan Mail, 100)}
	be := smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpSession{srv: s, opt: opt, conn: c}, nil
	})
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.AllowInsecureAuth = !opt.StartTLS
	if opt.StartTLS {
		cert, pool := selfSigned(t)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		s.RootCAs = pool
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		wg.Wait()
	})
	return s
}

// Next waits up to d for the next message.
func (s *SMTPServer) Next(t testing.TB, d time.Duration) Mail {
	t.Helper()
	select {
	case m := <-s.Mails:
		return m
	case <-time.After(d):
		t.Fatalf("no mail reached the SMTP server at %s within %s", s.Addr, d)
	}
	return Mail{}
}

type smtpSession struct {
	srv  *SMTPServer
	opt  SMTPOptions
	conn *smtp.Conn
	user string
	mail Mail
}

// The methods below are go-smtp's Session and AuthSession: one SMTP
// conversation, AUTH PLAIN against SMTPOptions, mail kept in srv.Mails.

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if s.opt.User == "" || user != s.opt.User || pass != s.opt.Password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		s.user = user
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.opt.User != "" && s.user == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	s.mail = Mail{From: from, User: s.user}
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.mail.To = append(s.mail.To, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := s.mail
	m.Data = string(b)
	_, m.TLS = s.conn.TLSConnectionState()
	s.srv.Mails <- m
	return nil
}

func (s *smtpSession) Reset()        { s.mail = Mail{} }
func (s *smtpSession) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "seedbed test SMTP"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
