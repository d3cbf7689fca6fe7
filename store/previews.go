package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// SetPreviewTemplate names the stage an app's preview stages are cloned
// from; nil turns preview stages off.
func (s *Store) SetPreviewTemplate(ctx context.Context, appID uint, stageID *uint) error {
	err := s.db.WithContext(ctx).Model(&App{}).Where("id = ?", appID).Update("preview_template_id", stageID).Error
	if err != nil {
		return fmt.Errorf("set preview template of app %d: %w", appID, err)
	}
	return nil
}

// PreviewStages lists an app's preview stages, open and closed, newest
// pull request first.
func (s *Store) PreviewStages(ctx context.Context, appID uint) ([]Stage, error) {
	var st []Stage
	err := s.db.WithContext(ctx).Where("app_id = ? AND pr_number IS NOT NULL", appID).Order("pr_number DESC").Find(&st).Error
	if err != nil {
		return nil, fmt.Errorf("list preview stages of app %d: %w", appID, err)
	}
	return st, nil
}

// PreviewStage finds the preview stage of an app's pull request number.
func (s *Store) PreviewStage(ctx context.Context, appID uint, number int) (Stage, error) {
	var st Stage
	if err := s.db.WithContext(ctx).Where("app_id = ? AND pr_number = ?", appID, number).Take(&st).Error; err != nil {
		return st, notFound(err, "preview stage of pull request %d", number)
	}
	return st, nil
}

// CreatePreviewStage adds a preview stage with the variables vars gives
// for its new id (secrets are sealed for the stage they belong to), in one
// transaction: a preview stage exists with all its variables or not at all.
// A stage of that name or pull request number gives ErrConflict.
func (s *Store) CreatePreviewStage(ctx context.Context, st *Stage, vars func(stageID uint) ([]StageVar, error)) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(st).Error; err != nil {
			return err
		}
		vs, err := vars(st.ID)
		if err != nil {
			return err
		}
		now := time.Now().UTC()
		for i := range vs {
			vs[i].ID, vs[i].StageID, vs[i].UpdatedAt = 0, st.ID, now
			if err := tx.Create(&vs[i]).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("create preview stage %q: %w", st.Name, ErrConflict)
		}
		return fmt.Errorf("create preview stage %q: %w", st.Name, err)
	}
	return nil
}

// SavePreview writes a preview stage's head branch, title and whether it is
// closed. Closing it also clears its live release: it serves nothing, and a
// restart must not bring it back; its deploys stay as its history.
func (s *Store) SavePreview(ctx context.Context, st Stage) error {
	fields := map[string]any{"pr_branch": st.PRBranch, "pr_title": st.PRTitle, "closed_at": st.ClosedAt}
	if st.ClosedAt != nil {
		fields["live_release_id"], fields["live_deploy_id"] = nil, nil
	}
	if err := s.db.WithContext(ctx).Model(&Stage{}).Where("id = ?", st.ID).Updates(fields).Error; err != nil {
		return fmt.Errorf("save preview stage %q: %w", st.Name, err)
	}
	return nil
}
