package store

import (
	"context"
	"fmt"
	"github.com/seedbed/seedbed/migrations"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// CreateStage adds a stage at the end of an app's pipeline, or at position
// if position >= 0, moving the later ones along.
func (s *Store) CreateStage(ctx context.Context, st *Stage, position int) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&Stage{}).Where("app_id = ?", st.AppID).Count(&n).Error; err != nil {
			return err
		}
		if position < 0 || position > int(n) {
			position = int(n)
		}
		if err := tx.Model(&Stage{}).Where("app_id = ? AND position >= ?", st.AppID, position).
			Update("position", gorm.Expr("position + 1")).Error; err != nil {
			return err
		}
		st.Position = position
		return tx.Create(st).Error
	})
	if err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("create stage %q: %w", st.Name, ErrConflict)
		}
		return fmt.Errorf("create stage %q: %w", st.Name, err)
	}
	return nil
}

// SaveStageSettings writes a stage's branch, approval, protection and target.
func (s *Store) SaveStageSettings(ctx context.Context, st Stage) error {
	err := s.db.WithContext(ctx).Model(&Stage{}).Where("id = ?", st.ID).Updates(map[string]any{
		"branch": st.Branch, "approval": st.Approval, "protected": st.Protected, "target": st.Target,
	}).Error
	if err != nil {
		return fmt.Errorf("save settings of stage %q: %w", st.Name, err)
	}
	return nil
}

// DeleteStage removes a stage; its deploys go with it.
func (s *Store) DeleteStage(ctx context.Context, st Stage) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("stage_id = ?", st.ID).Delete(&Deploy{}).Error; err != nil {
			return err
		}
		if err := tx.Delete(&Stage{}, st.ID).Error; err != nil {
			return err
		}
		return tx.Model(&Stage{}).Where("app_id = ? AND position > ?", st.AppID, st.Position).
			Update("position", gorm.Expr("position - 1")).Error
	})
	if err != nil {
		return fmt.Errorf("delete stage %q: %w", st.Name, err)
	}
	return nil
}

// ReorderStages sets the pipeline order of an app's stages: ids lists every
// stage of the app once, first to last.
func (s *Store) ReorderStages(ctx context.Context, appID uint, ids []uint) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for i, id := range ids {
			res := tx.Model(&Stage{}).Where("id = ? AND app_id = ?", id, appID).Update("position", i)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected != 1 {
				return fmt.Errorf("stage %d: %w", id, ErrNotFound)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reorder stages of app %d: %w", appID, err)
	}
	return nil
}

// StageVars lists a stage's variables by key.
func (s *Store) StageVars(ctx context.Context, stageID uint) ([]StageVar, error) {
	var vs []StageVar
	if err := s.db.WithContext(ctx).Where("stage_id = ?", stageID).Order("key").Find(&vs).Error; err != nil {
		return nil, fmt.Errorf("list variables of stage %d: %w", stageID, err)
	}
	return vs, nil
}

// SetStageVar creates or replaces one variable of a stage.
func (s *Store) SetStageVar(ctx context.Context, v StageVar) error {
	v.UpdatedAt = time.Now().UTC()
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "stage_id"}, {Name: "key"}},
		DoUpdates: clause.AssignmentColumns([]string{"value", "secret", "updated_at"}),
	}).Create(&v).Error
	if err != nil {
		return fmt.Errorf("set variable %s of stage %d: %w", v.Key, v.StageID, err)
	}
	return nil
}

// UnsetStageVar removes one variable of a stage.
func (s *Store) UnsetStageVar(ctx context.Context, stageID uint, key string) error {
	res := s.db.WithContext(ctx).Where("stage_id = ? AND key = ?", stageID, key).Delete(&StageVar{})
	if res.Error != nil {
		return fmt.Errorf("unset variable %s of stage %d: %w", key, stageID, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("variable %s: %w", key, ErrNotFound)
	}
	return nil
}

// StageDeploys lists a stage's deploys, newest first, at most limit.
func (s *Store) StageDeploys(ctx context.Context, stageID uint, limit int) ([]Deploy, error) {
	var ds []Deploy
	if err := s.db.WithContext(ctx).Where("stage_id = ?", stageID).Order("id DESC").Limit(limit).Find(&ds).Error; err != nil {
		return nil, fmt.Errorf("list deploys of stage %d: %w", stageID, err)
	}
	return ds, nil
}

// HasRollbackTarget says whether a stage has a succeeded deploy of another
// release than live: the pipeline board offers Rollback only then. One
// range of the (stage_id, status, release_id) index answers it.
func (s *Store) HasRollbackTarget(ctx context.Context, stageID, liveReleaseID uint) (bool, error) {
	var ids []uint
	err := s.db.WithContext(ctx).Table(s.deploysIndexedBy("deploys_stage_status_release")).
		Where("stage_id = ? AND status = ? AND release_id IS NOT NULL AND release_id <> ?", stageID, DeploySucceeded, liveReleaseID).
		Limit(1).Pluck("release_id", &ids).Error
	if err != nil {
		return false, fmt.Errorf("look for a release to roll stage %d back to: %w", stageID, err)
	}
	return len(ids) > 0, nil
}

// deploysIndexedBy names the deploys table for a query by stage and
// status, with the index SQLite must use: without statistics it picks the
// index on status alone, which for "succeeded" walks most of the table.
// PostgreSQL's planner has statistics and needs no hint.
func (s *Store) deploysIndexedBy(index string) string {
	if s.dialect == migrations.SQLite {
		return "deploys INDEXED BY " + index
	}
	return "deploys"
}

// AwaitingDeploys returns a stage's deploys waiting for approval, newest
// first.
func (s *Store) AwaitingDeploys(ctx context.Context, stageID uint) ([]Deploy, error) {
	var ds []Deploy
	if err := s.db.WithContext(ctx).Table(s.deploysIndexedBy("deploys_stage_status_release")).Where("stage_id = ? AND status = ?", stageID, DeployAwaiting).Order("id DESC").Find(&ds).Error; err != nil {
		return nil, fmt.Errorf("list deploys awaiting approval on stage %d: %w", stageID, err)
	}
	return ds, nil
}

// SetUserApprover marks whether a user may approve promotions.
func (s *Store) SetUserApprover(ctx context.Context, id uint, approver bool) error {
	if err := s.db.WithContext(ctx).Model(&User{}).Where("id = ?", id).Update("is_approver", approver).Error; err != nil {
		return fmt.Errorf("set approver of user %d: %w", id, err)
	}
	return nil
}

// RequestBuildCancel marks a build to be cancelled and tells whether it was
// still unfinished.
func (s *Store) RequestBuildCancel(ctx context.Context, id uint) (bool, error) {
	res := s.db.WithContext(ctx).Model(&Build{}).Where("id = ? AND status IN ?", id, []string{BuildQueued, BuildRunning}).
		Update("cancel_requested", true)
	if res.Error != nil {
		return false, fmt.Errorf("cancel build %d: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// RequestDeployCancel marks a deploy to be cancelled and tells whether it
// was still unfinished.
func (s *Store) RequestDeployCancel(ctx context.Context, id uint) (bool, error) {
	res := s.db.WithContext(ctx).Model(&Deploy{}).Where("id = ? AND status IN ?", id, []string{DeployQueued, DeployRunning, DeployAwaiting}).
		Update("cancel_requested", true)
	if res.Error != nil {
		return false, fmt.Errorf("cancel deploy %d: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}
