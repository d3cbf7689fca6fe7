package web

import "github.com/labstack/echo/v4"

// RoutesOf lists the routes a Server serves, so tests can cover every one.
func RoutesOf(s *Server) []*echo.Route { return s.echo.Routes() }
