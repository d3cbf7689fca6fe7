package store

import (
	"context"
	"fmt"
)

// SaveStageTarget writes where a stage's functions run: its target and the
// kubernetes target's settings.
func (s *Store) SaveStageTarget(ctx context.Context, st Stage) error {
	err := s.db.WithContext(ctx).Model(&Stage{}).Where("id = ?", st.ID).Updates(map[string]any{
		"target": st.Target, "kubernetes": st.Kubernetes,
	}).Error
	if err != nil {
		return fmt.Errorf("save the target of stage %q: %w", st.Name, err)
	}
	return nil
}

// SaveStageApplied records where stage stageID was applied last (empty:
// nowhere), so that a Seedbed that restarts still knows where to remove it
// from when its target changes.
func (s *Store) SaveStageApplied(ctx context.Context, stageID uint, where string) error {
	if err := s.db.WithContext(ctx).Model(&Stage{}).Where("id = ?", stageID).Update("applied_target", where).Error; err != nil {
		return fmt.Errorf("record where stage %d was applied: %w", stageID, err)
	}
	return nil
}
