package alerts

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/seedbed/seedbed/netguard"
)

// Headers of a webhook channel's requests, named as GitHub names its own
// (X-Hub-Signature-256, X-GitHub-Delivery, X-GitHub-Event), so receivers
// written for GitHub need only the names changed.
const (
	HeaderSignature = "X-Seedbed-Signature-256"
	HeaderDelivery  = "X-Seedbed-Delivery"
	HeaderEvent     = "X-Seedbed-Event"
)

// Sign returns the X-Seedbed-Signature-256 value of body under secret:
// "sha256=" and the hex HMAC-SHA256, as GitHub signs its webhooks.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify tells whether sig is body's signature under secret, in constant
// time: what a receiver does.
func Verify(secret string, body []byte, sig string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(sig))
}

// Payload is the JSON a webhook channel receives, and what the other
// channels render. Its fields are a contract with receivers: add, never
// rename.
type Payload struct {
	Delivery string    `json:"delivery"`
	Event    string    `json:"event"`
	State    string    `json:"state"` // "firing", "resolved" or "test"
	App      string    `json:"app"`
	Stage    string    `json:"stage,omitempty"`
	Function string    `json:"function,omitempty"`
	Rule     string    `json:"rule,omitempty"`
	Title    string    `json:"title"`
	Text     string    `json:"text"`
	URL      string    `json:"url"` // the console page that explains it
	At       time.Time `json:"at"`
	// Value and Threshold: metric and crash rules.
	Value     *float64 `json:"value,omitempty"`
	Threshold *float64 `json:"threshold,omitempty"`
	BuildID   uint     `json:"build_id,omitempty"`
	DeployID  uint     `json:"deploy_id,omitempty"`
}

// SendError is a failed attempt: Code is the receiver's HTTP status (0 when
// none came back), Permanent says that trying again cannot help.
type SendError struct {
	Code      int
	Permanent bool
	Err       error
}

// Error implements error.
func (e *SendError) Error() string { return e.Err.Error() }

// Unwrap gives the cause, e.g. a netguard.BlockedError.
func (e *SendError) Unwrap() error { return e.Err }

// httpSender posts to slack and webhook channels through the netguard
// policy: no loopback, private or link-local address unless the operator
// allows them, checked on the address connected to.
type httpSender struct {
	client *http.Client
}

func newHTTPSender(p netguard.Policy, timeout time.Duration) *httpSender {
	c := p.HTTPClient(timeout)
	// A receiver answers, it does not send Seedbed elsewhere: a redirect
	// is an answer like any other (GitHub does the same).
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &httpSender{client: c}
}

// post sends body to rawURL with headers and returns the response code.
func (h *httpSender) post(ctx context.Context, rawURL string, body []byte, headers map[string]string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return 0, &SendError{Permanent: true, Err: fmt.Errorf("make request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Seedbed-Alerts")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		if netguard.IsBlocked(err) {
			return 0, &SendError{Permanent: true, Err: err}
		}
		return 0, &SendError{Err: fmt.Errorf("post to %s: %w", redactURL(rawURL), errWithoutURL(err))}
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, nil
	}
	// 408, 429 and 5xx may pass later; any other answer will not.
	retry := resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
	msg := fmt.Sprintf("the receiver answered HTTP %d", resp.StatusCode)
	if s := strings.TrimSpace(string(snippet)); s != "" {
		msg += ": " + strings.ToValidUTF8(s, "?")
	}
	return resp.StatusCode, &SendError{Code: resp.StatusCode, Permanent: !retry, Err: errors.New(msg)}
}

// errWithoutURL drops the URL a *url.Error repeats: a channel's URL holds
// its token, and errors are shown in the deliveries list.
func errWithoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// slackBody is a Slack-compatible incoming webhook message (Slack,
// Mattermost, Rocket.Chat and others read "text").
func slackBody(p Payload) ([]byte, error) {
	text := fmt.Sprintf("*%s*\n%s\n<%s|Open in Seedbed>", slackEscape(p.Title), slackEscape(p.Text), p.URL)
	return json.Marshal(map[string]string{"text": text})
}

// slackEscape escapes what Slack's mrkdwn reads as markup.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// SMTP is where email channels send from: the server's --smtp-url and
// --smtp-from.
type SMTP struct {
	// URL is smtp://[user:password@]host[:port] (STARTTLS, required; port
	// 587 by default), smtps://… (TLS from the start; port 465 by default)
	// or smtp+insecure://… (no TLS, for a relay on this host or network;
	// a password goes only to loopback that way).
	URL  string
	From string
	// TLS is the TLS configuration; nil means the system's roots.
	TLS *tls.Config
	// Timeout bounds one message; zero means 30s.
	Timeout time.Duration
}

// ParseSMTP checks an SMTP URL and from address and returns the settings.
func ParseSMTP(rawURL, from string) (SMTP, error) {
	s := SMTP{URL: strings.TrimSpace(rawURL), From: strings.TrimSpace(from)}
	if s.URL == "" {
		return s, nil
	}
	addr, mode, user, err := s.endpoint()
	if err != nil {
		return s, err
	}
	if host, _, _ := net.SplitHostPort(addr); mode == tlsNone && user != nil && !isLoopback(host) {
		return s, fmt.Errorf("--smtp-url (SEEDBED_SMTP_URL): smtp+insecure:// would send the password in clear to %s; use smtp:// (STARTTLS) or smtps://, or a relay on this host", host)
	}
	if s.From == "" {
		return s, errors.New("--smtp-from (SEEDBED_SMTP_FROM) is needed with --smtp-url: the address alerts are sent from, e.g. seedbed@example.com")
	}
	if _, err := mail.ParseAddress(s.From); err != nil {
		return s, fmt.Errorf("--smtp-from (SEEDBED_SMTP_FROM) %q is no email address: %w", s.From, err)
	}
	return s, nil
}

// Configured tells whether email can be sent.
func (s SMTP) Configured() bool { return s.URL != "" }

const smtpForm = "smtp://[user:password@]host[:port] (STARTTLS), smtps://… (TLS) or smtp+insecure://… (no TLS)"

// How a connection to the SMTP server is encrypted.
type tlsMode int

const (
	tlsStart    tlsMode = iota // smtp://: STARTTLS, required
	tlsImplicit                // smtps://: TLS from the start
	tlsNone                    // smtp+insecure://: none
)

func (s SMTP) endpoint() (addr string, mode tlsMode, user *url.Userinfo, err error) {
	u, err := url.Parse(s.URL)
	if err != nil {
		return "", 0, nil, fmt.Errorf("--smtp-url (SEEDBED_SMTP_URL) does not parse; want %s", smtpForm)
	}
	port := u.Port()
	switch u.Scheme {
	case "smtp", "smtp+insecure":
		if port == "" {
			port = "587"
		}
		if u.Scheme == "smtp+insecure" {
			mode = tlsNone
		}
	case "smtps":
		mode = tlsImplicit
		if port == "" {
			port = "465"
		}
	default:
		return "", 0, nil, fmt.Errorf("--smtp-url (SEEDBED_SMTP_URL) %q: unsupported scheme %q; want %s", u.Redacted(), u.Scheme, smtpForm)
	}
	if u.Hostname() == "" {
		return "", 0, nil, fmt.Errorf("--smtp-url (SEEDBED_SMTP_URL) %q has no host; want %s", u.Redacted(), smtpForm)
	}
	return net.JoinHostPort(u.Hostname(), port), mode, u.User, nil
}

// send mails p to the addresses to.
func (s SMTP) send(ctx context.Context, to []string, p Payload) error {
	if !s.Configured() {
		return &SendError{Permanent: true, Err: errors.New("this Seedbed has no SMTP server: an admin sets --smtp-url and --smtp-from (SEEDBED_SMTP_URL, SEEDBED_SMTP_FROM)")}
	}
	addr, mode, user, err := s.endpoint()
	if err != nil {
		return &SendError{Permanent: true, Err: err}
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	host, _, _ := net.SplitHostPort(addr)
	tlsCfg := s.TLS
	if tlsCfg == nil {
		tlsCfg = &tls.Config{}
	}
	tlsCfg = tlsCfg.Clone()
	tlsCfg.ServerName = host

	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return &SendError{Err: fmt.Errorf("connect to the SMTP server %s: %w", addr, err)}
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	var c *smtp.Client
	switch mode {
	case tlsImplicit:
		c = smtp.NewClient(tls.Client(conn, tlsCfg))
	case tlsStart:
		if c, err = smtp.NewClientStartTLS(conn, tlsCfg); err != nil {
			conn.Close()
			return &SendError{Err: fmt.Errorf("SMTP server %s: STARTTLS (use smtp+insecure:// for a server without TLS on this host or network): %w", addr, err)}
		}
	default:
		c = smtp.NewClient(conn)
	}
	defer c.Close()
	secure := mode != tlsNone
	if user != nil {
		pass, _ := user.Password()
		// A password goes in clear only to this machine.
		if !secure && !isLoopback(host) {
			return &SendError{Permanent: true, Err: fmt.Errorf("Seedbed does not send the password of --smtp-url in clear to %s: use smtp:// (STARTTLS) or smtps://", addr)}
		}
		if err := c.Auth(sasl.NewPlainClient("", user.Username(), pass)); err != nil {
			return &SendError{Permanent: isAuthRefused(err), Err: fmt.Errorf("SMTP server %s refused the user of --smtp-url: %w", addr, err)}
		}
	}
	msg, err := s.message(to, p)
	if err != nil {
		return &SendError{Permanent: true, Err: err}
	}
	envelope := s.From
	if a, err := mail.ParseAddress(s.From); err == nil {
		envelope = a.Address
	}
	if err := c.SendMail(envelope, to, bytes.NewReader(msg)); err != nil {
		var se *smtp.SMTPError
		permanent := errors.As(err, &se) && se.Code >= 500
		return &SendError{Code: smtpCode(err), Permanent: permanent, Err: fmt.Errorf("SMTP server %s: %w", addr, err)}
	}
	if err := c.Quit(); err != nil {
		return &SendError{Err: fmt.Errorf("SMTP server %s: after the message: %w", addr, err)}
	}
	return nil
}

func smtpCode(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

func isAuthRefused(err error) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se) && se.Code == 535
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// message renders p as a plain-text mail.
func (s SMTP) message(to []string, p Payload) ([]byte, error) {
	for _, a := range append([]string{s.From}, to...) {
		if strings.ContainsAny(a, "\r\n") {
			return nil, fmt.Errorf("address %q has a line break", a)
		}
	}
	subject := "[Seedbed] " + oneLine(p.Title)
	var b bytes.Buffer
	from := s.From
	if a, err := mail.ParseAddress(s.From); err == nil {
		from = a.String() // encoded where the name is not ASCII
	}
	fmt.Fprintf(&b, "From: %s\r\n", from)
	fmt.Fprintf(&b, "To: %s\r\n", strings.Join(to, ", "))
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", subject))
	fmt.Fprintf(&b, "Date: %s\r\n", p.At.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@seedbed>\r\n", p.Delivery)
	fmt.Fprintf(&b, "%s: %s\r\n", HeaderDelivery, p.Delivery)
	fmt.Fprintf(&b, "%s: %s\r\n", HeaderEvent, p.Event)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	body := p.Text + "\n\n" + p.URL + "\n"
	// The SMTP client dot-stuffs lines itself.
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n"))
	return b.Bytes(), nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// parseAddresses reads an email channel's comma-separated addresses.
func parseAddresses(s string) ([]string, error) {
	var out []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		a, err := mail.ParseAddress(part)
		if err != nil {
			return nil, fmt.Errorf("%q is no email address: %w", part, err)
		}
		out = append(out, a.Address)
	}
	if len(out) == 0 {
		return nil, errors.New("name at least one email address")
	}
	if len(out) > maxAddresses {
		return nil, fmt.Errorf("at most %d addresses per channel; make another channel for more", maxAddresses)
	}
	return out, nil
}

const maxAddresses = 10

// redactURL shows a URL without its path and query, which carry tokens
// (hooks.slack.com/services/T…/B…/secret).
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "the channel's URL"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// urlHint is what the console shows of a channel URL: scheme, host and
// the last four characters.
func urlHint(raw string) string {
	tail := raw
	if len(tail) > 4 {
		tail = tail[len(tail)-4:]
	}
	return strings.TrimSuffix(redactURL(raw), "/…") + "/…" + tail
}
