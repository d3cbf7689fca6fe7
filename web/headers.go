package web

import (
	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/web/views"
)

// securityHeaders marks every answer of the console and API (pages, error
// pages, assets, JSON): a strict CSP (views.ContentSecurityPolicy), no framing (frame-ancestors and
// X-Frame-Options for older browsers), no content sniffing, and referrers
// cut to the origin when leaving Seedbed. The gateway is another handler:
// functions' answers carry their own headers, untouched.
func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", views.ContentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		return next(c)
	}
}
