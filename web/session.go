package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web/auth"
	"github.com/seedbed/seedbed/web/views"
)

// The console's cookies. Every name starts with "seedbed_": the function
// gateway (gateway/cookies.go) strips cookies of that form
// from requests to functions and drops functions' Set-Cookie for them.
// Over HTTPS each name gets the __Host- prefix (see Server.cookieName), so
// the browser keeps it to this exact host, Secure and Path=/.
const (
	sessionCookie = "seedbed_session"
	csrfCookie    = "seedbed_csrf" // the pre-session CSRF secret, before sign-in
	flashCookie   = "seedbed_flash"
	ctxUser       = "seedbed.user"
	ctxSession    = "seedbed.session"
	ctxCSRF       = "seedbed.csrf"
)

// cookieName is the name a console cookie goes by: __Host-NAME when the
// console is served over HTTPS, so that no other host or port (a function
// behind the gateway) can set or overwrite it.
func (s *Server) cookieName(base string) string {
	if s.secure {
		return "__Host-" + base
	}
	return base
}

// setCookie sets a console cookie with the attributes every one of them has.
func (s *Server) setCookie(c echo.Context, base, value string, maxAge int) {
	c.SetCookie(&http.Cookie{Name: s.cookieName(base), Value: value, Path: "/", HttpOnly: true, Secure: s.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: maxAge})
}

// setSessionCookie signs the browser in with a session's secret.
func (s *Server) setSessionCookie(c echo.Context, secret string) {
	s.setCookie(c, sessionCookie, secret, int(auth.SessionTTL.Seconds()))
}

// clearSessionCookie signs the browser out.
func (s *Server) clearSessionCookie(c echo.Context) { s.setCookie(c, sessionCookie, "", -1) }

// csrf guards every console request that changes something. The token a
// form carries (the _csrf field, or the X-CSRF-Token header htmx sends) is
//
//   - for a signed-in browser, the token stored in its session row: a
//     cookie someone else planted (a function's Set-Cookie, a script on a
//     function's page) cannot make a token valid;
//   - before sign-in (the sign-in and invite forms), an HMAC, under a key
//     only this server holds, of a random pre-session cookie; a planted
//     cookie of the attacker's choosing matches no token.
//
// A request whose Origin header names another origin (another port counts:
// a function's page on the gateway) is refused as well.
func (s *Server) csrf() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			want, err := s.csrfToken(c)
			if err != nil {
				return err
			}
			c.Set(ctxCSRF, want)
			switch c.Request().Method {
			case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
				return next(c)
			}
			if !s.sameOrigin(c.Request()) {
				return errorf(http.StatusForbidden, "forbidden", "This form was sent from another site (its Origin is not Seedbed's). Open Seedbed itself and try again.")
			}
			for _, got := range []string{c.Request().Header.Get("X-CSRF-Token"), c.FormValue("_csrf")} {
				if got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1 {
					return next(c)
				}
			}
			return errorf(http.StatusForbidden, "forbidden", "This form has expired or did not come from Seedbed (missing or wrong CSRF token). Reload the page and try again.")
		}
	}
}

// csrfToken is the token the request's forms must carry: its session's, or
// one derived from the pre-session cookie, which is set here when missing.
func (s *Server) csrfToken(c echo.Context) (string, error) {
	if sess, ok := c.Get(ctxSession).(store.Session); ok && sess.CSRFToken != "" {
		return sess.CSRFToken, nil
	}
	var secret string
	if ck, err := c.Cookie(s.cookieName(csrfCookie)); err == nil && validPreSession(ck.Value) {
		secret = ck.Value
	} else {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return "", fmt.Errorf("make a CSRF secret: %w", err)
		}
		secret = hex.EncodeToString(b)
		s.setCookie(c, csrfCookie, secret, 0)
	}
	return s.mac("pre-session csrf", secret), nil
}

// mac signs a value for one purpose with the server's key.
func (s *Server) mac(purpose, value string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte("seedbed " + purpose + "\x00"))
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil))
}

// openFlash reads a flash notice the server set; one it did not sign (a
// cookie planted by a script on the console's host, to put words in
// Seedbed's mouth) shows nothing.
func (s *Server) openFlash(v string) string {
	sig, escaped, ok := strings.Cut(v, ".")
	if !ok {
		return ""
	}
	msg, err := url.QueryUnescape(escaped)
	if err != nil || !hmac.Equal([]byte(sig), []byte(s.mac("flash", msg))) {
		return ""
	}
	return msg
}

// validPreSession tells whether a pre-session cookie has the form this
// server gives it (64 hex digits); anything else is replaced.
func validPreSession(v string) bool {
	if len(v) != 64 {
		return false
	}
	_, err := hex.DecodeString(v)
	return err == nil
}

// sameOrigin tells whether a request came from a page of the console. A
// request without Origin (an old browser, a script like the tests) is left
// to the token; one with Origin must name this host, or the public URL's.
func (s *Server) sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false // "null" among others: a sandboxed frame, a data: URL
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	if pu, err := url.Parse(s.cfg.PublicURL); err == nil && pu.Host != "" {
		return strings.EqualFold(u.Scheme+"://"+u.Host, pu.Scheme+"://"+pu.Host)
	}
	return false
}

// sessionSecret is the request's session cookie. A browser sends several
// cookies of one name when someone else set one for a narrower path (a
// script on a function's page served from the console's host can): the
// request then counts as signed out rather than trust either.
func (s *Server) sessionSecret(c echo.Context) (string, bool) {
	name, secret, n := s.cookieName(sessionCookie), "", 0
	for _, ck := range c.Request().Cookies() {
		if ck.Name == name {
			secret, n = ck.Value, n+1
		}
	}
	return secret, n == 1 && secret != ""
}

// loadSession finds the signed-in user, if any.
func (s *Server) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if secret, ok := s.sessionSecret(c); ok {
			u, sess, err := s.cfg.Accounts.Session(c.Request().Context(), secret)
			switch {
			case err == nil:
				c.Set(ctxUser, u)
				c.Set(ctxSession, sess)
			case !errors.Is(err, store.ErrNotFound):
				return err
			}
		}
		return next(c)
	}
}

func (s *Server) requireSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if _, ok := c.Get(ctxUser).(store.User); !ok {
			if c.Request().Method == http.MethodGet {
				return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
			}
			return errorf(http.StatusUnauthorized, "unauthorized", "Sign in first.")
		}
		return next(c)
	}
}

// requireToken authenticates API calls by their bearer token.
func (s *Server) requireToken(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get("Authorization")
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || tok == "" {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="seedbed"`)
			return errorf(http.StatusUnauthorized, "unauthorized", "Send an API token as \"Authorization: Bearer <token>\"; `seedbed login` makes one.")
		}
		u, err := s.cfg.Accounts.TokenUser(c.Request().Context(), strings.TrimSpace(tok))
		if errors.Is(err, store.ErrNotFound) {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="seedbed", error="invalid_token"`)
			return errorf(http.StatusUnauthorized, "unauthorized", "This API token is unknown or revoked; run `seedbed login` again.")
		}
		if err != nil {
			return err
		}
		c.Set(ctxUser, u)
		return next(c)
	}
}

func currentUser(c echo.Context) store.User {
	u, _ := c.Get(ctxUser).(store.User)
	return u
}

// page fills what every console page's layout needs.
func (s *Server) page(c echo.Context, title string) views.Page {
	p := views.Page{Title: title, Now: s.cfg.Now()}
	if tok, ok := c.Get(ctxCSRF).(string); ok {
		p.CSRFToken = tok
	}
	if u, ok := c.Get(ctxUser).(store.User); ok {
		p.UserEmail = u.Email
		if u.IsAdmin {
			p.SecurityWarning = s.cfg.SecurityWarning
		}
	}
	if f, err := c.Cookie(s.cookieName(flashCookie)); err == nil {
		p.Flash = s.openFlash(f.Value)
		s.setCookie(c, flashCookie, "", -1)
	}
	return p
}

func (s *Server) flash(c echo.Context, msg string) {
	s.setCookie(c, flashCookie, s.mac("flash", msg)+"."+url.QueryEscape(msg), 0)
}

func (s *Server) loginForm(c echo.Context) error {
	if _, ok := c.Get(ctxUser).(store.User); ok {
		return c.Redirect(http.StatusSeeOther, safeNext(c.QueryParam("next")))
	}
	return render(c, http.StatusOK, views.LoginPage(views.LoginModel{Page: s.page(c, "Sign in"), Next: c.QueryParam("next")}))
}

func (s *Server) login(c echo.Context) error {
	email, password, next := c.FormValue("email"), c.FormValue("password"), c.FormValue("next")
	u, err := s.authenticate(c, email, password)
	if errors.Is(err, auth.ErrBadCredentials) || errors.Is(err, errLoginThrottled) {
		status, _, msg := statusOf(err)
		if errors.Is(err, auth.ErrBadCredentials) {
			status, msg = http.StatusUnauthorized, "Wrong email or password."
		}
		m := views.LoginModel{Page: s.page(c, "Sign in"), Email: email, Next: next, Error: msg}
		return render(c, status, views.LoginPage(m))
	}
	if err != nil {
		return err
	}
	secret, _, err := s.cfg.Accounts.NewSession(c.Request().Context(), u, c.Request().UserAgent())
	if err != nil {
		return err
	}
	s.setSessionCookie(c, secret)
	return c.Redirect(http.StatusSeeOther, safeNext(next))
}

func (s *Server) logout(c echo.Context) error {
	if sess, ok := c.Get(ctxSession).(store.Session); ok {
		if err := s.cfg.Accounts.EndSession(c.Request().Context(), sess); err != nil {
			return err
		}
	}
	s.clearSessionCookie(c)
	return c.Redirect(http.StatusSeeOther, "/login")
}

// safeNext keeps a post-login redirect on this site: next must be a path
// of this origin, or the apps page is used. Browsers are lenient where
// parsers are not: they drop tabs and newlines anywhere in a URL and read
// a backslash as a slash, so "/\t/evil.example" and "/\evil.example" both
// mean "//evil.example", another host. Only printable ASCII other than the
// backslash is let through (a genuine next is a request URI, escaped), and
// the result must start with one slash and parse as a bare path.
func safeNext(next string) string {
	const fallback = "/apps"
	if len(next) == 0 || len(next) > 2048 || next[0] != '/' {
		return fallback
	}
	if len(next) > 1 && (next[1] == '/' || next[1] == '\\') {
		return fallback
	}
	for i := 0; i < len(next); i++ {
		if b := next[i]; b <= ' ' || b >= 0x7f || b == '\\' {
			return fallback
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return fallback
	}
	return next
}
