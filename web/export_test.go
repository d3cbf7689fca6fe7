package web

import "github.com/labstack/echo/v4"

// RoutesOf lists the routes a Server serves, so tests can cover every one.
func RoutesOf(s *Server) []*echo.Route { return s.echo.Routes() }

// AdminRoute tells whether a route (method and path, as the router lists
// it) is for admins only.
func AdminRoute(method, path string) bool {
	return neededRole(method, path) == roleAdmin
}

// SafeNext is safeNext, for its table and fuzz tests.
var SafeNext = safeNext
