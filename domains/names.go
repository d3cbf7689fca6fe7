// Package domains gives stages host names of their own with certificates
// from an ACME CA (Let's Encrypt, or any other): it checks the names users
// register, keeps certificates in the database, or sealed in the
// --artifact-store bucket, so that every Seedbed process shares them
// (Storage, NewBucketStorage), obtains and renews them with certmagic
// (Manager), serves HTTPS with them, answers ACME HTTP-01 challenges and
// redirects plain HTTP (Manager.HTTPHandler), and tells whether a name's
// DNS points at this server.
//
// No certificate is asked for a name that is not registered on a stage,
// the console's own domain or an existing STAGE--APP host: TLS handshakes
// for other names fail, whoever sends them.
package domains

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"golang.org/x/net/idna"
)

// maxName is the longest host name DNS carries (RFC 1035, without the
// final dot).
const maxName = 253

// Normalize checks a host name a user wants to register and returns it in
// the form it is stored and matched in: lower case, without a final dot,
// an internationalized name as punycode (xn--…). It refuses wildcards, IP
// addresses, ports, URLs, single-label names and labels DNS cannot carry,
// each with a message that says what to give instead.
func Normalize(raw string) (string, error) {
	name := strings.TrimSpace(raw)
	switch {
	case name == "":
		return "", errors.New("give a host name, such as api.example.com")
	case strings.Contains(name, "://") || strings.ContainsAny(name, "/?#@"):
		return "", fmt.Errorf("%q is not a host name: give the name alone, such as api.example.com, without scheme or path", raw)
	case strings.Contains(name, "*"):
		return "", fmt.Errorf("%q is a wildcard: register each host name itself, such as api.example.com", raw)
	}
	if h, _, err := net.SplitHostPort(name); err == nil {
		return "", fmt.Errorf("%q has a port: give the host name alone (%s); Seedbed serves it on its HTTPS port", raw, h)
	}
	name = strings.TrimSuffix(name, ".")
	if net.ParseIP(strings.Trim(name, "[]")) != nil {
		return "", fmt.Errorf("%q is an IP address: certificates here are for host names, such as api.example.com", raw)
	}
	ascii := strings.ToLower(name)
	if !isASCII(ascii) || strings.Contains(ascii, "xn--") {
		// Unicode names become punycode; punycode given must decode.
		conv, err := idna.Lookup.ToASCII(name)
		if err != nil {
			return "", fmt.Errorf("%q is not a valid internationalized host name: %v", raw, err)
		}
		ascii = strings.ToLower(conv)
	}
	if len(ascii) > maxName {
		return "", fmt.Errorf("%q is %d characters long (as punycode); a host name has at most %d", raw, len(ascii), maxName)
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return "", fmt.Errorf("%q has a single label: give a full name such as %s.example.com", raw, ascii)
	}
	for _, l := range labels {
		if err := checkLabel(l); err != nil {
			return "", fmt.Errorf("%q: %w", raw, err)
		}
	}
	if tld := labels[len(labels)-1]; strings.Trim(tld, "0123456789") == "" {
		return "", fmt.Errorf("%q ends in a numeric label; give a host name such as api.example.com", raw)
	}
	return ascii, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// checkLabel checks one label of an ASCII (punycode) name.
func checkLabel(l string) error {
	switch {
	case l == "":
		return errors.New("it has an empty label (two dots in a row)")
	case len(l) > 63:
		return fmt.Errorf("the label %q is %d characters long; a label has at most 63", l, len(l))
	case l[0] == '-' || l[len(l)-1] == '-':
		return fmt.Errorf("the label %q starts or ends with a hyphen", l)
	}
	for _, c := range l {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("the label %q holds %q; host names have letters, digits and hyphens", l, c)
		}
	}
	return nil
}

// Under tells whether name is domain or lies under it.
func Under(name, domain string) bool {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	return domain != "" && (name == domain || strings.HasSuffix(name, "."+domain))
}

// Display turns a stored (punycode) name back into Unicode for people; a
// name that does not convert is shown as stored.
func Display(name string) string {
	u, err := idna.Display.ToUnicode(name)
	if err != nil {
		return name
	}
	return u
}
