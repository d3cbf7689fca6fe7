package gateway

import (
	"net"
	"net/http"
	"strings"
)

// A function sits behind Seedbed's gateway the way an app sits behind
// Heroku's router or API Gateway: it learns the address the client used and
// the client's own address from forwarding headers, and an app configured
// to believe its proxy believes them. The gateway therefore drops every
// forwarding header the request came with and sets its own:
//
//	Host                the host the client asked for (the one the gateway
//	                    routed by), not the function's own address
//	X-Forwarded-Host    the same
//	X-Forwarded-Proto   http, or https over TLS
//	X-Forwarded-Port    the port of that address (from Host, else 80/443)
//	X-Forwarded-For     the address the gateway's connection came from
//	X-Forwarded-Prefix  /APP/STAGE under path routing; absent under host
//	                    routing
//	X-Real-Ip           the client's address
//	Forwarded           one element: for=client;host=…;proto=…
//
// A peer listed in --trusted-proxies (Config.TrustedProxies) is a reverse
// proxy in front of the gateway, whose word counts: its X-Forwarded-For is
// kept and the peer's address appended, the client's address is read from
// that chain from the right past every trusted hop (as the console does for
// its rate limits), and its X-Forwarded-Proto (the last value) says whether
// the client used https. The host is never taken from a header other than
// Host: the gateway routes by Host, so a proxy must pass it on unchanged
// (Caddy does; nginx needs `proxy_set_header Host $host`).

// Forwarding is what the gateway tells a function about how a request
// reached it.
type Forwarding struct {
	Host   string // the public host (and port) the client asked for
	Proto  string // "http" or "https"
	Port   string // the public port
	Client string // the client's address
	Chain  string // X-Forwarded-For: trusted proxies' chain, then the peer
	Prefix string // /APP/STAGE under path routing, else empty
}

// forwardingOf works out the forwarding headers of r, whose stripped path
// prefix was prefix.
func (g *Gateway) forwardingOf(r *http.Request, prefix string) Forwarding {
	f := Forwarding{Host: r.Host, Proto: "http", Prefix: prefix}
	if r.TLS != nil {
		f.Proto = "https"
	}
	if f.Host == "" { // HTTP/1.0 without Host: the address the client dialled
		if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			f.Host = a.String()
		}
	}
	peer := r.RemoteAddr
	if h, _, err := net.SplitHostPort(peer); err == nil {
		peer = h
	}
	f.Client, f.Chain = peer, peer
	if ip := net.ParseIP(peer); ip != nil && g.trustedProxy(ip) {
		var hops []string
		for _, line := range r.Header.Values("X-Forwarded-For") {
			for hop := range strings.SplitSeq(line, ",") {
				if hop = strings.TrimSpace(hop); hop != "" {
					hops = append(hops, hop)
				}
			}
		}
		if len(hops) > 0 {
			f.Chain = strings.Join(hops, ", ") + ", " + peer
		}
		for i := len(hops) - 1; i >= 0; i-- {
			ip := parseHop(hops[i])
			if ip == nil {
				break // garbage: the last trusted hop is all we know
			}
			f.Client = ip.String()
			if !g.trustedProxy(ip) {
				break
			}
		}
		if p := lastValue(r.Header.Values("X-Forwarded-Proto")); p == "http" || p == "https" {
			f.Proto = p
		}
	}
	f.Port = f.publicPort()
	return f
}

// publicPort is the port of the public address: Host's, else the scheme's.
func (f Forwarding) publicPort() string {
	if _, port, err := net.SplitHostPort(f.Host); err == nil && port != "" {
		return port
	}
	if f.Proto == "https" {
		return "443"
	}
	return "80"
}

// trustedProxy reports whether ip is one of the reverse proxies in front of
// the gateway.
func (g *Gateway) trustedProxy(ip net.IP) bool {
	for _, n := range g.cfg.TrustedProxies {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// parseHop reads one X-Forwarded-For entry: an address, possibly with a
// port or in brackets (some proxies write them so); nil when it is none.
func parseHop(hop string) net.IP {
	if h, _, err := net.SplitHostPort(hop); err == nil {
		hop = h
	}
	return net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(hop, "["), "]"))
}

// lastValue is the last comma-separated value of a header's lines, trimmed
// and in lower case: the one the nearest proxy added.
func lastValue(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	line := lines[len(lines)-1]
	if i := strings.LastIndexByte(line, ','); i >= 0 {
		line = line[i+1:]
	}
	return strings.ToLower(strings.TrimSpace(line))
}

// IsForwardingHeader reports whether a request header claims something about
// the client's address or the address it used, which only the gateway may
// tell a function. Names compare without case and with "_" as "-": CGI-style
// servers (WSGI, Rack, PHP) read X_Forwarded_For as X-Forwarded-For.
func IsForwardingHeader(name string) bool {
	name = strings.ReplaceAll(strings.ToLower(name), "_", "-")
	if strings.HasPrefix(name, "x-forwarded-") { // -for, -host, -proto, -port, -prefix, -ssl, -scheme, -server…
		return true
	}
	switch name {
	case "forwarded", "x-forwarded", "forwarded-for", "x-real-ip", "x-client-ip", "true-client-ip",
		"x-cluster-client-ip", "cf-connecting-ip", "fastly-client-ip", "front-end-https", "x-url-scheme":
		return true
	}
	return false
}

// Each calls set with every forwarding header the function gets, names in
// canonical form.
func (f Forwarding) Each(set func(name, value string)) {
	set("X-Forwarded-For", f.Chain)
	set("X-Forwarded-Host", f.Host)
	set("X-Forwarded-Proto", f.Proto)
	set("X-Forwarded-Port", f.Port)
	if f.Prefix != "" {
		set("X-Forwarded-Prefix", f.Prefix)
	}
	set("X-Real-Ip", f.Client)
	set("Forwarded", f.forwarded())
}

// Apply replaces the forwarding headers of h (a request to a function) with
// the gateway's.
func (f Forwarding) Apply(h http.Header) {
	for k := range h {
		if IsForwardingHeader(k) {
			delete(h, k)
		}
	}
	f.Each(h.Set)
}

// forwarded renders the RFC 7239 Forwarded header: one element, as the
// gateway sees the request.
func (f Forwarding) forwarded() string {
	client := f.Client
	if ip := net.ParseIP(client); ip != nil && ip.To4() == nil {
		client = "[" + client + "]"
	}
	return "for=" + forwardedValue(client) + ";host=" + forwardedValue(f.Host) + ";proto=" + f.Proto
}

// forwardedValue writes v as an RFC 7239 value: a token as it is,
// anything else as a quoted string.
func forwardedValue(v string) string {
	token := v != ""
	for _, c := range v {
		if c >= 0x7f || c <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, c) {
			token = false
			break
		}
	}
	if token {
		return v
	}
	// A quoted-string escapes only \ and "; built by hand because this
	// runs on every proxied request (a strings.Replacer is built anew
	// each time it is made).
	var b strings.Builder
	b.Grow(len(v) + 2)
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' || v[i] == '"' {
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
	b.WriteByte('"')
	return b.String()
}
