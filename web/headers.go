package web

import "github.com/labstack/echo/v4"

// contentSecurityPolicy is what console pages may load and run: scripts,
// styles, images and streams from the console itself, nothing inline (no
// <script> blocks, on* attributes or style attributes; assets/app.js and
// assets/app.css carry them), no plugins, no <base>, forms posting only
// here, and no framing by any page.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; form-action 'self'; base-uri 'none'; " +
	"frame-ancestors 'none'"

// securityHeaders marks every answer of the console and API (pages, error
// pages, assets, JSON): a strict CSP, no framing (frame-ancestors and
// X-Frame-Options for older browsers), no content sniffing, and referrers
// cut to the origin when leaving Seedbed. The gateway is another handler:
// functions' answers carry their own headers, untouched.
func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		return next(c)
	}
}
