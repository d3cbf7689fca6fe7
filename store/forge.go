package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ForgeSettings are an app's forge settings as stored; Token is sealed.
type ForgeSettings struct {
	Forge       string
	APIURL      string
	Repo        string
	Token       string
	PollSeconds int
}

// SaveForgeSettings writes an app's forge settings.
func (s *Store) SaveForgeSettings(ctx context.Context, appID uint, fs ForgeSettings) error {
	err := s.db.WithContext(ctx).Model(&App{}).Where("id = ?", appID).Updates(map[string]any{
		"forge": fs.Forge, "forge_api_url": fs.APIURL, "forge_repo": fs.Repo,
		"forge_token": fs.Token, "poll_seconds": fs.PollSeconds,
	}).Error
	if err != nil {
		return fmt.Errorf("save forge settings of app %d: %w", appID, err)
	}
	return nil
}

// PolledRef is the last commit the poller saw at a ref of an app's
// repository.
type PolledRef struct {
	AppID     uint   `gorm:"primaryKey;autoIncrement:false"`
	Ref       string `gorm:"primaryKey"` // full ref name: refs/heads/main
	SHA       string `gorm:"column:sha"`
	UpdatedAt time.Time
}

// PolledRefs returns the refs the poller saw last time for an app, by
// full ref name.
func (s *Store) PolledRefs(ctx context.Context, appID uint) (map[string]string, error) {
	var rows []PolledRef
	if err := s.db.WithContext(ctx).Where("app_id = ?", appID).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list polled refs of app %d: %w", appID, err)
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.Ref] = r.SHA
	}
	return out, nil
}

// ReplacePolledRefs makes refs (full name → sha) what the poller last saw
// for an app, in one transaction.
func (s *Store) ReplacePolledRefs(ctx context.Context, appID uint, refs map[string]string) error {
	now := time.Now().UTC()
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("app_id = ?", appID).Delete(&PolledRef{}).Error; err != nil {
			return err
		}
		var rows []PolledRef
		for ref, sha := range refs {
			rows = append(rows, PolledRef{AppID: appID, Ref: ref, SHA: sha, UpdatedAt: now})
		}
		if len(rows) == 0 {
			return nil
		}
		return tx.Clauses(clause.OnConflict{UpdateAll: true}).CreateInBatches(rows, 200).Error
	})
	if err != nil {
		return fmt.Errorf("save polled refs of app %d: %w", appID, err)
	}
	return nil
}
