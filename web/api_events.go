package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/events"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
	"github.com/seedbed/seedbed/web/apiv1"
)

// Events is what the console and API ask of schedules and invocations
// (an *events.Service).
type Events interface {
	Schedules(ctx context.Context, ref targets.StageRef) ([]events.ScheduleInfo, error)
	Recent(ctx context.Context, ref targets.StageRef, status string, limit int) ([]events.InvocationBrief, error)
	Invocation(ctx context.Context, ref targets.StageRef, id string) (store.Invocation, error)
	RunNow(ctx context.Context, ref targets.StageRef, id string) (string, error)
	Pause(ctx context.Context, ref targets.StageRef, id string, paused bool) error
	Redrive(ctx context.Context, ref targets.StageRef, id string) (int, error)
}

var errNoEvents = errorf(http.StatusNotFound, "not_found", "This server runs no functions, so it has no schedules or invocations; ask the one that serves them.")

// eventsRef is the stage a route names, once its app is authorized.
func (s *Server) eventsRef(c echo.Context) (targets.StageRef, error) {
	if s.cfg.Events == nil {
		return targets.StageRef{}, errNoEvents
	}
	app, err := s.appParam(c)
	if err != nil {
		return targets.StageRef{}, err
	}
	return targets.StageRef{App: app.Name, Stage: c.Param("stage")}, nil
}

// eventsError turns the events package's "not found" (an undeployed
// stage, an unknown schedule or invocation) into a 404 that says which.
func eventsError(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errorf(http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, store.ErrConflict):
		return errorf(http.StatusConflict, "conflict", err.Error())
	}
	return err
}

func scheduleOut(si events.ScheduleInfo) apiv1.Schedule {
	out := apiv1.Schedule{ID: si.ID, Function: si.Function, Schedule: si.Schedule, TimeZone: si.TimeZone, Path: si.Path,
		Overlap: si.Overlap, Paused: si.Paused, Off: si.Off, NextRun: si.NextRun}
	if si.Last != nil {
		b := briefOut(*si.Last)
		out.Last = &b
	}
	return out
}

func briefOut(b events.InvocationBrief) apiv1.InvocationBrief {
	return apiv1.InvocationBrief{ID: b.ID, Function: b.Function, Source: b.Source, Status: b.Status, Attempts: b.Attempts,
		DurationMS: b.DurationMS, Error: b.Error, CreatedAt: b.CreatedAt, DueAt: b.DueAt}
}

// stageEvents loads a stage's schedules and newest invocations.
func (s *Server) stageEvents(c echo.Context, status string) (apiv1.StageEvents, error) {
	out := apiv1.StageEvents{Schedules: []apiv1.Schedule{}, Invocations: []apiv1.InvocationBrief{}}
	ref, err := s.eventsRef(c)
	if err != nil {
		return out, err
	}
	ctx := c.Request().Context()
	scheds, err := s.cfg.Events.Schedules(ctx, ref)
	if err != nil {
		return out, eventsError(err)
	}
	for _, si := range scheds {
		out.Schedules = append(out.Schedules, scheduleOut(si))
	}
	recent, err := s.cfg.Events.Recent(ctx, ref, status, 50)
	if err != nil {
		return out, eventsError(err)
	}
	for _, b := range recent {
		out.Invocations = append(out.Invocations, briefOut(b))
	}
	return out, nil
}

func (s *Server) apiStageEvents(c echo.Context) error {
	out, err := s.stageEvents(c, c.QueryParam("status"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) apiInvocation(c echo.Context) error {
	ref, err := s.eventsRef(c)
	if err != nil {
		return err
	}
	inv, err := s.cfg.Events.Invocation(c.Request().Context(), ref, c.Param("id"))
	if err != nil {
		return eventsError(err)
	}
	return c.JSON(http.StatusOK, apiv1.Invocation{
		InvocationBrief: briefOut(events.Brief(inv)), MaxAttempts: inv.MaxAttempts, OnFailure: inv.OnFailure,
		LogExcerpt: inv.LogExcerpt, StartedAt: inv.StartedAt, FinishedAt: inv.FinishedAt,
	})
}

func (s *Server) apiRunSchedule(c echo.Context) error {
	ref, err := s.eventsRef(c)
	if err != nil {
		return err
	}
	id, err := s.cfg.Events.RunNow(c.Request().Context(), ref, c.Param("id"))
	if err != nil {
		return eventsError(err)
	}
	return c.JSON(http.StatusAccepted, apiv1.InvocationQueued{InvocationID: id})
}

func (s *Server) apiPauseSchedule(c echo.Context) error  { return s.setPaused(c, true) }
func (s *Server) apiResumeSchedule(c echo.Context) error { return s.setPaused(c, false) }
func (s *Server) setPaused(c echo.Context, paused bool) error {
	ref, err := s.eventsRef(c)
	if err != nil {
		return err
	}
	if err := s.cfg.Events.Pause(c.Request().Context(), ref, c.Param("id"), paused); err != nil {
		return eventsError(err)
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) apiRedrive(c echo.Context) error {
	ref, err := s.eventsRef(c)
	if err != nil {
		return err
	}
	n, err := s.cfg.Events.Redrive(c.Request().Context(), ref, c.Param("id"))
	if err != nil {
		return eventsError(err)
	}
	return c.JSON(http.StatusAccepted, apiv1.Redriven{Queued: n})
}

// Queues is what the API asks of a stage's queues (an *events.Service).
type Queues interface {
	ListQueues(ctx context.Context, ref targets.StageRef) ([]events.QueueInfo, error)
	DeadMessages(ctx context.Context, ref targets.StageRef, queue string) ([]events.DeadMessage, error)
	Send(ctx context.Context, ref targets.StageRef, queue string, body []byte) (string, error)
	PurgeQueue(ctx context.Context, ref targets.StageRef, queue string) (int, error)
	RedriveQueue(ctx context.Context, ref targets.StageRef, queue string) (int, error)
}

func (s *Server) queuesRef(c echo.Context) (targets.StageRef, error) {
	if s.cfg.Queues == nil {
		return targets.StageRef{}, errNoEvents
	}
	return s.eventsRef(c)
}

func (s *Server) apiQueues(c echo.Context) error {
	ref, err := s.queuesRef(c)
	if err != nil {
		return err
	}
	qs, err := s.cfg.Queues.ListQueues(c.Request().Context(), ref)
	if err != nil {
		return eventsError(err)
	}
	out := []apiv1.Queue{}
	for _, q := range qs {
		out = append(out, apiv1.Queue{Name: q.Name, Subscriber: q.Subscriber, Depth: q.Depth, InFlight: q.InFlight, DeadLetters: q.DeadLetters,
			OldestAgeSeconds: q.OldestAge.Seconds(), VisibilityTimeoutS: q.VisibilityTimeout.Seconds(), MaxReceives: q.MaxReceives})
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) apiDeadMessages(c echo.Context) error {
	ref, err := s.queuesRef(c)
	if err != nil {
		return err
	}
	dead, err := s.cfg.Queues.DeadMessages(c.Request().Context(), ref, c.Param("queue"))
	if err != nil {
		return eventsError(err)
	}
	out := []apiv1.DeadMessage{}
	for _, d := range dead {
		out = append(out, apiv1.DeadMessage{ID: d.ID, Body: d.Body, Receives: d.Receives})
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) apiSendMessage(c echo.Context) error {
	ref, err := s.queuesRef(c)
	if err != nil {
		return err
	}
	var req struct {
		Body string `json:"body"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	id, err := s.cfg.Queues.Send(c.Request().Context(), ref, c.Param("queue"), []byte(req.Body))
	var refusal *events.Error
	if errors.As(err, &refusal) {
		return errorf(refusal.Status, "invalid", refusal.Msg)
	}
	if err != nil {
		return eventsError(err)
	}
	return c.JSON(http.StatusAccepted, apiv1.MessageSent{MessageID: id})
}

func (s *Server) apiPurgeQueue(c echo.Context) error {
	return s.queueCount(c, func(ctx context.Context, ref targets.StageRef, q string) (int, error) {
		return s.cfg.Queues.PurgeQueue(ctx, ref, q)
	})
}

func (s *Server) apiRedriveQueue(c echo.Context) error {
	return s.queueCount(c, func(ctx context.Context, ref targets.StageRef, q string) (int, error) {
		return s.cfg.Queues.RedriveQueue(ctx, ref, q)
	})
}

func (s *Server) queueCount(c echo.Context, do func(context.Context, targets.StageRef, string) (int, error)) error {
	ref, err := s.queuesRef(c)
	if err != nil {
		return err
	}
	n, err := do(c.Request().Context(), ref, c.Param("queue"))
	if err != nil {
		return eventsError(err)
	}
	return c.JSON(http.StatusAccepted, apiv1.QueueCount{Count: n})
}
