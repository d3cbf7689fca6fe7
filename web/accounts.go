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
)

// Failed sign-ins allowed per address and email within loginWindow; past
// that, even the right password is refused until the window has passed.
const (
	loginLimit  = 10
	loginWindow = 10 * time.Minute
)

// errLoginThrottled answers sign-ins past the limit.
var errLoginThrottled = errorf(http.StatusTooManyRequests, "throttled",
	fmt.Sprintf("Too many failed sign-ins for this email from your address; wait %d minutes and try again, or ask an admin to reset your password.", int(loginWindow.Minutes())))

// authenticate checks an email and password for the console form and the
// API alike, counting failures per (address, email).
func (s *Server) authenticate(c echo.Context, email, password string) (store.User, error) {
	key := c.RealIP() + "|" + strings.ToLower(strings.TrimSpace(email))
	if s.logins.blocked(key) {
		return store.User{}, errLoginThrottled
	}
	u, err := s.cfg.Accounts.Authenticate(c.Request().Context(), email, password)
	if errors.Is(err, auth.ErrBadCredentials) {
		s.logins.fail(key)
	}
	if err == nil {
		s.logins.reset(key)
	}
	return u, err
}

// access is the AccessStore, or an error for a server configured without one.
func (s *Server) access() (AccessStore, error) {
	if s.cfg.Access == nil {
		return nil, errors.New("this server keeps no roles, tokens or sessions (web.Config.Access is not set)")
	}
	return s.cfg.Access, nil
}

func (s *Server) apiMembers(c echo.Context) error {
	acc, err := s.access()
	if err != nil {
		return err
	}
	app, err := s.appParam(c)
	if err != nil {
		return err
	}
	ms, err := acc.Members(c.Request().Context(), app.ID)
	if err != nil {
		return err
	}
	out := []apiv1.Member{}
	for _, m := range ms {
		out = append(out, apiv1.Member{Email: m.Email, Role: m.Role, Since: m.CreatedAt})
	}
	return c.JSON(http.StatusOK, out)
}

// memberUser finds the user an email names.
func (s *Server) memberUser(ctx context.Context, acc AccessStore, email string) (store.User, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	u, err := acc.UserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return u, errorf(http.StatusNotFound, "not_found", fmt.Sprintf("No user with email %q; an admin can add one with `seedbed users create --email %s` or an invite.", email, email))
	}
	return u, err
}

// setMember gives a user a role on the app of the request.
func (s *Server) setMember(c echo.Context, email, role string) (store.User, error) {
	acc, err := s.access()
	if err != nil {
		return store.User{}, err
	}
	if !validRole(role) {
		return store.User{}, errorf(http.StatusUnprocessableEntity, "invalid", fmt.Sprintf("%q is not a role; use viewer, deployer or owner.", role))
	}
	app, err := s.appParam(c)
	if err != nil {
		return store.User{}, err
	}
	u, err := s.memberUser(c.Request().Context(), acc, email)
	if err != nil {
		return u, err
	}
	return u, acc.SetMember(c.Request().Context(), app.ID, u.ID, role)
}

// removeMember takes a user's role on the app of the request away.
func (s *Server) removeMember(c echo.Context, email string) error {
	acc, err := s.access()
	if err != nil {
		return err
	}
	app, err := s.appParam(c)
	if err != nil {
		return err
	}
	u, err := s.memberUser(c.Request().Context(), acc, email)
	if err != nil {
		return err
	}
	err = acc.RemoveMember(c.Request().Context(), app.ID, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "not_found", fmt.Sprintf("%s holds no role on app %s.", u.Email, app.Name))
	}
	return err
}

func (s *Server) apiSetMember(c echo.Context) error {
	var req apiv1.SetMemberRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	u, err := s.setMember(c, c.Param("email"), req.Role)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, apiv1.Member{Email: u.Email, Role: req.Role, Since: s.cfg.Now()})
}

func (s *Server) apiRemoveMember(c echo.Context) error {
	if err := s.removeMember(c, c.Param("email")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) apiCreateUser(c echo.Context) error {
	if !currentUser(c).IsAdmin {
		return errorf(http.StatusForbidden, "forbidden", "Only admins add users; ask an admin.")
	}
	acc, err := s.access()
	if err != nil {
		return err
	}
	var req apiv1.CreateUserRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	email := strings.ToLower(strings.TrimSpace(req.Email))
	if _, err := mail.ParseAddress(email); err != nil || !strings.Contains(email, "@") {
		return errorf(http.StatusUnprocessableEntity, "invalid", fmt.Sprintf("%q is not an email address.", req.Email))
	}
	if msg := auth.CheckPassword(req.Password); msg != "" {
		return errorf(http.StatusUnprocessableEntity, "invalid", msg)
	}
	ctx := c.Request().Context()
	u, err := s.cfg.Accounts.CreateUser(ctx, email, req.Password, req.Admin, false)
	if errors.Is(err, store.ErrConflict) {
		return errorf(http.StatusConflict, "conflict", fmt.Sprintf("A user with email %s exists already.", email))
	}
	if err != nil {
		return err
	}
	if req.Approver {
		if err := acc.SetUserFlags(ctx, u.ID, req.Admin, req.Approver); err != nil {
			return err
		}
		u.IsApprover = true
	}
	if req.Creator {
		if err := acc.SetUserCreator(ctx, u.ID, true); err != nil {
			return err
		}
		u.IsCreator = true
	}
	return c.JSON(http.StatusCreated, apiAccount(u))
}

func apiAccount(u store.User) apiv1.Account {
	return apiv1.Account{ID: u.ID, Email: u.Email, IsAdmin: u.IsAdmin, IsApprover: u.IsApprover, IsCreator: u.IsCreator, CreatedAt: u.CreatedAt}
}

// apiUsers lists every user with what they may do; only admins may.
func (s *Server) apiUsers(c echo.Context) error {
	if !currentUser(c).IsAdmin {
		return errorf(http.StatusForbidden, "forbidden", "Only admins list users; ask an admin.")
	}
	acc, err := s.access()
	if err != nil {
		return err
	}
	us, err := acc.Users(c.Request().Context())
	if err != nil {
		return err
	}
	out := []apiv1.Account{}
	for _, u := range us {
		out = append(out, apiAccount(u))
	}
	return c.JSON(http.StatusOK, out)
}

// apiUpdateUser changes whether a user is an admin, an approver or a
// creator; only admins may, and none may take their own admin away (so
// the last admin cannot lock everyone out by mistake).
func (s *Server) apiUpdateUser(c echo.Context) error {
	me := currentUser(c)
	if !me.IsAdmin {
		return errorf(http.StatusForbidden, "forbidden", "Only admins change what users may do; ask an admin.")
	}
	acc, err := s.access()
	if err != nil {
		return err
	}
	var req apiv1.UpdateUserRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	u, err := s.memberUser(ctx, acc, c.Param("email"))
	if err != nil {
		return err
	}
	if req.Admin != nil && !*req.Admin && u.ID == me.ID {
		return errorf(http.StatusConflict, "conflict", "You cannot take your own admin away; ask another admin to.")
	}
	if req.Admin != nil || req.Approver != nil {
		admin, approver := u.IsAdmin, u.IsApprover
		if req.Admin != nil {
			admin = *req.Admin
		}
		if req.Approver != nil {
			approver = *req.Approver
		}
		if err := acc.SetUserFlags(ctx, u.ID, admin, approver); err != nil {
			return err
		}
		u.IsAdmin, u.IsApprover = admin, approver
	}
	if req.Creator != nil {
		if err := acc.SetUserCreator(ctx, u.ID, *req.Creator); err != nil {
			return err
		}
		u.IsCreator = *req.Creator
	}
	return c.JSON(http.StatusOK, apiAccount(u))
}

func apiToken(t store.APIToken) apiv1.Token {
	return apiv1.Token{ID: t.ID, Name: t.Name, Prefix: t.Prefix, CreatedAt: t.CreatedAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt}
}

func (s *Server) apiTokens(c echo.Context) error {
	acc, err := s.access()
	if err != nil {
		return err
	}
	ts, err := acc.APITokens(c.Request().Context(), currentUser(c).ID)
	if err != nil {
		return err
	}
	out := []apiv1.Token{}
	for _, t := range ts {
		out = append(out, apiToken(t))
	}
	return c.JSON(http.StatusOK, out)
}

// newTokenName checks the name of a token to make.
func newTokenName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return "", errorf(http.StatusUnprocessableEntity, "invalid", "Name the token (1 to 100 characters), e.g. after the machine that uses it.")
	}
	return name, nil
}

func (s *Server) apiCreateToken(c echo.Context) error {
	var req apiv1.CreateTokenRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	name, err := newTokenName(req.Name)
	if err != nil {
		return err
	}
	secret, t, err := s.cfg.Accounts.NewToken(c.Request().Context(), currentUser(c), name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, apiv1.CreateTokenResponse{Token: secret, Detail: apiToken(t)})
}

// revokeToken revokes one of the signed-in user's tokens.
func (s *Server) revokeToken(c echo.Context) error {
	acc, err := s.access()
	if err != nil {
		return err
	}
	id, err := idParam(c)
	if err != nil {
		return err
	}
	err = acc.RevokeAPIToken(c.Request().Context(), currentUser(c).ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "not_found", fmt.Sprintf("You have no token #%d that is not revoked yet.", id))
	}
	return err
}

func (s *Server) apiRevokeToken(c echo.Context) error {
	if err := s.revokeToken(c); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func apiSession(sess store.Session) apiv1.Session {
	return apiv1.Session{ID: sess.ID, UserAgent: sess.UserAgent, CreatedAt: sess.CreatedAt, ExpiresAt: sess.ExpiresAt}
}

func (s *Server) apiSessions(c echo.Context) error {
	acc, err := s.access()
	if err != nil {
		return err
	}
	ss, err := acc.UserSessions(c.Request().Context(), currentUser(c).ID)
	if err != nil {
		return err
	}
	out := []apiv1.Session{}
	for _, sess := range ss {
		out = append(out, apiSession(sess))
	}
	return c.JSON(http.StatusOK, out)
}

// revokeSession signs one of the signed-in user's browsers out.
func (s *Server) revokeSession(c echo.Context) error {
	acc, err := s.access()
	if err != nil {
		return err
	}
	id, err := idParam(c)
	if err != nil {
		return err
	}
	err = acc.DeleteUserSession(c.Request().Context(), currentUser(c).ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "not_found", fmt.Sprintf("You have no session #%d.", id))
	}
	return err
}

func (s *Server) apiRevokeSession(c echo.Context) error {
	if err := s.revokeSession(c); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
