package web

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// routes lists every route Seedbed serves, grouped by who calls it.
func (s *Server) routes() {
	e := s.echo
	e.Use(middleware.Recover())
	e.Use(middleware.BodyLimit("2M"))

	e.GET("/healthz", s.healthz)
	e.StaticFS("/assets", s.cfg.Assets)

	// Console: signed-in browsers, CSRF-checked forms.
	console := e.Group("", s.csrf(), s.loadSession)
	console.GET("/login", s.loginForm)
	console.POST("/login", s.login)
	// Invite links: the person has no account yet.
	console.GET("/invite/:token", s.invitePage)
	console.POST("/invite/:token", s.acceptInvite)
	// authorize checks the user's role on the app of every route below.
	signedIn := console.Group("", s.requireSession, s.authorize)
	signedIn.POST("/logout", s.logout)
	signedIn.GET("/account", s.accountPage)
	signedIn.POST("/account/tokens", s.createToken)
	signedIn.POST("/account/tokens/:id/revoke", s.consoleRevokeToken)
	signedIn.POST("/account/sessions/:id/revoke", s.consoleRevokeSession)
	signedIn.POST("/account/invites", s.consoleCreateInvite)
	signedIn.GET("/activity", s.activityPage)
	signedIn.GET("/", func(c echo.Context) error { return c.Redirect(http.StatusSeeOther, "/apps") })
	signedIn.GET("/apps", s.appsPage)
	signedIn.GET("/apps/new", s.newAppForm)
	signedIn.POST("/apps", s.createApp)
	signedIn.GET("/apps/:app", s.appPage)
	signedIn.GET("/apps/:app/builds", s.buildsPage)
	signedIn.POST("/apps/:app/stages/:stage/deploy", s.deployStage)
	signedIn.GET("/apps/:app/promote", s.promotePage)
	signedIn.GET("/apps/:app/settings", s.appSettingsPage)
	signedIn.POST("/apps/:app/settings", s.saveAppSettings)
	signedIn.POST("/apps/:app/promote", s.promote)
	signedIn.POST("/apps/:app/stages", s.createStage)
	signedIn.POST("/apps/:app/stages/order", s.reorderStages)
	signedIn.GET("/apps/:app/members", s.membersPage)
	signedIn.POST("/apps/:app/members", s.setMemberForm)
	signedIn.POST("/apps/:app/members/:email/delete", s.removeMemberForm)
	signedIn.POST("/apps/:app/stages/:stage/rollback", s.rollback)
	signedIn.GET("/apps/:app/stages/:stage/settings", s.stageSettingsPage)
	signedIn.POST("/apps/:app/stages/:stage/settings", s.saveStageSettings)
	signedIn.POST("/apps/:app/stages/:stage/vars", s.setVar)
	signedIn.POST("/apps/:app/stages/:stage/vars/:key/delete", s.unsetVar)
	signedIn.POST("/apps/:app/stages/:stage/delete", s.deleteStage)
	signedIn.POST("/deploys/:id/approve", s.approve)
	signedIn.POST("/deploys/:id/reject", s.reject)
	signedIn.POST("/deploys/:id/cancel", s.cancelDeploy)
	signedIn.POST("/builds/:id/cancel", s.cancelBuild)
	signedIn.GET("/builds/:id", s.buildPage)
	signedIn.GET("/builds/:id/events", s.buildEvents)
	signedIn.GET("/builds/:id/log.txt", s.buildLogRaw)
	signedIn.GET("/deploys/:id", s.deployPage)
	signedIn.GET("/deploys/:id/events", s.deployEvents)
	signedIn.GET("/deploys/:id/log.txt", s.deployLogRaw)

	// Webhooks: verified by each app's secret, not by a session.
	e.POST("/hooks/:forge/:app", s.webhook)

	// JSON API: bearer tokens; no cookies, so no CSRF.
	api := e.Group("/api/v1")
	api.POST("/login", s.apiLogin)
	authed := api.Group("", s.requireToken, s.authorize)
	authed.GET("/me", s.apiMe)
	authed.POST("/users", s.apiCreateUser)
	authed.POST("/invites", s.apiCreateInvite)
	authed.GET("/activity", s.apiActivity)
	authed.GET("/tokens", s.apiTokens)
	authed.POST("/tokens", s.apiCreateToken)
	authed.DELETE("/tokens/:id", s.apiRevokeToken)
	authed.GET("/sessions", s.apiSessions)
	authed.DELETE("/sessions/:id", s.apiRevokeSession)
	authed.GET("/apps/:app/members", s.apiMembers)
	authed.PUT("/apps/:app/members/:email", s.apiSetMember)
	authed.DELETE("/apps/:app/members/:email", s.apiRemoveMember)
	authed.GET("/apps", s.apiApps)
	authed.POST("/apps", s.apiCreateApp)
	authed.GET("/apps/:app", s.apiApp)
	authed.POST("/apps/:app/deploys", s.apiDeploy)
	authed.GET("/apps/:app/builds", s.apiBuilds)
	authed.GET("/apps/:app/deploys", s.apiAppDeploys)
	authed.GET("/apps/:app/webhooks", s.apiWebhooks)
	authed.GET("/apps/:app/settings", s.apiAppSettings)
	authed.PUT("/apps/:app/settings", s.apiUpdateAppSettings)
	authed.GET("/apps/:app/stages", s.apiStages)
	authed.POST("/apps/:app/stages", s.apiCreateStage)
	authed.PUT("/apps/:app/stages", s.apiReorderStages)
	authed.PATCH("/apps/:app/stages/:stage", s.apiUpdateStage)
	authed.DELETE("/apps/:app/stages/:stage", s.apiDeleteStage)
	authed.GET("/apps/:app/stages/:stage/vars", s.apiVars)
	authed.PUT("/apps/:app/stages/:stage/vars/:key", s.apiSetVar)
	authed.DELETE("/apps/:app/stages/:stage/vars/:key", s.apiUnsetVar)
	authed.POST("/apps/:app/stages/:stage/rollback", s.apiRollback)
	authed.GET("/apps/:app/previews", s.apiPreviews)
	authed.PUT("/apps/:app/previews", s.apiSetPreviews)
	authed.POST("/apps/:app/previews", s.apiOpenPreview)
	authed.DELETE("/apps/:app/previews/:number", s.apiClosePreview)
	authed.GET("/apps/:app/promotions", s.apiPlanPromotion)
	authed.POST("/apps/:app/promotions", s.apiPromote)
	authed.POST("/deploys/:id/approve", s.apiApprove)
	authed.POST("/deploys/:id/reject", s.apiReject)
	authed.POST("/deploys/:id/cancel", s.apiCancelDeploy)
	authed.POST("/builds/:id/cancel", s.apiCancelBuild)
	authed.GET("/builds/:id", s.apiBuild)
	authed.GET("/builds/:id/logs", s.apiBuildLogs)
	authed.GET("/builds/:id/log.txt", s.buildLogRaw)
	authed.GET("/deploys/:id", s.apiGetDeploy)
	authed.GET("/deploys/:id/logs", s.apiDeployLogs)
	authed.GET("/deploys/:id/log.txt", s.deployLogRaw)
	authed.GET("/builds/:id/events", s.buildEvents)
	authed.GET("/deploys/:id/events", s.deployEvents)
}

func (s *Server) healthz(c echo.Context) error {
	if err := s.cfg.Store.Ping(c.Request().Context()); err != nil {
		return errorf(http.StatusServiceUnavailable, "unavailable", "database unreachable")
	}
	return c.String(http.StatusOK, "ok\n")
}
