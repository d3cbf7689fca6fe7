package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web/views"
)

// stageEventsPage shows a stage's schedules and recent invocations.
func (s *Server) stageEventsPage(c echo.Context) error {
	app, err := s.appParam(c)
	if err != nil {
		return err
	}
	if _, err := s.cfg.Store.StageByName(c.Request().Context(), app.ID, c.Param("stage")); err != nil {
		return errorf(http.StatusNotFound, "not_found", fmt.Sprintf("App %s has no stage %q.", app.Name, c.Param("stage")))
	}
	m := views.StageEventsModel{Page: s.page(c, fmt.Sprintf("%s/%s events", app.Name, c.Param("stage"))), App: app.Name, AppURL: appURL(app.Name), Stage: c.Param("stage")}
	m.Page.Nav = "apps"
	ev, err := s.stageEvents(c, "")
	var he *httpError
	switch {
	case errors.As(err, &he) && he.status == http.StatusNotFound:
		return render(c, http.StatusOK, views.StageEventsPage(m)) // not deployed
	case err != nil:
		return err
	}
	m.Deployed = true
	base := stageURLPath(app.Name, m.Stage)
	act := canDo(c, store.RoleDeployer) // authz.go refuses the rest
	for _, sc := range ev.Schedules {
		row := views.ScheduleRow{ID: sc.ID, Function: sc.Function, Schedule: sc.Schedule, TimeZone: sc.TimeZone, State: "on", NextRun: sc.NextRun}
		switch {
		case sc.Off:
			row.State = "off"
		case sc.Paused:
			row.State = "paused"
		}
		if sc.Last != nil {
			row.LastStatus, row.LastAt = sc.Last.Status, sc.Last.CreatedAt
		}
		if act {
			sb := base + "/schedules/" + url.PathEscape(sc.ID)
			row.RunURL = sb + "/run"
			if sc.Paused {
				row.ResumeURL = sb + "/resume"
			} else {
				row.PauseURL = sb + "/pause"
			}
		}
		m.Schedules = append(m.Schedules, row)
	}
	for _, i := range ev.Invocations {
		row := views.InvocationRow{ID: i.ID, Function: i.Function, Source: i.Source, Status: i.Status, Attempts: i.Attempts,
			Duration: time.Duration(i.DurationMS) * time.Millisecond, Error: i.Error, CreatedAt: i.CreatedAt}
		if i.Status == store.InvocationDead {
			m.DeadCount++
			if act {
				row.RedriveURL = base + "/invocations/" + url.PathEscape(i.ID) + "/redrive"
			}
		}
		m.Invocations = append(m.Invocations, row)
	}
	if act {
		m.RedriveURL = base + "/invocations/redrive"
	}
	if s.cfg.Queues != nil {
		ref, err := s.eventsRef(c)
		if err != nil {
			return err
		}
		qs, err := s.cfg.Queues.ListQueues(c.Request().Context(), ref)
		if err != nil {
			return eventsError(err)
		}
		for _, q := range qs {
			row := views.QueueRow{Name: q.Name, Subscriber: q.Subscriber, Depth: q.Depth, InFlight: q.InFlight, DeadLetters: q.DeadLetters, OldestAge: q.OldestAge.Round(time.Second)}
			if act {
				qb := base + "/queues/" + url.PathEscape(q.Name)
				row.PurgeURL, row.RedriveURL = qb+"/purge", qb+"/redrive"
			}
			m.Queues = append(m.Queues, row)
		}
	}
	return render(c, http.StatusOK, views.StageEventsPage(m))
}

func (s *Server) consolePurgeQueue(c echo.Context) error {
	return s.eventsAction(c, func() (string, error) {
		ref, err := s.queuesRef(c)
		if err != nil {
			return "", err
		}
		n, err := s.cfg.Queues.PurgeQueue(c.Request().Context(), ref, c.Param("queue"))
		return fmt.Sprintf("Deleted %d waiting message(s).", n), eventsError(err)
	})
}

func (s *Server) consoleRedriveQueue(c echo.Context) error {
	return s.eventsAction(c, func() (string, error) {
		ref, err := s.queuesRef(c)
		if err != nil {
			return "", err
		}
		n, err := s.cfg.Queues.RedriveQueue(c.Request().Context(), ref, c.Param("queue"))
		return fmt.Sprintf("Put %d dead letter(s) back on the queue.", n), eventsError(err)
	})
}

// eventsAction runs one console action on a stage's events and goes back
// to its page with a notice.
func (s *Server) eventsAction(c echo.Context, do func() (string, error)) error {
	msg, err := do()
	if err != nil {
		return err
	}
	s.flash(c, msg)
	return c.Redirect(http.StatusSeeOther, stageURLPath(c.Param("app"), c.Param("stage"))+"/events")
}

func (s *Server) consoleRunSchedule(c echo.Context) error {
	return s.eventsAction(c, func() (string, error) {
		ref, err := s.eventsRef(c)
		if err != nil {
			return "", err
		}
		id, err := s.cfg.Events.RunNow(c.Request().Context(), ref, c.Param("id"))
		return "Queued invocation " + id + ".", eventsError(err)
	})
}

func (s *Server) consolePauseSchedule(c echo.Context) error  { return s.consoleSetPaused(c, true) }
func (s *Server) consoleResumeSchedule(c echo.Context) error { return s.consoleSetPaused(c, false) }

func (s *Server) consoleSetPaused(c echo.Context, paused bool) error {
	return s.eventsAction(c, func() (string, error) {
		ref, err := s.eventsRef(c)
		if err != nil {
			return "", err
		}
		if err := s.cfg.Events.Pause(c.Request().Context(), ref, c.Param("id"), paused); err != nil {
			return "", eventsError(err)
		}
		if paused {
			return "Schedule paused; ticks that fall due meanwhile are skipped.", nil
		}
		return "Schedule resumed.", nil
	})
}

func (s *Server) consoleRedrive(c echo.Context) error {
	return s.eventsAction(c, func() (string, error) {
		ref, err := s.eventsRef(c)
		if err != nil {
			return "", err
		}
		n, err := s.cfg.Events.Redrive(c.Request().Context(), ref, c.Param("id"))
		return fmt.Sprintf("Queued %d dead invocation(s) again.", n), eventsError(err)
	})
}
