package web

import (
	"context"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/store"
)

// defaultStreamRecheck is how often an open stream asks again whether its
// reader may still read it.
const defaultStreamRecheck = 5 * time.Second

// streamAccess is checked by open streams (live logs and live pages) every
// Config.StreamRecheck: a stream outlives the request that authorized it,
// and must end when its session or token is revoked or expires, or its
// user loses the role on the app it shows.
type streamAccess struct {
	s      *Server
	who    func(ctx context.Context) (store.User, error)
	appID  uint // 0: a stream about no one app (the apps overview)
	every  time.Duration
	lastAt time.Time
}

// streamAccess captures how the request was authorized: by the session
// cookie or by the bearer token, and the app authorize found.
func (s *Server) streamAccess(c echo.Context) *streamAccess {
	a := &streamAccess{s: s, every: s.cfg.StreamRecheck, lastAt: time.Now()}
	if a.every <= 0 {
		a.every = defaultStreamRecheck
	}
	if app, ok := c.Get(ctxApp).(store.App); ok {
		a.appID = app.ID
	}
	if _, ok := c.Get(ctxSession).(store.Session); ok {
		if secret, ok := s.sessionSecret(c); ok {
			a.who = func(ctx context.Context) (store.User, error) {
				u, _, err := s.cfg.Accounts.Session(ctx, secret)
				return u, err
			}
		}
	} else if tok, ok := strings.CutPrefix(c.Request().Header.Get("Authorization"), "Bearer "); ok {
		tok = strings.TrimSpace(tok)
		a.who = func(ctx context.Context) (store.User, error) { return s.cfg.Accounts.TokenUser(ctx, tok) }
	}
	return a
}

// allowed tells whether the stream may go on; it asks the database at most
// once per period and says yes in between.
func (a *streamAccess) allowed(ctx context.Context) bool {
	if time.Since(a.lastAt) < a.every {
		return true
	}
	a.lastAt = time.Now()
	if a.who == nil {
		return false
	}
	u, err := a.who(ctx)
	if err != nil {
		// Revoked, expired, or the database is unreachable: end the
		// stream; the browser reconnects and is asked to sign in.
		return false
	}
	if a.appID == 0 {
		return true
	}
	role, err := a.s.roleOf(ctx, u, a.appID)
	return err == nil && role != ""
}
