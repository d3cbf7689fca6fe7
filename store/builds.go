package store

import (
	"context"
	"fmt"
	"time"
)

// CreateBuild records a build before it is queued.
func (s *Store) CreateBuild(ctx context.Context, b *Build) error {
	if err := s.db.WithContext(ctx).Create(b).Error; err != nil {
		return fmt.Errorf("create build of %s: %w", b.Ref, err)
	}
	return nil
}

// SaveBuild writes every field of b.
func (s *Store) SaveBuild(ctx context.Context, b *Build) error {
	if err := s.db.WithContext(ctx).Save(b).Error; err != nil {
		return fmt.Errorf("save build %d: %w", b.ID, err)
	}
	return nil
}

// BuildByID finds a build.
func (s *Store) BuildByID(ctx context.Context, id uint) (Build, error) {
	var b Build
	if err := s.db.WithContext(ctx).Take(&b, id).Error; err != nil {
		return b, notFound(err, "build %d", id)
	}
	return b, nil
}

// Builds lists an app's builds, newest first, at most limit.
func (s *Store) Builds(ctx context.Context, appID uint, limit int) ([]Build, error) {
	var bs []Build
	if err := s.db.WithContext(ctx).Where("app_id = ?", appID).Order("id DESC").Limit(limit).Find(&bs).Error; err != nil {
		return nil, fmt.Errorf("list builds of app %d: %w", appID, err)
	}
	return bs, nil
}

// UnfinishedBuilds lists builds that are queued or running, oldest first:
// the work to queue again after a restart.
func (s *Store) UnfinishedBuilds(ctx context.Context) ([]Build, error) {
	var bs []Build
	if err := s.db.WithContext(ctx).Where("status IN ?", []string{BuildQueued, BuildRunning}).Order("id").Find(&bs).Error; err != nil {
		return nil, fmt.Errorf("list unfinished builds: %w", err)
	}
	return bs, nil
}

// ReplaceArtifacts records a build's artifacts, dropping any an earlier,
// interrupted run of the same build left behind.
func (s *Store) ReplaceArtifacts(ctx context.Context, buildID uint, arts []Artifact) error {
	tx := s.db.WithContext(ctx).Begin()
	if err := tx.Where("build_id = ?", buildID).Delete(&Artifact{}).Error; err != nil {
		tx.Rollback()
		return fmt.Errorf("record artifacts of build %d: %w", buildID, err)
	}
	for i := range arts {
		arts[i].ID = 0
		arts[i].BuildID = buildID
		if err := tx.Create(&arts[i]).Error; err != nil {
			tx.Rollback()
			return fmt.Errorf("record artifacts of build %d: %w", buildID, err)
		}
	}
	if err := tx.Commit().Error; err != nil {
		return fmt.Errorf("record artifacts of build %d: %w", buildID, err)
	}
	return nil
}

// Artifacts lists a build's artifacts.
func (s *Store) Artifacts(ctx context.Context, buildID uint) ([]Artifact, error) {
	var as []Artifact
	if err := s.db.WithContext(ctx).Where("build_id = ?", buildID).Order("service, function").Find(&as).Error; err != nil {
		return nil, fmt.Errorf("list artifacts of build %d: %w", buildID, err)
	}
	return as, nil
}

// CreateRelease records a build's release. A build has at most one: asking
// again returns the one already recorded, so a retried build is idempotent.
func (s *Store) CreateRelease(ctx context.Context, r *Release) error {
	if existing, err := s.ReleaseByBuild(ctx, r.BuildID); err == nil {
		existing.Manifest = r.Manifest
		if err := s.db.WithContext(ctx).Save(&existing).Error; err != nil {
			return fmt.Errorf("update release of build %d: %w", r.BuildID, err)
		}
		*r = existing
		return nil
	}
	if err := s.db.WithContext(ctx).Create(r).Error; err != nil {
		return fmt.Errorf("create release of build %d: %w", r.BuildID, err)
	}
	return nil
}

// ReleaseByID finds a release.
func (s *Store) ReleaseByID(ctx context.Context, id uint) (Release, error) {
	var r Release
	if err := s.db.WithContext(ctx).Take(&r, id).Error; err != nil {
		return r, notFound(err, "release %d", id)
	}
	return r, nil
}

// ReleaseByBuild finds the release a build produced.
func (s *Store) ReleaseByBuild(ctx context.Context, buildID uint) (Release, error) {
	var r Release
	if err := s.db.WithContext(ctx).Where("build_id = ?", buildID).Take(&r).Error; err != nil {
		return r, notFound(err, "release of build %d", buildID)
	}
	return r, nil
}

// AppendLog stores log lines of a build or deploy in one write.
func (s *Store) AppendLog(ctx context.Context, lines []LogLine) error {
	if len(lines) == 0 {
		return nil
	}
	now := time.Now().UTC()
	for i := range lines {
		if lines[i].CreatedAt.IsZero() {
			lines[i].CreatedAt = now
		}
	}
	if err := s.db.WithContext(ctx).CreateInBatches(lines, 200).Error; err != nil {
		return fmt.Errorf("append %d log lines: %w", len(lines), err)
	}
	return nil
}

// LogLines returns up to limit lines of a build's or deploy's log after the
// line with id afterID, oldest first. The rows are scanned by hand: a build
// page reads hundreds of lines, and gorm's reflection over each cost more
// than the query.
func (s *Store) LogLines(ctx context.Context, kind string, ownerID, afterID uint, limit int) ([]LogLine, error) {
	rows, err := s.db.WithContext(ctx).Raw(`SELECT id, owner_kind, owner_id, stream, text, created_at FROM log_lines
		WHERE owner_kind = ? AND owner_id = ? AND id > ? ORDER BY id LIMIT ?`, kind, ownerID, afterID, limit).Rows()
	if err != nil {
		return nil, fmt.Errorf("read log of %s %d: %w", kind, ownerID, err)
	}
	defer rows.Close()
	var ls []LogLine
	for rows.Next() {
		var (
			l         LogLine
			id, owner int64 // database/sql converts to uint through strings
		)
		if err := rows.Scan(&id, &l.OwnerKind, &owner, &l.Stream, &l.Text, &l.CreatedAt); err != nil {
			return nil, fmt.Errorf("read log of %s %d: %w", kind, ownerID, err)
		}
		l.ID, l.OwnerID = uint(id), uint(owner)
		ls = append(ls, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read log of %s %d: %w", kind, ownerID, err)
	}
	return ls, nil
}
