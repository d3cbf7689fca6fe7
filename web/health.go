package web

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// Pinger answers whether a server Seedbed depends on is reachable.
type Pinger interface {
	Ping(ctx context.Context) error
}

// healthTimeout bounds each check of /healthz, so that a load balancer's
// probe gets an answer while a dependency hangs.
const healthTimeout = 2 * time.Second

// health is the body of /healthz: "ok" or "unreachable" per dependency.
// It says nothing else (no addresses, no errors): anyone may ask.
type health struct {
	Database string `json:"database"`
	Queue    string `json:"queue,omitempty"`
}

// healthz reports whether the database and the queue answer: 200 when both
// do, 503 when one does not. It needs no sign-in and costs one ping each;
// the causes go to the log.
func (s *Server) healthz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), healthTimeout)
	defer cancel()
	h, status := health{Database: "ok"}, http.StatusOK
	if err := s.cfg.Store.Ping(ctx); err != nil {
		h.Database, status = "unreachable", http.StatusServiceUnavailable
		s.log.Warn("health check: the database does not answer", "err", err)
	}
	if s.cfg.Queue != nil {
		h.Queue = "ok"
		if err := s.cfg.Queue.Ping(ctx); err != nil {
			h.Queue, status = "unreachable", http.StatusServiceUnavailable
			s.log.Warn("health check: the queue does not answer", "err", err)
		}
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(status, h)
}
