package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// CreateApp adds an app with its pipeline of stages in one transaction.
// A name already taken gives ErrConflict.
func (s *Store) CreateApp(ctx context.Context, a *App, stages []Stage) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(a).Error; err != nil {
			return err
		}
		for i := range stages {
			stages[i].AppID = a.ID
			stages[i].Position = i
			if err := tx.Create(&stages[i]).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("create app %q: %w", a.Name, ErrConflict)
		}
		return fmt.Errorf("create app %q: %w", a.Name, err)
	}
	return nil
}

// Apps lists every app by name.
func (s *Store) Apps(ctx context.Context) ([]App, error) {
	var apps []App
	if err := s.db.WithContext(ctx).Order("name").Find(&apps).Error; err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	return apps, nil
}

// AppByName finds an app by its name.
func (s *Store) AppByName(ctx context.Context, name string) (App, error) {
	var a App
	if err := s.db.WithContext(ctx).Where("name = ?", name).Take(&a).Error; err != nil {
		return a, notFound(err, "app %q", name)
	}
	return a, nil
}

// AppByID finds an app by id.
func (s *Store) AppByID(ctx context.Context, id uint) (App, error) {
	var a App
	if err := s.db.WithContext(ctx).Take(&a, id).Error; err != nil {
		return a, notFound(err, "app %d", id)
	}
	return a, nil
}

// Stages lists an app's pipeline stages in order. Preview stages are not
// part of the pipeline: PreviewStages lists them.
func (s *Store) Stages(ctx context.Context, appID uint) ([]Stage, error) {
	var st []Stage
	if err := s.db.WithContext(ctx).Where("app_id = ? AND pr_number IS NULL", appID).Order("position, id").Find(&st).Error; err != nil {
		return nil, fmt.Errorf("list stages of app %d: %w", appID, err)
	}
	return st, nil
}

// AllStages lists every stage of every app.
func (s *Store) AllStages(ctx context.Context) ([]Stage, error) {
	var st []Stage
	if err := s.db.WithContext(ctx).Order("app_id, position").Find(&st).Error; err != nil {
		return nil, fmt.Errorf("list stages: %w", err)
	}
	return st, nil
}

// StageByName finds a stage of an app.
func (s *Store) StageByName(ctx context.Context, appID uint, name string) (Stage, error) {
	var st Stage
	if err := s.db.WithContext(ctx).Where("app_id = ? AND name = ?", appID, name).Take(&st).Error; err != nil {
		return st, notFound(err, "stage %q", name)
	}
	return st, nil
}

// StageByID finds a stage by id.
func (s *Store) StageByID(ctx context.Context, id uint) (Stage, error) {
	var st Stage
	if err := s.db.WithContext(ctx).Take(&st, id).Error; err != nil {
		return st, notFound(err, "stage %d", id)
	}
	return st, nil
}

// TryLockStage takes the stage's deploy lock for owner until ttl passes,
// if nobody else holds an unexpired one. Holding it already renews it.
func (s *Store) TryLockStage(ctx context.Context, stageID uint, owner string, ttl time.Duration) (bool, error) {
	now := time.Now().UTC()
	res := s.db.WithContext(ctx).Model(&Stage{}).
		Where("id = ? AND (lock_owner = '' OR lock_owner = ? OR lock_expires_at IS NULL OR lock_expires_at < ?)", stageID, owner, now).
		Updates(map[string]any{"lock_owner": owner, "lock_expires_at": now.Add(ttl)})
	if res.Error != nil {
		return false, fmt.Errorf("lock stage %d: %w", stageID, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// UnlockStage lets go of the stage's deploy lock if owner holds it.
func (s *Store) UnlockStage(ctx context.Context, stageID uint, owner string) error {
	err := s.db.WithContext(ctx).Model(&Stage{}).Where("id = ? AND lock_owner = ?", stageID, owner).
		Updates(map[string]any{"lock_owner": "", "lock_expires_at": nil}).Error
	if err != nil {
		return fmt.Errorf("unlock stage %d: %w", stageID, err)
	}
	return nil
}

// ReleaseStageLocks lets go of every lock whose owner starts with prefix:
// a restarted process frees what its previous life held.
func (s *Store) ReleaseStageLocks(ctx context.Context, prefix string) error {
	err := s.db.WithContext(ctx).Model(&Stage{}).Where("lock_owner LIKE ?", prefix+"%").
		Updates(map[string]any{"lock_owner": "", "lock_expires_at": nil}).Error
	if err != nil {
		return fmt.Errorf("release stage locks: %w", err)
	}
	return nil
}

// SetStageLive records which release a stage now serves, and the deploy that
// put it there.
func (s *Store) SetStageLive(ctx context.Context, stageID, releaseID, deployID uint) error {
	err := s.db.WithContext(ctx).Model(&Stage{}).Where("id = ?", stageID).
		Updates(map[string]any{"live_release_id": releaseID, "live_deploy_id": deployID}).Error
	if err != nil {
		return fmt.Errorf("set live release of stage %d: %w", stageID, err)
	}
	return nil
}
