package store

import (
	"context"
	"fmt"
)

// CreateDeploy records a deploy before it is queued.
func (s *Store) CreateDeploy(ctx context.Context, d *Deploy) error {
	if err := s.db.WithContext(ctx).Create(d).Error; err != nil {
		return fmt.Errorf("create deploy to stage %d: %w", d.StageID, err)
	}
	return nil
}

// SaveDeploy writes every field of d.
func (s *Store) SaveDeploy(ctx context.Context, d *Deploy) error {
	if err := s.db.WithContext(ctx).Save(d).Error; err != nil {
		return fmt.Errorf("save deploy %d: %w", d.ID, err)
	}
	return nil
}

// DeployByID finds a deploy.
func (s *Store) DeployByID(ctx context.Context, id uint) (Deploy, error) {
	var d Deploy
	if err := s.db.WithContext(ctx).Take(&d, id).Error; err != nil {
		return d, notFound(err, "deploy %d", id)
	}
	return d, nil
}

// DeploysOfBuild lists the deploys waiting on or made from a build.
func (s *Store) DeploysOfBuild(ctx context.Context, buildID uint) ([]Deploy, error) {
	var ds []Deploy
	if err := s.db.WithContext(ctx).Where("build_id = ?", buildID).Order("id").Find(&ds).Error; err != nil {
		return nil, fmt.Errorf("list deploys of build %d: %w", buildID, err)
	}
	return ds, nil
}

// Deploys lists an app's deploys, newest first, at most limit.
func (s *Store) Deploys(ctx context.Context, appID uint, limit int) ([]Deploy, error) {
	var ds []Deploy
	if err := s.db.WithContext(ctx).Where("app_id = ?", appID).Order("id DESC").Limit(limit).Find(&ds).Error; err != nil {
		return nil, fmt.Errorf("list deploys of app %d: %w", appID, err)
	}
	return ds, nil
}

// UnfinishedDeploys lists deploys that are queued or running, oldest first.
func (s *Store) UnfinishedDeploys(ctx context.Context) ([]Deploy, error) {
	var ds []Deploy
	if err := s.db.WithContext(ctx).Where("status IN ?", []string{DeployQueued, DeployRunning}).Order("id").Find(&ds).Error; err != nil {
		return nil, fmt.Errorf("list unfinished deploys: %w", err)
	}
	return ds, nil
}

// NewerDeploys lists deploys of the same stage requested after d that are
// queued, running or already succeeded: the ones that supersede it.
func (s *Store) NewerDeploys(ctx context.Context, d Deploy) ([]Deploy, error) {
	var ds []Deploy
	err := s.db.WithContext(ctx).Where("stage_id = ? AND id > ? AND status IN ?", d.StageID, d.ID, []string{DeployQueued, DeployRunning, DeploySucceeded}).
		Order("id").Find(&ds).Error
	if err != nil {
		return nil, fmt.Errorf("list deploys newer than %d: %w", d.ID, err)
	}
	return ds, nil
}
