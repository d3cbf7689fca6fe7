package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web/views"
)

// How often a live log looks for new lines, and how often it sends a
// comment so proxies keep an idle stream open.
const (
	streamPoll      = 250 * time.Millisecond
	streamHeartbeat = 15 * time.Second
	streamBatch     = 1000
)

// statusFunc reads the current status of the log's owner.
type statusFunc func(ctx context.Context) (status, errMsg string, finished bool, err error)

func (s *Server) buildEvents(c echo.Context) error {
	b, _, err := s.buildParam(c)
	if err != nil {
		return err
	}
	return s.streamLog(c, store.LogBuild, b.ID, func(ctx context.Context) (string, string, bool, error) {
		b, err := s.cfg.Store.BuildByID(ctx, b.ID)
		return b.Status, b.Error, b.Finished(), err
	})
}

func (s *Server) deployEvents(c echo.Context) error {
	d, _, _, err := s.deployParam(c)
	if err != nil {
		return err
	}
	return s.streamLog(c, store.LogDeploy, d.ID, func(ctx context.Context) (string, string, bool, error) {
		d, err := s.cfg.Store.DeployByID(ctx, d.ID)
		return d.Status, d.Error, d.Finished(), err
	})
}

// streamLog sends a log as server-sent events: "line" for each stored line
// (its id is the event id, so a reconnecting browser resumes where it was),
// "status" when the owner's status changes, and "end" once it has finished
// and every line was sent. Lines are read from the database, so a build
// running in another process streams the same way.
func (s *Server) streamLog(c echo.Context, kind string, ownerID uint, status statusFunc) error {
	after := parseUint(c.Request().Header.Get("Last-Event-ID"))
	if after == 0 {
		after = parseUint(c.QueryParam("after"))
	}
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set(echo.HeaderCacheControl, "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	w.Flush()

	ctx := c.Request().Context()
	access := s.streamAccess(c)
	lastStatus := ""
	heartbeat := time.Now()
	for {
		// Read the status before the lines: if it says finished, every line
		// written before the end is already visible to the read that follows.
		st, errMsg, finished, err := status(ctx)
		if err != nil {
			return nil // the client sees the stream end and may reconnect
		}
		for {
			lines, err := s.cfg.Store.LogLines(ctx, kind, ownerID, after, streamBatch)
			if err != nil {
				return nil
			}
			for _, l := range lines {
				// html is the line with its colours rendered and all else
				// escaped, so the browser shows it as the page did.
				data, _ := json.Marshal(map[string]any{"id": l.ID, "stream": l.Stream, "text": l.Text, "html": views.ANSIHTML(l.Text)})
				if _, err := fmt.Fprintf(w, "id: %d\nevent: line\ndata: %s\n\n", l.ID, data); err != nil {
					return nil
				}
				after = l.ID
			}
			if len(lines) < streamBatch {
				break
			}
		}
		if st != lastStatus {
			lastStatus = st
			data, _ := json.Marshal(map[string]string{"status": st, "error": errMsg})
			fmt.Fprintf(w, "event: status\ndata: %s\n\n", data)
		}
		if finished {
			fmt.Fprint(w, "event: end\ndata: {}\n\n")
			w.Flush()
			return nil
		}
		if time.Since(heartbeat) > streamHeartbeat {
			fmt.Fprint(w, ": keep-alive\n\n")
			heartbeat = time.Now()
		}
		w.Flush()
		select {
		case <-ctx.Done():
			return nil
		case <-s.ending: // the server shuts down
			return nil
		case <-time.After(streamPoll):
		}
		if !access.allowed(ctx) {
			return nil // signed out, revoked or no longer a member
		}
	}
}

func parseUint(s string) uint {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0
	}
	return uint(n)
}
