package web

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web/views"
)

// accountModel reads what the account page shows.
func (s *Server) accountModel(c echo.Context) (views.AccountModel, error) {
	acc, err := s.access()
	if err != nil {
		return views.AccountModel{}, err
	}
	ctx := c.Request().Context()
	u := currentUser(c)
	m := views.AccountModel{Page: s.page(c, "Account"), Email: u.Email, IsAdmin: u.IsAdmin, IsApprover: u.IsApprover, CreateURL: "/account/tokens"}
	if u.IsAdmin {
		m.InviteURL = "/account/invites"
		invs, err := s.pendingInvites(c)
		if err != nil {
			return m, err
		}
		for _, inv := range invs {
			m.Invites = append(m.Invites, views.InviteRow{ID: inv.ID, Email: inv.Email, IsAdmin: inv.IsAdmin, IsApprover: inv.IsApprover,
				CreatedBy: inv.CreatedBy, CreatedAt: inv.CreatedAt, ExpiresAt: inv.ExpiresAt, RevokeURL: fmt.Sprintf("/account/invites/%d/revoke", inv.ID)})
		}
	}
	tokens, err := acc.APITokens(ctx, u.ID)
	if err != nil {
		return m, err
	}
	for _, t := range tokens {
		row := views.TokenRow{ID: t.ID, Name: t.Name, Prefix: t.Prefix, CreatedAt: t.CreatedAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt}
		if t.RevokedAt == nil {
			row.RevokeURL = fmt.Sprintf("/account/tokens/%d/revoke", t.ID)
		}
		m.Tokens = append(m.Tokens, row)
	}
	sessions, err := acc.UserSessions(ctx, u.ID)
	if err != nil {
		return m, err
	}
	current, _ := c.Get(ctxSession).(store.Session)
	for _, sess := range sessions {
		m.Sessions = append(m.Sessions, views.SessionRow{ID: sess.ID, UserAgent: sess.UserAgent, CreatedAt: sess.CreatedAt,
			ExpiresAt: sess.ExpiresAt, Current: sess.ID == current.ID, RevokeURL: fmt.Sprintf("/account/sessions/%d/revoke", sess.ID)})
	}
	return m, nil
}

func (s *Server) accountPage(c echo.Context) error {
	m, err := s.accountModel(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.AccountPage(m))
}

// createToken makes a personal token and shows it on the page this once; it
// is rendered, not redirected to, so the secret never sits in a cookie or URL.
func (s *Server) createToken(c echo.Context) error {
	name, nameErr := newTokenName(c.FormValue("name"))
	if nameErr != nil {
		m, err := s.accountModel(c)
		if err != nil {
			return err
		}
		_, _, m.Error = statusOf(nameErr)
		return render(c, http.StatusUnprocessableEntity, views.AccountPage(m))
	}
	secret, _, err := s.cfg.Accounts.NewToken(c.Request().Context(), currentUser(c), name)
	if err != nil {
		return err
	}
	m, err := s.accountModel(c)
	if err != nil {
		return err
	}
	m.NewToken, m.NewTokenName = secret, name
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return render(c, http.StatusCreated, views.AccountPage(m))
}

func (s *Server) consoleRevokeToken(c echo.Context) error {
	if err := s.revokeToken(c); err != nil {
		return err
	}
	s.flash(c, "Token revoked: it no longer works.")
	return c.Redirect(http.StatusSeeOther, "/account")
}

func (s *Server) consoleRevokeSession(c echo.Context) error {
	if err := s.revokeSession(c); err != nil {
		return err
	}
	if current, ok := c.Get(ctxSession).(store.Session); ok && current.ID == parseUint(c.Param("id")) {
		s.clearSessionCookie(c)
		if isHTMX(c) { // a whole new page, top bar and all: htmx navigates
			c.Response().Header().Set("HX-Redirect", "/login")
			return c.NoContent(http.StatusNoContent)
		}
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	s.flash(c, "That browser is signed out.")
	return c.Redirect(http.StatusSeeOther, "/account")
}
