package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web/apiv1"
	"github.com/seedbed/seedbed/web/auth"
	"github.com/seedbed/seedbed/web/views"
)

// InviteTTL is how long an invite link works.
const InviteTTL = 7 * 24 * time.Hour

// InviteStore keeps one-time invite links; *store.Store has it.
type InviteStore interface {
	CreateInvite(ctx context.Context, inv *store.Invite) error
	InviteByTokenHash(ctx context.Context, hash string) (store.Invite, error)
	AcceptInvite(ctx context.Context, hash string, now time.Time, u *store.User) (store.Invite, error)
	UserByEmail(ctx context.Context, email string) (store.User, error)
	PendingInvites(ctx context.Context, now time.Time) ([]store.Invite, error)
	RevokeInvite(ctx context.Context, id uint, by string, now time.Time) (store.Invite, error)
}

func (s *Server) invites() (InviteStore, error) {
	is, ok := s.cfg.Store.(InviteStore)
	if !ok {
		return nil, errorf(http.StatusNotImplemented, "internal", "This server's store keeps no invites.")
	}
	return is, nil
}

// createInvite makes an invite for email and returns it with its link. Only
// admins may; an email that is a user already is refused.
func (s *Server) createInvite(c echo.Context, email string, admin, approver, creator bool) (store.Invite, string, error) {
	if !currentUser(c).IsAdmin {
		return store.Invite{}, "", errAdminsOnly
	}
	is, err := s.invites()
	if err != nil {
		return store.Invite{}, "", err
	}
	email = strings.ToLower(strings.TrimSpace(email))
	if _, err := mail.ParseAddress(email); err != nil || !strings.Contains(email, "@") {
		return store.Invite{}, "", errorf(http.StatusUnprocessableEntity, "invalid", fmt.Sprintf("%q is not an email address.", email))
	}
	ctx := c.Request().Context()
	if _, err := is.UserByEmail(ctx, email); err == nil {
		return store.Invite{}, "", errorf(http.StatusConflict, "conflict", fmt.Sprintf("%s is a user already; give them roles with `seedbed members set`.", email))
	} else if !errors.Is(err, store.ErrNotFound) {
		return store.Invite{}, "", err
	}
	token, hash, err := auth.NewInviteToken()
	if err != nil {
		return store.Invite{}, "", err
	}
	now := s.cfg.Now().UTC()
	inv := store.Invite{TokenHash: hash, Email: email, IsAdmin: admin, IsApprover: approver, IsCreator: creator, CreatedBy: currentUser(c).Email,
		CreatedAt: now, ExpiresAt: now.Add(InviteTTL)}
	if err := is.CreateInvite(ctx, &inv); err != nil {
		return inv, "", err
	}
	return inv, s.baseURL(c) + "/invite/" + token, nil
}

// baseURL is where users reach the console: the configured public URL, else
// the address this request came to.
func (s *Server) baseURL(c echo.Context) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	return c.Scheme() + "://" + c.Request().Host
}

func (s *Server) apiCreateInvite(c echo.Context) error {
	var req apiv1.CreateInviteRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	inv, link, err := s.createInvite(c, req.Email, req.Admin, req.Approver, req.Creator)
	if err != nil {
		return err
	}
	out := apiInvite(inv)
	out.URL = link
	return c.JSON(http.StatusCreated, out)
}

func apiInvite(inv store.Invite) apiv1.Invite {
	return apiv1.Invite{ID: inv.ID, Email: inv.Email, IsAdmin: inv.IsAdmin, IsApprover: inv.IsApprover, IsCreator: inv.IsCreator,
		CreatedBy: inv.CreatedBy, CreatedAt: inv.CreatedAt, ExpiresAt: inv.ExpiresAt}
}

// pendingInvites lists the invites whose links still work. Only admins may
// (authorize checks it too).
func (s *Server) pendingInvites(c echo.Context) ([]store.Invite, error) {
	if !currentUser(c).IsAdmin {
		return nil, errAdminsOnly
	}
	is, err := s.invites()
	if err != nil {
		return nil, err
	}
	return is.PendingInvites(c.Request().Context(), s.cfg.Now())
}

func (s *Server) apiInvites(c echo.Context) error {
	invs, err := s.pendingInvites(c)
	if err != nil {
		return err
	}
	out := []apiv1.Invite{}
	for _, inv := range invs {
		out = append(out, apiInvite(inv))
	}
	return c.JSON(http.StatusOK, out)
}

// revokeInvite makes the invite the route's :id names stop working, for
// the console and the API alike.
func (s *Server) revokeInvite(c echo.Context) (store.Invite, error) {
	if !currentUser(c).IsAdmin {
		return store.Invite{}, errAdminsOnly
	}
	is, err := s.invites()
	if err != nil {
		return store.Invite{}, err
	}
	id, err := idParam(c)
	if err != nil {
		return store.Invite{}, err
	}
	inv, err := is.RevokeInvite(c.Request().Context(), id, currentUser(c).Email, s.cfg.Now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return inv, errorf(http.StatusNotFound, "not_found", fmt.Sprintf("No invite #%d. `seedbed invites list` shows the pending ones.", id))
	case errors.Is(err, store.ErrInviteUsed):
		return inv, errorf(http.StatusConflict, "conflict", fmt.Sprintf("The invite for %s was used already: they are a user now. Take their roles away with `seedbed members remove APP %s`.", inv.Email, inv.Email))
	case errors.Is(err, store.ErrInviteRevoked):
		return inv, errorf(http.StatusConflict, "conflict", fmt.Sprintf("The invite for %s was revoked already, by %s.", inv.Email, inv.RevokedBy))
	}
	return inv, err
}

func (s *Server) apiRevokeInvite(c echo.Context) error {
	if _, err := s.revokeInvite(c); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) consoleRevokeInvite(c echo.Context) error {
	inv, err := s.revokeInvite(c)
	if err != nil {
		return err
	}
	s.flash(c, "The invite for "+inv.Email+" is revoked: its link no longer works.")
	return c.Redirect(http.StatusSeeOther, "/account")
}

// consoleCreateInvite makes an invite from the account page and shows its
// link there once, rendered rather than redirected to, like a new token.
func (s *Server) consoleCreateInvite(c echo.Context) error {
	inv, link, invErr := s.createInvite(c, c.FormValue("email"), c.FormValue("admin") != "", c.FormValue("approver") != "", c.FormValue("creator") != "")
	status, _, msg := statusOf(invErr)
	if invErr != nil && status >= 500 {
		return invErr
	}
	m, err := s.accountModel(c)
	if err != nil {
		return err
	}
	if invErr != nil {
		m.InviteError, m.InviteEmail = msg, c.FormValue("email")
		return render(c, status, views.AccountPage(m))
	}
	m.NewInviteURL, m.NewInviteEmail = link, inv.Email
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return render(c, http.StatusCreated, views.AccountPage(m))
}

// inviteProblem says why an invite cannot be used, or "".
func (s *Server) inviteProblem(inv store.Invite, err error) (string, error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "This invite link is unknown. Check that you copied all of it, or ask an admin for a new one.", nil
	case errors.Is(err, store.ErrInviteUsed):
		return "This invite link was used already. Sign in, or ask an admin for a new one.", nil
	case errors.Is(err, store.ErrInviteExpired):
		return "This invite link has expired. Ask an admin for a new one.", nil
	case errors.Is(err, store.ErrInviteRevoked):
		return "This invite link was revoked by an admin and no longer works. Ask an admin for a new one if you still need an account.", nil
	case err != nil:
		return "", err
	case inv.UsedAt != nil:
		return s.inviteProblem(inv, store.ErrInviteUsed)
	case inv.RevokedAt != nil:
		return s.inviteProblem(inv, store.ErrInviteRevoked)
	case !inv.ExpiresAt.After(s.cfg.Now()):
		return s.inviteProblem(inv, store.ErrInviteExpired)
	}
	return "", nil
}

func (s *Server) invitePage(c echo.Context) error {
	is, err := s.invites()
	if err != nil {
		return err
	}
	token := c.Param("token")
	inv, err := is.InviteByTokenHash(c.Request().Context(), auth.Hash(token))
	problem, err := s.inviteProblem(inv, err)
	if err != nil {
		return err
	}
	m := views.InviteModel{Page: s.page(c, "Join Seedbed"), Email: inv.Email, ActionURL: "/invite/" + token, Invalid: problem}
	c.Response().Header().Set("Referrer-Policy", "no-referrer")
	if problem != "" {
		return render(c, http.StatusGone, views.InvitePage(m))
	}
	return render(c, http.StatusOK, views.InvitePage(m))
}

// acceptInvite creates the invited user with the chosen password, uses the
// invite up and signs the new user in.
func (s *Server) acceptInvite(c echo.Context) error {
	is, err := s.invites()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	token := c.Param("token")
	inv, err := is.InviteByTokenHash(ctx, auth.Hash(token))
	m := views.InviteModel{Page: s.page(c, "Join Seedbed"), Email: inv.Email, ActionURL: "/invite/" + token}
	if m.Invalid, err = s.inviteProblem(inv, err); err != nil {
		return err
	}
	if m.Invalid != "" {
		return render(c, http.StatusGone, views.InvitePage(m))
	}
	pw := c.FormValue("password")
	if msg := auth.CheckPassword(pw); msg != "" {
		m.Error = msg
		return render(c, http.StatusUnprocessableEntity, views.InvitePage(m))
	}
	if pw != c.FormValue("confirm") {
		m.Error = "The two passwords differ; type the same one twice."
		return render(c, http.StatusUnprocessableEntity, views.InvitePage(m))
	}
	hash, err := s.cfg.Accounts.HashPassword(pw)
	if err != nil {
		return err
	}
	u := store.User{PasswordHash: hash}
	if _, err := is.AcceptInvite(ctx, auth.Hash(token), s.cfg.Now(), &u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			m.Invalid = fmt.Sprintf("%s is a user already. Sign in instead.", inv.Email)
		} else if m.Invalid, err = s.inviteProblem(inv, err); err != nil {
			return err
		}
		return render(c, http.StatusGone, views.InvitePage(m))
	}
	secret, _, err := s.cfg.Accounts.NewSession(ctx, u, c.Request().UserAgent())
	if err != nil {
		return err
	}
	s.setSessionCookie(c, secret)
	s.flash(c, "Welcome to Seedbed. Ask an owner of an app to give you a role on it.")
	return c.Redirect(http.StatusSeeOther, "/apps")
}
