package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web/auth"
	"github.com/seedbed/seedbed/web/views"
)

const (
	sessionCookie = "seedbed_session"
	csrfCookie    = "seedbed_csrf"
	ctxUser       = "seedbed.user"
	ctxSession    = "seedbed.session"
)

// csrf guards every form with a double-submit token: a cookie and a hidden
// field (or the X-CSRF-Token header that htmx sends) must match.
func (s *Server) csrf() echo.MiddlewareFunc {
	return middleware.CSRFWithConfig(middleware.CSRFConfig{
		TokenLookup:    "form:_csrf,header:X-CSRF-Token",
		CookieName:     csrfCookie,
		CookiePath:     "/",
		CookieHTTPOnly: true,
		CookieSecure:   s.cfg.SecureCookies,
		CookieSameSite: http.SameSiteLaxMode,
		ErrorHandler: func(err error, c echo.Context) error {
			return errorf(http.StatusForbidden, "forbidden", "This form has expired or did not come from Seedbed (missing or wrong CSRF token). Reload the page and try again.")
		},
	})
}

// loadSession finds the signed-in user, if any.
func (s *Server) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if ck, err := c.Cookie(sessionCookie); err == nil && ck.Value != "" {
			u, sess, err := s.cfg.Accounts.Session(c.Request().Context(), ck.Value)
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
	if tok, ok := c.Get(middleware.DefaultCSRFConfig.ContextKey).(string); ok {
		p.CSRFToken = tok
	}
	if u, ok := c.Get(ctxUser).(store.User); ok {
		p.UserEmail = u.Email
		if u.IsAdmin {
			p.SecurityWarning = s.cfg.SecurityWarning
		}
	}
	if f, err := c.Cookie("seedbed_flash"); err == nil {
		p.Flash, _ = url.QueryUnescape(f.Value)
		c.SetCookie(&http.Cookie{Name: "seedbed_flash", Path: "/", MaxAge: -1})
	}
	return p
}

func (s *Server) flash(c echo.Context, msg string) {
	c.SetCookie(&http.Cookie{Name: "seedbed_flash", Value: url.QueryEscape(msg), Path: "/", HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
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
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: secret, Path: "/", HttpOnly: true, Secure: s.cfg.SecureCookies,
		SameSite: http.SameSiteLaxMode, MaxAge: int(auth.SessionTTL.Seconds())})
	return c.Redirect(http.StatusSeeOther, safeNext(next))
}

func (s *Server) logout(c echo.Context) error {
	if sess, ok := c.Get(ctxSession).(store.Session); ok {
		if err := s.cfg.Accounts.EndSession(c.Request().Context(), sess); err != nil {
			return err
		}
	}
	c.SetCookie(&http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1, HttpOnly: true})
	return c.Redirect(http.StatusSeeOther, "/login")
}

// safeNext keeps a post-login redirect on this site.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/apps"
	}
	return next
}
