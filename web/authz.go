package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/store"
)

// AccessStore keeps who may do what on which app, and each user's tokens and
// sessions.
type AccessStore interface {
	MemberRole(ctx context.Context, appID, userID uint) (string, error)
	SetMember(ctx context.Context, appID, userID uint, role string) error
	RemoveMember(ctx context.Context, appID, userID uint) error
	Members(ctx context.Context, appID uint) ([]store.Member, error)
	MemberApps(ctx context.Context, userID uint) (map[uint]string, error)
	UserByEmail(ctx context.Context, email string) (store.User, error)
	SetUserFlags(ctx context.Context, id uint, admin, approver bool) error
	SetUserCreator(ctx context.Context, id uint, creator bool) error
	Users(ctx context.Context) ([]store.User, error)
	APITokens(ctx context.Context, userID uint) ([]store.APIToken, error)
	RevokeAPIToken(ctx context.Context, userID, tokenID uint) error
	UserSessions(ctx context.Context, userID uint) ([]store.Session, error)
	DeleteUserSession(ctx context.Context, userID, id uint) error
}

const (
	ctxApp  = "seedbed.app"
	ctxRole = "seedbed.role"
)

// roleAdmin marks routes about no app that only admins may use (invites).
// It is no role on an app: admins own every app.
const roleAdmin = "admin"

// errAdminsOnly refuses a route that is for admins to anyone else.
var errAdminsOnly = errorf(http.StatusForbidden, "forbidden", "Only admins manage invites; ask an admin to invite someone or to revoke an invite.")

// roleCreator marks the routes that create apps: for admins and for users
// an admin marked as creators. Like roleAdmin it is no role on an app.
const roleCreator = "creator"

// errCreatorsOnly refuses creating an app to u, who may not.
func errCreatorsOnly(u store.User) error {
	return errorf(http.StatusForbidden, "forbidden", fmt.Sprintf(
		"Creating apps is for admins and for users an admin marks as creators; ask an admin to make you one (seedbed users update %s --creator), or to create the app and give you a role on it.", u.Email))
}

// canCreateApps tells whether u may create apps.
func canCreateApps(u store.User) bool { return u.IsAdmin || u.IsCreator }

// roleRank orders roles: each can do what the ones below it can; 0 is no role.
func roleRank(role string) int {
	switch role {
	case store.RoleViewer:
		return 1
	case store.RoleDeployer:
		return 2
	case store.RoleOwner:
		return 3
	}
	return 0
}

// validRole tells whether r names a role.
func validRole(r string) bool { return roleRank(r) > 0 }

// routeRoles names the role a route needs on its app, keyed by method and
// route path with any /api/v1 prefix cut off, so a console form and its API
// twin share one line. Routes not listed need viewer to read (GET) and owner
// to change anything else: a new route is closed until it is listed here.
// Routes about no app are open to every signed-in user unless listed as
// roleAdmin or roleCreator.
var routeRoles = map[string]string{
	"POST /apps/:app/deploys":                        store.RoleDeployer,
	"POST /apps/:app/stages/:stage/deploy":           store.RoleDeployer,
	"POST /apps/:app/promote":                        store.RoleDeployer,
	"POST /apps/:app/promotions":                     store.RoleDeployer,
	"POST /apps/:app/stages/:stage/rollback":         store.RoleDeployer,
	"POST /apps/:app/stages/:stage/vars":             store.RoleDeployer,
	"POST /apps/:app/stages/:stage/vars/:key/delete": store.RoleDeployer,
	"PUT /apps/:app/stages/:stage/vars/:key":         store.RoleDeployer,
	"DELETE /apps/:app/stages/:stage/vars/:key":      store.RoleDeployer,
	"POST /deploys/:id/approve":                      store.RoleDeployer,
	"POST /deploys/:id/reject":                       store.RoleDeployer,
	"POST /deploys/:id/cancel":                       store.RoleDeployer,
	"POST /builds/:id/cancel":                        store.RoleDeployer,
	"POST /apps/:app/previews":                       store.RoleDeployer,
	"DELETE /apps/:app/previews/:number":             store.RoleDeployer,
	// Events: running a schedule, pausing it and redriving dead letters
	// act on the stage as a deploy does; reading them is a viewer's.
	"POST /apps/:app/stages/:stage/schedules/:id/run":       store.RoleDeployer,
	"POST /apps/:app/stages/:stage/schedules/:id/pause":     store.RoleDeployer,
	"POST /apps/:app/stages/:stage/schedules/:id/resume":    store.RoleDeployer,
	"POST /apps/:app/stages/:stage/invocations/redrive":     store.RoleDeployer,
	"POST /apps/:app/stages/:stage/invocations/:id/redrive": store.RoleDeployer,
	"POST /apps/:app/stages/:stage/queues/:queue/messages":  store.RoleDeployer,
	"POST /apps/:app/stages/:stage/queues/:queue/purge":     store.RoleDeployer,
	"POST /apps/:app/stages/:stage/queues/:queue/redrive":   store.RoleDeployer,
	// The send token lets its bearer send to every queue of the stage,
	// as the send route above does: a deployer's to read.
	"GET /apps/:app/stages/:stage/queue-credentials": store.RoleDeployer,
	"GET /apps/:app/stages/:stage/events":            store.RoleViewer,
	"GET /apps/:app/stages/:stage/invocations/:id":   store.RoleViewer,
	// Creating an app is for admins and creators.
	"GET /apps/new": roleCreator,
	"POST /apps":    roleCreator,
	// Invites touch no app and are for admins (an invite link itself
	// needs no account).
	"GET /invites":                     roleAdmin,
	"POST /invites":                    roleAdmin,
	"DELETE /invites/:id":              roleAdmin,
	"POST /account/invites":            roleAdmin,
	"POST /account/invites/:id/revoke": roleAdmin,
	// Reads a viewer may do, listed so the table names every route:
	// the builds list and raw logs. Activity touches no one app (the feed
	// filters by role).
	"GET /apps/:app/builds":    store.RoleViewer,
	"GET /builds/:id/log.txt":  store.RoleViewer,
	"GET /deploys/:id/log.txt": store.RoleViewer,
	// Resolving an issue (an error group) is a deployer's call: the one
	// who ships the fix. Metrics, request log and issues are a viewer's to
	// read (GET).
	"POST /apps/:app/issues/:id/resolve": store.RoleDeployer,
	"POST /apps/:app/issues/:id/reopen":  store.RoleDeployer,
	// Alerts: everyone on the app reads rules, channels (URLs shown only
	// by host and last characters) and notifications; owners change them
	// and send test notifications (the default for what is not a GET).
	"GET /apps/:app/alerts": store.RoleViewer,
	// Function logs are masked (stage secrets never show), so viewers
	// read them, as they read build logs.
	"GET /apps/:app/stages/:stage/logs":        store.RoleViewer,
	"GET /apps/:app/stages/:stage/logs/events": store.RoleViewer,
	// Drift names the stage's objects, not its cluster or namespace (an
	// unreachable cluster's cause is shown to owners only): a viewer's.
	"GET /apps/:app/stages/:stage/drift": store.RoleViewer,
	// App settings and the webhook secret are the owners' to read.
	"GET /apps/:app/webhooks": store.RoleOwner,
	"GET /apps/:app/settings": store.RoleOwner,
	// Where a stage runs names clusters and namespaces: owners' to read.
	"GET /apps/:app/stages/:stage/target": store.RoleOwner,
}

// neededRole tells the role a request needs on its app.
func neededRole(method, path string) string {
	path = strings.TrimPrefix(path, "/api/v1")
	if r, ok := routeRoles[method+" "+path]; ok {
		return r
	}
	if method == http.MethodGet || method == http.MethodHead {
		return store.RoleViewer
	}
	return store.RoleOwner
}

// actionName says in words what a route does, for refusals.
func actionName(method, path string) string {
	path = strings.TrimPrefix(path, "/api/v1")
	switch {
	case strings.HasSuffix(path, "/deploy"), strings.HasSuffix(path, "/deploys") && method == http.MethodPost:
		return "deploying"
	case strings.Contains(path, "/promot") && method == http.MethodPost:
		return "promoting"
	case strings.HasSuffix(path, "/rollback"):
		return "rolling back"
	case strings.HasSuffix(path, "/cancel"):
		return "cancelling"
	case strings.HasSuffix(path, "/approve"), strings.HasSuffix(path, "/reject"):
		return "deciding on a promotion"
	case strings.Contains(path, "/vars"):
		return "changing variables"
	case strings.Contains(path, "/members"):
		return "managing members"
	case strings.Contains(path, "/alerts"):
		return "changing alerts"
	case strings.Contains(path, "/domains"):
		return "managing domains"
	case strings.Contains(path, "/webhooks"):
		return "reading the webhook secret"
	case strings.HasSuffix(path, "/queue-credentials"):
		return "reading a stage's queue send token"
	case strings.HasSuffix(path, "/target"):
		return "choosing where a stage runs"
	case strings.Contains(path, "/stages"):
		return "changing stages"
	}
	return "changing this app"
}

// roleOf tells the role u holds on an app: admins own everything; "" means
// none, and the app is hidden from u.
func (s *Server) roleOf(ctx context.Context, u store.User, appID uint) (string, error) {
	if u.IsAdmin {
		return store.RoleOwner, nil
	}
	if s.cfg.Access == nil {
		return "", nil
	}
	role, err := s.cfg.Access.MemberRole(ctx, appID, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	return role, err
}

// authorize is the one place that decides whether the signed-in user may
// do what a request asks on an app. It finds the app from the route (an
// :app name, or the build or deploy an :id names), answers 404 to a user
// who is no member (as if the app did not exist) and 403 to one whose role
// is too weak, and leaves the app and role in the context. Requests that
// touch no app pass through, but for the admins' routes (roleAdmin) and
// app creation (roleCreator), which answer 403 to anyone else.
func (s *Server) authorize(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		app, err := s.routeApp(c)
		if err != nil {
			return err
		}
		u := currentUser(c)
		if app == nil {
			switch routeRoles[c.Request().Method+" "+strings.TrimPrefix(c.Path(), "/api/v1")] {
			case roleAdmin:
				if !u.IsAdmin {
					return errAdminsOnly
				}
			case roleCreator:
				if !canCreateApps(u) {
					return errCreatorsOnly(u)
				}
			}
			return next(c)
		}
		role, err := s.roleOf(ctx, u, app.ID)
		if err != nil {
			return err
		}
		if role == "" {
			return s.routeNotFound(c)
		}
		need := neededRole(c.Request().Method, c.Path())
		if roleRank(role) < roleRank(need) {
			return errorf(http.StatusForbidden, "forbidden", fmt.Sprintf(
				"You are a %s of app %s; %s needs the %s role. Ask an owner of %s to change your role (seedbed members set %s %s --role %s).",
				role, app.Name, actionName(c.Request().Method, c.Path()), need, app.Name, app.Name, u.Email, need))
		}
		c.Set(ctxApp, *app)
		c.Set(ctxRole, role)
		return next(c)
	}
}

// routeApp finds the app a request is about, or nil for one about none. A
// name or id that matches nothing gives the 404 to answer with.
func (s *Server) routeApp(c echo.Context) (*store.App, error) {
	ctx := c.Request().Context()
	path := strings.TrimPrefix(c.Path(), "/api/v1")
	var appID uint
	switch {
	case strings.HasPrefix(path, "/apps/:app"):
		app, err := s.cfg.Store.AppByName(ctx, c.Param("app"))
		if err != nil {
			return nil, s.notFoundOr(c, err)
		}
		return &app, nil
	case strings.HasPrefix(path, "/builds/:id"):
		id, err := idParam(c)
		if err != nil {
			return nil, err
		}
		b, err := s.cfg.Store.BuildByID(ctx, id)
		if err != nil {
			return nil, s.notFoundOr(c, err)
		}
		appID = b.AppID
	case strings.HasPrefix(path, "/deploys/:id"):
		id, err := idParam(c)
		if err != nil {
			return nil, err
		}
		d, err := s.cfg.Store.DeployByID(ctx, id)
		if err != nil {
			return nil, s.notFoundOr(c, err)
		}
		appID = d.AppID
	default:
		return nil, nil
	}
	app, err := s.cfg.Store.AppByID(ctx, appID)
	if err != nil {
		return nil, err
	}
	return &app, nil
}

// notFoundOr turns a store's ErrNotFound into the route's 404.
func (s *Server) notFoundOr(c echo.Context, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return s.routeNotFound(c)
	}
	return err
}

// routeNotFound is the 404 for an app, build or deploy that does not exist
// or that the user may not see: the two read the same.
func (s *Server) routeNotFound(c echo.Context) error {
	path := strings.TrimPrefix(c.Path(), "/api/v1")
	switch {
	case strings.HasPrefix(path, "/builds/"):
		return errorf(http.StatusNotFound, "not_found", fmt.Sprintf("No build #%s.", c.Param("id")))
	case strings.HasPrefix(path, "/deploys/"):
		return errorf(http.StatusNotFound, "not_found", fmt.Sprintf("No deploy #%s.", c.Param("id")))
	}
	return errorf(http.StatusNotFound, "not_found", fmt.Sprintf("No app named %q.", c.Param("app")))
}

// requestRole tells the role the signed-in user holds on the request's app,
// as authorize found it.
func requestRole(c echo.Context) string {
	r, _ := c.Get(ctxRole).(string)
	return r
}

// canDo tells whether the request's role reaches need.
func canDo(c echo.Context, need string) bool { return roleRank(requestRole(c)) >= roleRank(need) }

// visibleApps lists the apps u may see: all for an admin, else those u is a
// member of.
func (s *Server) visibleApps(ctx context.Context, u store.User) ([]store.App, error) {
	apps, err := s.cfg.Store.Apps(ctx)
	if err != nil || u.IsAdmin {
		return apps, err
	}
	if s.cfg.Access == nil {
		return nil, nil
	}
	mine, err := s.cfg.Access.MemberApps(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	var out []store.App
	for _, a := range apps {
		if _, ok := mine[a.ID]; ok {
			out = append(out, a)
		}
	}
	return out, nil
}

// authorizePush tells whether the user behind a push to the built-in remote
// may deploy the app.
func (s *Server) authorizePush(ctx context.Context, email, appName string) error {
	if s.cfg.Access == nil {
		return nil
	}
	u, err := s.cfg.Access.UserByEmail(ctx, email)
	if err != nil {
		return fmt.Errorf("find pushing user %s: %w", email, err)
	}
	app, err := s.cfg.Store.AppByName(ctx, appName)
	if err != nil {
		return fmt.Errorf("no app named %q", appName)
	}
	role, err := s.roleOf(ctx, u, app.ID)
	if err != nil {
		return err
	}
	if role == "" {
		return fmt.Errorf("no app named %q", appName)
	}
	if roleRank(role) < roleRank(store.RoleDeployer) {
		return fmt.Errorf("you are a %s of app %s; pushing deploys and needs the deployer role: ask an owner of %s to change your role", role, app.Name, app.Name)
	}
	return nil
}

// addOwner makes the creator of a new app its owner.
func (s *Server) addOwner(ctx context.Context, u store.User, app store.App) error {
	if s.cfg.Access == nil || u.ID == 0 {
		return nil
	}
	if err := s.cfg.Access.SetMember(ctx, app.ID, u.ID, store.RoleOwner); err != nil {
		return fmt.Errorf("make %s owner of %s: %w", u.Email, app.Name, err)
	}
	return nil
}
