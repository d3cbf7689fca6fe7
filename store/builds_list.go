package store

import (
	"context"
	"fmt"
)

// BuildFilter narrows an app's builds list. Empty fields match everything.
type BuildFilter struct {
	Ref     string // exact ref, e.g. "main"
	Status  string // queued, running, succeeded, failed, cancelled
	Trigger string // console, push, webhook, poll, preview, cli, ...
	// Before keeps builds with an id below it: the keyset of the next page.
	Before uint
	// Limit caps the answer; 0 means 50.
	Limit int
}

// FilterBuilds lists an app's builds matching f, newest first. Pages are
// keyed on the id, so a build started while someone pages does not shift
// the pages they have not read yet.
func (s *Store) FilterBuilds(ctx context.Context, appID uint, f BuildFilter) ([]Build, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	q := s.db.WithContext(ctx).Where("app_id = ?", appID)
	if f.Ref != "" {
		q = q.Where("ref = ?", f.Ref)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.Trigger != "" {
		q = q.Where("trigger_kind = ?", f.Trigger)
	}
	if f.Before > 0 {
		q = q.Where("id < ?", f.Before)
	}
	var bs []Build
	if err := q.Order("id DESC").Limit(f.Limit).Find(&bs).Error; err != nil {
		return nil, fmt.Errorf("list builds of app %d: %w", appID, err)
	}
	return bs, nil
}

// BuildRefs lists the distinct refs an app has built, for the filter's
// choices, at most limit of them.
func (s *Store) BuildRefs(ctx context.Context, appID uint, limit int) ([]string, error) {
	var refs []string
	err := s.db.WithContext(ctx).Model(&Build{}).Where("app_id = ?", appID).
		Distinct("ref").Order("ref").Limit(limit).Pluck("ref", &refs).Error
	if err != nil {
		return nil, fmt.Errorf("list built refs of app %d: %w", appID, err)
	}
	return refs, nil
}
