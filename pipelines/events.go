package pipelines

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/seedbed/seedbed/stack"

	"github.com/seedbed/seedbed/events"
	"github.com/seedbed/seedbed/targets"
)

// LiveStages lists every deployed stage with the functions and queues of
// its live release, for the events package: what it fires schedules for
// and where async invocations may go. Preview stages and stages the stack
// turns schedules off for have SchedulesOff set.
func (s *Service) LiveStages(ctx context.Context) ([]events.Stage, error) {
	stages, err := s.cfg.Store.AllStages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list stages: %w", err)
	}
	apps := map[uint]string{}
	var out []events.Stage
	for _, st := range stages {
		if st.LiveReleaseID == nil || st.ClosedAt != nil {
			continue
		}
		name, ok := apps[st.AppID]
		if !ok {
			app, err := s.cfg.Store.AppByID(ctx, st.AppID)
			if err != nil {
				return nil, err
			}
			name, apps[st.AppID] = app.Name, app.Name
		}
		rel, err := s.cfg.Store.ReleaseByID(ctx, *st.LiveReleaseID)
		if err != nil {
			return nil, err
		}
		m, err := decodeManifest(rel.Manifest)
		if err != nil {
			return nil, fmt.Errorf("release #%d of stage %s: %w", rel.ID, st.Name, err)
		}
		out = append(out, events.Stage{
			ID: st.ID, Ref: targets.StageRef{App: name, Stage: st.Name},
			SchedulesOff: st.PRNumber != nil || slices.Contains(m.SchedulesOff, st.Name),
			Functions:    m.Functions, Queues: m.Queues,
		})
	}
	return out, nil
}

// refuseQueueEvents fails a build whose stack subscribes a function to a
// queue: seedbed.yml can declare queues and subscriptions (the schema is
// checked), but this version does not run queues yet, and a subscription
// that silently never fires would lose the user's messages.
func refuseQueueEvents(st *stack.Stack) error {
	var subs []string
	for _, svc := range st.Services {
		for _, fn := range svc.Functions {
			for _, ev := range fn.Events {
				if ev.Queue != "" {
					subs = append(subs, svc.Name+"/"+fn.Name+" → queue "+ev.Queue)
				}
			}
		}
	}
	if len(subs) == 0 {
		return nil
	}
	return fmt.Errorf("%s subscribes functions to queues (%s), but this version of Seedbed does not run queues yet; "+
		"remove the queue events (schedules and async invocations work)", stack.FileName, strings.Join(subs, ", "))
}
