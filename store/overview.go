package store

import (
	"context"
	"fmt"
	"sync"

	"github.com/seedbed/seedbed/migrations"
)

// AppSummary is what a list of apps shows of each: no secrets, no settings.
type AppSummary struct {
	ID      uint
	Name    string
	RepoURL string
	Branch  string
}

// StageStatus is a pipeline stage with what it serves and the status of its
// newest deploy ("" when it has none): what the apps overview shows for
// every app.
type StageStatus struct {
	AppID    uint
	Name     string
	Position int
	Status   string
	// LiveReleaseID is the release the stage serves, 0 for none; LiveCommit
	// is the commit that release was built from ("" when unknown).
	LiveReleaseID uint
	LiveCommit    string
}

// Overview is what the apps overview shows of every app.
type Overview struct {
	// Version is the count of changes to apps, stages and deploys the
	// rows were read at: the sum of overview_changes, which triggers keep
	// (1 row on SQLite, 32 on PostgreSQL; see migration 0011_apps_overview).
	Version  int64
	Apps     []AppSummary  // ordered by name
	Statuses []StageStatus // ordered by app id and position
}

// overviewCache keeps the newest Overview read.
type overviewCache struct {
	mu   sync.Mutex
	last *Overview
}

// Overview returns every app with the status of each of its pipeline
// stages. The rows are read again only when apps, stages or deploys changed
// since they were last read, by this process or any other on the database:
// triggers count every change in overview_changes, in the transaction that
// makes it, and each call reads that count first. Rows read after a count
// are at least as new as it, and the count grows with every change, so
// rows kept under the count a call reads are the rows it would read.
//
// The slices are shared between callers: read them, never change them.
func (s *Store) Overview(ctx context.Context) (Overview, error) {
	var counters, version int64
	rows, err := s.query(ctx, `SELECT count(*), CAST(COALESCE(sum(n), 0) AS BIGINT) FROM overview_changes`)
	if err != nil {
		return Overview{}, fmt.Errorf("read overview version: %w", err)
	}
	if rows.Next() {
		err = rows.Scan(&counters, &version)
	}
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Overview{}, fmt.Errorf("read overview version: %w", err)
	}
	// Without all its rows the count misses changes: read, keep nothing.
	want := int64(1)
	if s.dialect == migrations.Postgres {
		want = 32
	}
	counted := counters == want
	s.overview.mu.Lock()
	last := s.overview.last
	s.overview.mu.Unlock()
	if counted && last != nil && last.Version == version {
		return *last, nil
	}
	apps, err := s.AppSummaries(ctx)
	if err != nil {
		return Overview{}, err
	}
	statuses, err := s.StageStatuses(ctx)
	if err != nil {
		return Overview{}, err
	}
	o := &Overview{Version: version, Apps: apps, Statuses: statuses}
	if counted {
		s.overview.mu.Lock()
		if s.overview.last == nil || s.overview.last.Version < version {
			s.overview.last = o
		}
		s.overview.mu.Unlock()
	}
	return *o, nil
}

// AppSummaries lists every app by name with only what the apps overview
// shows: four columns instead of whole App rows through gorm, which costs
// several times more for the same 200 apps.
func (s *Store) AppSummaries(ctx context.Context) ([]AppSummary, error) {
	rows, err := s.query(ctx, `SELECT id, name, repo_url, branch FROM apps ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	defer rows.Close()
	var out []AppSummary
	for rows.Next() {
		var (
			a  AppSummary
			id int64 // database/sql converts to uint through strings
		)
		if err := rows.Scan(&id, &a.Name, &a.RepoURL, &a.Branch); err != nil {
			return nil, fmt.Errorf("list apps: %w", err)
		}
		a.ID = uint(id)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	return out, nil
}

// StageStatuses lists the pipeline stages of every app with their newest
// deploy's status and the release they serve, ordered by app and position,
// in one query: the overview must not cost a query per app. Each stage's
// newest deploy is one seek in the index deploys_stage_status (stage_id, id,
// status), which holds the status too, so the deploys table itself is not
// read; the live release and its build are one primary-key lookup each.
// Releases and the commits of builds never change, so the overview's
// version (which counts changes to stages, not releases) still covers them.
func (s *Store) StageStatuses(ctx context.Context) ([]StageStatus, error) {
	rows, err := s.query(ctx, `
		SELECT s.app_id, s.name, s.position,
		       COALESCE((SELECT d.status FROM deploys d WHERE d.stage_id = s.id ORDER BY d.id DESC LIMIT 1), ''),
		       COALESCE(r.id, 0), COALESCE(b.commit_sha, '')
		FROM stages s
		LEFT JOIN releases r ON r.id = s.live_release_id
		LEFT JOIN builds b ON b.id = r.build_id
		WHERE s.pr_number IS NULL
		ORDER BY s.app_id, s.position, s.id`)
	if err != nil {
		return nil, fmt.Errorf("list stage statuses: %w", err)
	}
	defer rows.Close()
	var out []StageStatus
	for rows.Next() {
		var (
			st                 StageStatus
			appID, pos, liveID int64
		)
		if err := rows.Scan(&appID, &st.Name, &pos, &st.Status, &liveID, &st.LiveCommit); err != nil {
			return nil, fmt.Errorf("list stage statuses: %w", err)
		}
		st.AppID, st.Position, st.LiveReleaseID = uint(appID), int(pos), uint(liveID)
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list stage statuses: %w", err)
	}
	return out, nil
}
