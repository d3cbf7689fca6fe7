package gateway

import (
	"bufio"
	"net"
	"net/http"
	"strings"
)

// Seedbed's console and the gateway can share a host (path routing serves
// functions at http://HOST:GATEWAY-PORT/APP/STAGE), and cookies do not
// separate ports: a browser sends the console's session cookie to a
// function, and keeps a cookie a function sets for the console. The
// gateway therefore keeps the console's cookies out of both directions.
//
// The console's cookies are every cookie whose name, without a __Host- or
// __Secure- prefix, starts with "seedbed_" (see web/session.go, which
// names them so), in any letter case. A function's own cookie of that form
// is dropped as well: the name is Seedbed's.
const consoleCookiePrefix = "seedbed_"

// isConsoleCookie tells whether a cookie name is one of the console's.
func isConsoleCookie(name string) bool {
	name = strings.ToLower(strings.TrimSpace(name))
	for _, p := range []string{"__host-", "__secure-"} {
		name = strings.TrimPrefix(name, p)
	}
	return strings.HasPrefix(name, consoleCookiePrefix)
}

// setsConsoleCookie tells whether a Set-Cookie header value would set one
// of the console's cookies. A nameless cookie ("=seedbed_csrf=x", or a pair
// without "=") is sent back by browsers as its bare value, which a server
// reads as "seedbed_csrf=x": its value counts as a name.
func setsConsoleCookie(line string) bool {
	pair, _, _ := strings.Cut(line, ";")
	name, value, found := strings.Cut(pair, "=")
	if !found {
		name, value = "", pair
	}
	if isConsoleCookie(name) {
		return true
	}
	if strings.TrimSpace(name) == "" {
		inner, _, _ := strings.Cut(value, "=")
		return isConsoleCookie(inner)
	}
	return false
}

// stripConsoleCookies takes the console's cookies out of a request's Cookie
// headers, leaving the function its own.
func stripConsoleCookies(h http.Header) {
	lines := h.Values("Cookie")
	if len(lines) == 0 {
		return
	}
	var keep []string
	for _, line := range lines {
		for _, part := range strings.Split(line, ";") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			name, _, found := strings.Cut(part, "=")
			if !found {
				name = part // a nameless cookie's value, read as a name
			}
			if !isConsoleCookie(name) {
				keep = append(keep, part)
			}
		}
	}
	h.Del("Cookie")
	if len(keep) > 0 {
		h.Set("Cookie", strings.Join(keep, "; "))
	}
}

// dropConsoleSetCookies removes a function's Set-Cookie headers that would
// set one of the console's cookies.
func dropConsoleSetCookies(h http.Header) {
	for _, key := range []string{"Set-Cookie", "Set-Cookie2"} {
		lines := h.Values(key)
		if len(lines) == 0 {
			continue
		}
		var keep []string
		for _, line := range lines {
			if !setsConsoleCookie(line) {
				keep = append(keep, line)
			}
		}
		h.Del(key)
		for _, line := range keep {
			h.Add(key, line)
		}
	}
}

// guardConsoleCookies wraps the gateway: requests reach functions without
// the console's cookies, and answers (proxied, Lambda-style or static)
// reach browsers without a Set-Cookie for them. Protocol switches
// (WebSocket) write their headers past the ResponseWriter; the proxy's
// ModifyResponse filters those (see DropConsoleCookies).
func guardConsoleCookies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stripConsoleCookies(r.Header)
		next.ServeHTTP(&cookieGuard{ResponseWriter: w}, r)
	})
}

// cookieGuard filters Set-Cookie once, just before the header is sent.
type cookieGuard struct {
	http.ResponseWriter
	wrote bool
}

func (g *cookieGuard) WriteHeader(code int) {
	dropConsoleSetCookies(g.Header())
	if code >= 200 || code == http.StatusSwitchingProtocols {
		g.wrote = true
	}
	g.ResponseWriter.WriteHeader(code)
}

func (g *cookieGuard) Write(b []byte) (int, error) {
	if !g.wrote {
		g.WriteHeader(http.StatusOK)
	}
	return g.ResponseWriter.Write(b)
}

// Flush keeps streamed answers streaming.
func (g *cookieGuard) Flush() {
	if !g.wrote {
		g.WriteHeader(http.StatusOK)
	}
	http.NewResponseController(g.ResponseWriter).Flush() //nolint:errcheck // as http.Flusher: nothing to report
}

// Hijack hands the connection over (protocol switches) with the header
// filtered first.
func (g *cookieGuard) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	dropConsoleSetCookies(g.Header())
	return http.NewResponseController(g.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the connection's deadlines.
func (g *cookieGuard) Unwrap() http.ResponseWriter { return g.ResponseWriter }

// DropConsoleCookies is for a target's reverse proxy, as its
// ModifyResponse: it filters answers that switch protocols too (WebSocket),
// whose header the gateway's guard never sees.
func DropConsoleCookies(r *http.Response) error {
	dropConsoleSetCookies(r.Header)
	return nil
}
