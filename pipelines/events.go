package pipelines

import (
	"context"
	"fmt"
	"slices"

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
