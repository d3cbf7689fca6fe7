package web_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/web"
)

func TestSafeNext(t *testing.T) {
	tests := []struct {
		name, next, want string
	}{
		{"empty", "", "/apps"},
		{"app page", "/apps/shop", "/apps/shop"},
		{"with query and fragment", "/builds?app=shop&page=2#top", "/builds?app=shop&page=2#top"},
		{"root", "/", "/"},
		{"escaped slash stays a path", "/apps/%2F%2Fevil.example", "/apps/%2F%2Fevil.example"},
		{"escaped CR LF is no header", "/apps/%0d%0aSet-Cookie:x", "/apps/%0d%0aSet-Cookie:x"},
		{"relative", "apps/shop", "/apps"},
		{"protocol-relative", "//evil.example/", "/apps"},
		{"backslash host", "/\\evil.example", "/apps"},
		{"backslash later", "/apps\\..\\x", "/apps"},
		{"tab then slash", "/\t/evil.example", "/apps"},
		{"newline then slash", "/\n/evil.example", "/apps"},
		{"CR then slash", "/\r/evil.example", "/apps"},
		{"leading space", " //evil.example", "/apps"},
		{"leading tab", "\t//evil.example", "/apps"},
		{"space inside", "/apps/a b", "/apps"},
		{"NUL", "/apps\x00", "/apps"},
		{"DEL", "/apps\x7f", "/apps"},
		{"non-ASCII", "/apps/é", "/apps"},
		{"fullwidth solidus", "/\uff0fevil.example", "/apps"},
		{"scheme", "https://evil.example/", "/apps"},
		{"javascript", "javascript:alert(1)", "/apps"},
		{"scheme-like path", "/javascript:alert(1)", "/javascript:alert(1)"},
		{"userinfo trick", "//user@evil.example", "/apps"},
		{"too long", "/" + strings.Repeat("a", 3000), "/apps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := web.SafeNext(tt.next); got != tt.want {
				t.Errorf("safeNext(%q) = %q, want %q", tt.next, got, tt.want)
			}
		})
	}
}

// FuzzSafeNext checks that whatever next a sign-in carries, the redirect
// stays on the console's origin, also as browsers read URLs: with tabs
// and newlines dropped and backslashes taken for slashes.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/apps/shop", "//evil.example", "/\\evil.example", "/\t/evil.example", "https://evil.example",
		"/%2F%2Fevil", "/apps?next=//evil", "/.//evil.example", "/\x00", "\\\\evil", "/a#//b"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://console.example/apps/shop/")
	f.Fuzz(func(t *testing.T, next string) {
		out := web.SafeNext(next)
		if out != "/apps" && out != next {
			t.Fatalf("safeNext(%q) = %q: neither the input nor the fallback", next, out)
		}
		// What a browser would make of it: tabs and newlines vanish,
		// backslashes are slashes.
		browser := strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(out)
		for _, s := range []string{out, browser} {
			if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") {
				t.Fatalf("safeNext(%q) = %q: not a path starting with a single slash", next, out)
			}
			for i := 0; i < len(s); i++ {
				if s[i] <= ' ' || s[i] >= 0x7f {
					t.Fatalf("safeNext(%q) = %q: byte %#x", next, out, s[i])
				}
			}
			ref, err := url.Parse(s)
			if err != nil {
				t.Fatalf("safeNext(%q) = %q, which does not parse: %v", next, out, err)
			}
			if u := base.ResolveReference(ref); u.Scheme != "https" || u.Host != "console.example" || u.User != nil {
				t.Fatalf("safeNext(%q) = %q resolves to %s, off the console's origin", next, out, u)
			}
		}
	})
}

// postForm posts a form as a browser on a page would, with extra headers.
func postForm(t *testing.T, c *http.Client, u string, form url.Values, header http.Header) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The CSRF token of a signed-in browser is its session's: a cookie a
// function planted (issue 10, item 2) makes no token valid, and a form
// sent from another origin (the gateway's port) is refused.
func TestCSRFIsBoundToTheSession(t *testing.T) {
	f := setup(t)
	srvURL, _ := url.Parse(f.srv.URL)
	c, tok := f.signIn(t)
	form := func(csrf string) url.Values {
		return url.Values{"_csrf": {csrf}, "key": {"GREETING"}, "value": {"hi"}}
	}
	target := f.srv.URL + "/apps/shop/stages/dev/vars"

	// What a function could do: plant a CSRF cookie of its choosing (as a
	// Set-Cookie on the same host reaching the browser's jar) and post
	// the same value.
	planted := strings.Repeat("ab", 32)
	c.Jar.SetCookies(srvURL, []*http.Cookie{{Name: "seedbed_csrf", Value: planted, Path: "/"}})
	if status, _ := postForm(t, c, target, form(planted), nil); status != http.StatusForbidden {
		t.Errorf("post with a planted cookie's value as token: %d, want 403", status)
	}
	if status, _ := postForm(t, c, target, form(""), nil); status != http.StatusForbidden {
		t.Errorf("post without a token: %d, want 403", status)
	}
	if status, _ := postForm(t, c, target, form(tok), http.Header{"Origin": {"http://" + srvURL.Hostname() + ":1"}}); status != http.StatusForbidden {
		t.Errorf("post from another origin with the right token: %d, want 403", status)
	}
	if status, _ := postForm(t, c, target, form(tok), http.Header{"Origin": {"null"}}); status != http.StatusForbidden {
		t.Errorf("post from an opaque origin with the right token: %d, want 403", status)
	}
	if status, body := postForm(t, c, target, form(tok), http.Header{"Origin": {f.srv.URL}}); status != http.StatusSeeOther {
		t.Errorf("post with the session's token from the console: %d, want 303\n%s", status, body)
	}
	// The header htmx sends works as well.
	if status, _ := postForm(t, c, target, url.Values{"key": {"B"}, "value": {"2"}}, http.Header{"X-Csrf-Token": {tok}}); status != http.StatusSeeOther {
		t.Errorf("post with the session's token in X-CSRF-Token: %d, want 303", status)
	}
	// Another browser's session token is no good in this one.
	_, other := f.signIn(t)
	if status, _ := postForm(t, c, target, form(other), nil); status != http.StatusForbidden {
		t.Errorf("post with another session's token: %d, want 403", status)
	}

	// Before sign-in, the token is tied to a pre-session cookie only the
	// server can make tokens for: a planted cookie with its value as the
	// token does not sign anyone in (login CSRF).
	anon := f.browser(t)
	anon.Jar.SetCookies(srvURL, []*http.Cookie{{Name: "seedbed_csrf", Value: planted, Path: "/"}})
	login := url.Values{"email": {"ada@example.com"}, "password": {"correct-horse"}}
	login.Set("_csrf", planted)
	if status, _ := postForm(t, anon, f.srv.URL+"/login", login, nil); status != http.StatusForbidden {
		t.Errorf("sign-in with a planted pre-session cookie as token: %d, want 403", status)
	}
	login.Set("_csrf", csrfFrom(t, anon, f.srv.URL+"/login")) // replaces the cookie it cannot vouch for
	if status, _ := postForm(t, anon, f.srv.URL+"/login", login, http.Header{"Origin": {f.srv.URL}}); status != http.StatusSeeOther {
		t.Errorf("sign-in with the form's token: %d, want 303", status)
	}
}

// Over HTTPS the console's cookies carry the __Host- prefix (Secure,
// Path=/, no Domain), which no other origin can set.
func TestCookiesUseHostPrefixOverHTTPS(t *testing.T) {
	for _, tt := range []struct {
		name      string
		configure func(*web.Config)
		want      []string
	}{
		{"plain HTTP", nil, []string{"seedbed_csrf", "seedbed_session"}},
		{"secure cookies", func(c *web.Config) { c.SecureCookies = true }, []string{"__Host-seedbed_csrf", "__Host-seedbed_session"}},
		{"https public URL", func(c *web.Config) { c.PublicURL = "https://seedbed.example" }, []string{"__Host-seedbed_csrf", "__Host-seedbed_session"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := setupWith(t, tt.configure)
			jar, _ := cookiejar.New(nil)
			c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			var set []*http.Cookie
			get, err := c.Get(f.srv.URL + "/login")
			if err != nil {
				t.Fatal(err)
			}
			get.Body.Close()
			set = append(set, get.Cookies()...)
			// The test server speaks plain HTTP: the jar would keep Secure
			// cookies to itself, so the pre-session cookie goes by hand.
			tok := csrfField.FindStringSubmatch(pageBody(t, c, f.srv.URL+"/login", get.Cookies()))
			if tok == nil {
				t.Fatal("no CSRF field on /login")
			}
			req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/login", strings.NewReader(url.Values{"email": {"ada@example.com"}, "password": {"correct-horse"}, "_csrf": {tok[1]}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for _, ck := range get.Cookies() {
				req.AddCookie(ck)
			}
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign in: %d", resp.StatusCode)
			}
			set = append(set, resp.Cookies()...)
			names := map[string]*http.Cookie{}
			for _, ck := range set {
				names[ck.Name] = ck
			}
			for _, name := range tt.want {
				ck := names[name]
				if ck == nil {
					t.Fatalf("no cookie %s among %v", name, set)
				}
				secure := strings.HasPrefix(name, "__Host-")
				if ck.Secure != secure || ck.Path != "/" || ck.Domain != "" || !ck.HttpOnly {
					t.Errorf("cookie %s: Secure=%v Path=%q Domain=%q HttpOnly=%v", name, ck.Secure, ck.Path, ck.Domain, ck.HttpOnly)
				}
			}
		})
	}
}

// pageBody loads a page with the given cookies and returns its body.
func pageBody(t *testing.T, c *http.Client, u string, cookies []*http.Cookie) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for _, ck := range cookies {
		req.AddCookie(ck)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// The sign-in limit counts by the connection's address: a new
// X-Forwarded-For per try gets no new tries (issue 10, item 5). Behind a
// trusted proxy, its X-Forwarded-For names the client.
func TestLoginLimitCountsTheConnectionsAddress(t *testing.T) {
	tries := func(t *testing.T, f *fixture) []int {
		ctx := context.Background()
		if _, err := f.accounts.CreateUser(ctx, "eve@example.com", "correct-horse", false, false); err != nil {
			t.Fatal(err)
		}
		var out []int
		for i := range 12 {
			body := `{"email":"eve@example.com","password":"wrong-password"}`
			if i == 11 {
				body = `{"email":"eve@example.com","password":"correct-horse"}`
			}
			req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/api/v1/login", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			ip := net.IPv4(203, 0, 113, byte(i+1)).String()
			req.Header.Set("X-Forwarded-For", ip)
			req.Header.Set("X-Real-Ip", ip)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			out = append(out, resp.StatusCode)
		}
		return out
	}
	t.Run("untrusted headers", func(t *testing.T) {
		got := tries(t, setup(t))
		if got[10] != http.StatusTooManyRequests || got[11] != http.StatusTooManyRequests {
			t.Errorf("statuses %v: the 11th and 12th try (a new X-Forwarded-For each) must be 429", got)
		}
	})
	t.Run("trusted proxy", func(t *testing.T) {
		f := setupWith(t, func(c *web.Config) {
			var err error
			if c.TrustedProxies, err = web.ParseTrustedProxies("127.0.0.0/8, ::1"); err != nil {
				t.Fatal(err)
			}
		})
		got := tries(t, f)
		if got[10] != http.StatusUnauthorized || got[11] != http.StatusCreated {
			t.Errorf("statuses %v: behind a trusted proxy each X-Forwarded-For is its own client (401 …, then 201)", got)
		}
	})
}

func TestParseTrustedProxies(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
		wantErr  string
	}{
		{"empty", "", nil, ""},
		{"cidrs and addresses", "10.0.0.0/8, 192.168.1.10,fd00::/8,::1", []string{"10.0.0.0/8", "192.168.1.10/32", "fd00::/8", "::1/128"}, ""},
		{"bad", "10.0.0.0/8,proxy.example", nil, `"proxy.example" is neither an address nor a CIDR`},
		{"bad mask", "10.0.0.0/99", nil, `"10.0.0.0/99" is not a CIDR`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := web.ParseTrustedProxies(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, n := range got {
				s = append(s, n.String())
			}
			if strings.Join(s, " ") != strings.Join(tt.want, " ") {
				t.Errorf("got %v, want %v", s, tt.want)
			}
		})
	}
}

// Every answer of the console carries the security headers: pages, error
// pages, the sign-in page, assets and the API.
func TestSecurityHeaders(t *testing.T) {
	f := setup(t)
	c, _ := f.signIn(t)
	for _, tt := range []struct{ name, path string }{
		{"page", "/apps/shop"},
		{"sign-in", "/login"},
		{"not found", "/apps/nope"},
		{"no route", "/no/such/page"},
		{"asset", "/assets/app.css"},
		{"API", "/api/v1/me"},
		{"healthz", "/healthz"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := c.Get(f.srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			h := resp.Header
			csp := h.Get("Content-Security-Policy")
			for _, want := range []string{"script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "default-src 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %s", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
				t.Errorf("CSP %q allows inline code", csp)
			}
			if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "strict-origin-when-cross-origin" {
				t.Errorf("%s: X-Frame-Options=%q X-Content-Type-Options=%q Referrer-Policy=%q", tt.path,
					h.Get("X-Frame-Options"), h.Get("X-Content-Type-Options"), h.Get("Referrer-Policy"))
			}
		})
	}
}

// A second session cookie, as a script on a function's page on the same
// host could set for a narrower path, makes the request signed out rather
// than signed in as whoever's session was tossed in.
func TestTossedSessionCookieIsNotTrusted(t *testing.T) {
	f := setup(t)
	c, _ := f.signIn(t)
	srvURL, _ := url.Parse(f.srv.URL)
	var mine string
	for _, ck := range c.Jar.Cookies(srvURL) {
		if ck.Name == "seedbed_session" {
			mine = ck.Value
		}
	}
	if mine == "" {
		t.Fatal("no session cookie after sign-in")
	}
	get := func(cookie string) int {
		req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/apps", nil)
		req.Header.Set("Cookie", cookie)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get("seedbed_session=" + mine); got != http.StatusOK {
		t.Fatalf("one session cookie: %d, want 200", got)
	}
	// The attacker's own (valid) session, tossed in for a narrower path,
	// comes first.
	c2, _ := f.signIn(t)
	var theirs string
	for _, ck := range c2.Jar.Cookies(srvURL) {
		if ck.Name == "seedbed_session" {
			theirs = ck.Value
		}
	}
	if got := get("seedbed_session=" + theirs + "; seedbed_session=" + mine); got != http.StatusSeeOther {
		t.Errorf("two session cookies: %d, want 303 to sign in", got)
	}
}

// Failed webhook deliveries are counted by the connection's address too:
// deliveries claiming a forge's address (X-Forwarded-For) block only their
// real sender, and behind a trusted proxy the client it names.
func TestWebhookLimitCountsTheRealAddress(t *testing.T) {
	deliver := func(t *testing.T, f *fixture, xff string) int {
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/hooks/github/nope", strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	const forge = "140.82.112.1" // an address of GitHub's hooks
	t.Run("untrusted headers", func(t *testing.T) {
		f := setup(t)
		for range 21 {
			deliver(t, f, forge)
		}
		if got := deliver(t, f, ""); got != http.StatusTooManyRequests {
			t.Errorf("the sender's own next delivery: %d, want 429 (its failures count against its connection)", got)
		}
	})
	t.Run("trusted proxy", func(t *testing.T) {
		f := setupWith(t, func(c *web.Config) { c.TrustedProxies, _ = web.ParseTrustedProxies("127.0.0.1,::1") })
		for range 21 {
			deliver(t, f, forge+", 203.0.113.9") // the proxy appends the real client
		}
		if got := deliver(t, f, "203.0.113.9"); got != http.StatusTooManyRequests {
			t.Errorf("the attacker's next delivery: %d, want 429", got)
		}
		if got := deliver(t, f, forge); got != http.StatusNotFound {
			t.Errorf("the forge's own delivery: %d, want it to get through (404: no such app)", got)
		}
	})
}

// A flash notice is shown only when the server set it: a planted
// seedbed_flash cookie puts no words in Seedbed's mouth.
func TestPlantedFlashIsNotShown(t *testing.T) {
	f := setup(t)
	srvURL, _ := url.Parse(f.srv.URL)
	c, tok := f.signIn(t)
	if status, _ := postForm(t, c, f.srv.URL+"/apps/shop/stages/dev/vars", url.Values{"_csrf": {tok}, "key": {"A"}, "value": {"1"}}, nil); status != http.StatusSeeOther {
		t.Fatalf("set a variable: %d", status)
	}
	if body := pageBody(t, c, f.srv.URL+"/apps/shop/stages/dev/settings", c.Jar.Cookies(srvURL)); !strings.Contains(body, `data-testid="flash"`) {
		t.Fatal("the server's own flash notice is not shown")
	}
	var planted []*http.Cookie
	for _, ck := range c.Jar.Cookies(srvURL) {
		if ck.Name != "seedbed_flash" { // shown already (the jar missed its deletion: pageBody goes around it)
			planted = append(planted, ck)
		}
	}
	planted = append(planted, &http.Cookie{Name: "seedbed_flash", Value: url.QueryEscape("Your session expired: sign in again at evil.example")})
	if body := pageBody(t, c, f.srv.URL+"/apps/shop", planted); strings.Contains(body, "evil.example") || strings.Contains(body, `data-testid="flash"`) {
		t.Error("a planted flash cookie is shown as Seedbed's notice")
	}
}
