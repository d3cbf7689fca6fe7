package web

import (
	"context"

	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web/views"
)

// addPreviews puts an app's preview stages on its page, and their names in
// names so that the recent deploys to them are labelled.
func (s *Server) addPreviews(ctx context.Context, app store.App, m *views.AppModel, names map[uint]string) error {
	p, err := s.cfg.Pipelines.Previews(ctx, app.Name)
	if err != nil {
		return err
	}
	m.PreviewTemplate = p.Template
	previews, err := s.loadPreviews(ctx, app)
	if err != nil {
		return err
	}
	for _, ps := range previews {
		st := ps.Stage
		names[st.ID] = st.Name
		row := views.PreviewRow{Stage: st.Name, Title: st.PRTitle, HeadBranch: st.PRBranch, URL: ps.URL,
			Open: st.ClosedAt == nil, ClosedAt: st.ClosedAt}
		if st.PRNumber != nil {
			row.Number = *st.PRNumber
		}
		if ps.Manifest != nil {
			row.CommitSHA = ps.Manifest.Commit
		}
		if ps.LastDeploy != nil {
			d := deployRow(*ps.LastDeploy, st.Name)
			row.LastDeploy = &d
		}
		m.Previews = append(m.Previews, row)
	}
	return nil
}
