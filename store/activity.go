package store

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// Activity kinds: what an entry of the activity feed is about.
const (
	ActivityBuild  = "build"
	ActivityDeploy = "deploy"
	ActivityInvite = "invite" // an invite an admin revoked
)

// Activity is one entry of the activity feed: a build or a deploy, with who
// started it and, for a deploy that waited for approval, who decided; or an
// invite an admin revoked, with who revoked it (TriggeredBy) and when
// (CreatedAt).
type Activity struct {
	Kind        string // ActivityBuild, ActivityDeploy or ActivityInvite
	ID          uint   // the build's or deploy's id
	AppID       uint
	App         string
	Stage       string // deploys only
	Ref         string // builds only
	CommitSHA   string // builds only
	BuildID     *uint  // deploys only
	Status      string
	TriggerKind string
	TriggeredBy string
	DecidedBy   string
	DecidedAt   *time.Time
	Email       string // invites only: who was invited
	CreatedAt   time.Time
}

// ActivityFilter narrows the feed.
type ActivityFilter struct {
	// AppIDs are the apps whose activity to list; nil means every app, an
	// empty non-nil slice means none.
	AppIDs []uint
	// Before keeps entries created before it: the next page.
	Before time.Time
	// Limit caps the answer; 0 means 50.
	Limit int
	// Invites adds the invites that were revoked, which belong to no app:
	// only admins see them.
	Invites bool
}

// Activity lists builds and deploys of the filter's apps, newest first.
func (s *Store) Activity(ctx context.Context, f ActivityFilter) ([]Activity, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	var out []Activity
	if f.Invites {
		q := s.db.WithContext(ctx).Table("invites").
			Select("invites.id, invites.email, 'revoked' AS status, invites.revoked_by AS triggered_by, invites.revoked_at AS created_at").
			Where("invites.revoked_at IS NOT NULL")
		if !f.Before.IsZero() {
			q = q.Where("invites.revoked_at < ?", f.Before.UTC())
		}
		if err := q.Order("invites.revoked_at DESC, invites.id DESC").Limit(f.Limit).Scan(&out).Error; err != nil {
			return nil, fmt.Errorf("read invite activity: %w", err)
		}
		for i := range out {
			out[i].Kind = ActivityInvite
		}
	}
	if f.AppIDs != nil && len(f.AppIDs) == 0 {
		return out, nil
	}

	bq := s.db.WithContext(ctx).Table("builds").
		Select("builds.id, builds.app_id, apps.name AS app, builds.ref, builds.commit_sha, builds.status, builds.trigger_kind, builds.triggered_by, builds.created_at").
		Joins("JOIN apps ON apps.id = builds.app_id")
	dq := s.db.WithContext(ctx).Table("deploys").
		Select("deploys.id, deploys.app_id, apps.name AS app, stages.name AS stage, deploys.build_id, deploys.status, deploys.trigger_kind, deploys.triggered_by, deploys.decided_by, deploys.decided_at, deploys.created_at").
		Joins("JOIN apps ON apps.id = deploys.app_id").
		Joins("JOIN stages ON stages.id = deploys.stage_id")
	if f.AppIDs != nil {
		bq = bq.Where("builds.app_id IN ?", f.AppIDs)
		dq = dq.Where("deploys.app_id IN ?", f.AppIDs)
	}
	if !f.Before.IsZero() {
		bq = bq.Where("builds.created_at < ?", f.Before.UTC())
		dq = dq.Where("deploys.created_at < ?", f.Before.UTC())
	}
	var builds []Activity
	if err := bq.Order("builds.created_at DESC, builds.id DESC").Limit(f.Limit).Scan(&builds).Error; err != nil {
		return nil, fmt.Errorf("read build activity: %w", err)
	}
	var deploys []Activity
	if err := dq.Order("deploys.created_at DESC, deploys.id DESC").Limit(f.Limit).Scan(&deploys).Error; err != nil {
		return nil, fmt.Errorf("read deploy activity: %w", err)
	}
	for i := range builds {
		builds[i].Kind = ActivityBuild
	}
	for i := range deploys {
		deploys[i].Kind = ActivityDeploy
	}
	out = append(append(out, builds...), deploys...)
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.After(out[j].CreatedAt)
		}
		// A deploy is recorded just after the build it waits for.
		if out[i].Kind != out[j].Kind {
			return out[i].Kind == ActivityDeploy
		}
		return out[i].ID > out[j].ID
	})
	if len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}
