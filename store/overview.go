package store

import (
	"context"
	"fmt"
)

// StageStatus is a pipeline stage with the status of its newest deploy
// ("" when it has none): what the apps overview shows for every app.
type StageStatus struct {
	AppID    uint
	Name     string
	Position int
	Status   string
}

// StageStatuses lists the pipeline stages of every app with their newest
// deploy's status, in one query: the overview must not cost a query per app.
func (s *Store) StageStatuses(ctx context.Context) ([]StageStatus, error) {
	var out []StageStatus
	err := s.db.WithContext(ctx).Raw(`
		SELECT s.app_id AS app_id, s.name AS name, s.position AS position,
		       COALESCE((SELECT d.status FROM deploys d WHERE d.stage_id = s.id ORDER BY d.id DESC LIMIT 1), '') AS status
		FROM stages s
		WHERE s.pr_number IS NULL
		ORDER BY s.app_id, s.position, s.id`).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list stage statuses: %w", err)
	}
	return out, nil
}
