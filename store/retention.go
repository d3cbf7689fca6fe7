package store

import (
	"context"
	"fmt"
	"sort"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/seedbed/seedbed/migrations"
)

// LogPrunedPrefix starts the line that stands in for a build's or deploy's
// log lines once retention removed them, so that the log says so rather
// than looking empty.
const LogPrunedPrefix = "Log pruned"

// pruneBatch bounds the ids in one IN list and one transaction: SQLite
// takes at most 32766 variables, and a short transaction keeps the single
// writer free for deploys.
const pruneBatch = 200

// ReleaseSplit is what retention does with the releases: Keep holds every
// kept release with its manifest, Drop the ids of the others. InUse marks
// the kept releases a stage may be running right now: live ones and those
// of deploys that have not finished.
type ReleaseSplit struct {
	Keep  []Release
	Drop  []uint
	InUse map[uint]bool
}

// SplitReleases decides which releases retention keeps. A release is kept
// when any of these holds:
//   - it is live on a stage (any stage: closed previews too);
//   - it is among the keepPerStage newest releases that a stage served
//     (a succeeded deploy), ordered by that stage's newest such deploy:
//     these are the rollback targets; Rollback offers only releases that
//     still exist, since deleting one clears its deploys' release_id;
//   - a deploy that has not finished (queued, running, awaiting approval)
//     needs it, by release or by the build it waits for;
//   - its build has not finished (a retried build rewrites its release);
//   - it is among its app's keepPerStage newest releases, so a release
//     just built and not yet deployed anywhere stays.
//
// Everything else goes to Drop, oldest first.
func (s *Store) SplitReleases(ctx context.Context, keepPerStage int) (ReleaseSplit, error) {
	if keepPerStage < 1 {
		return ReleaseSplit{}, fmt.Errorf("split releases: keep per stage must be at least 1, not %d", keepPerStage)
	}
	db := s.db.WithContext(ctx)
	type rel struct {
		ID, AppID, BuildID uint
	}
	var all []rel
	if err := db.Model(&Release{}).Select("id, app_id, build_id").Order("id").Find(&all).Error; err != nil {
		return ReleaseSplit{}, fmt.Errorf("split releases: list releases: %w", err)
	}
	keep, inUse := map[uint]bool{}, map[uint]bool{}

	var live []uint
	if err := db.Model(&Stage{}).Where("live_release_id IS NOT NULL").Pluck("live_release_id", &live).Error; err != nil {
		return ReleaseSplit{}, fmt.Errorf("split releases: live releases: %w", err)
	}
	for _, id := range live {
		keep[id], inUse[id] = true, true
	}

	var served []struct {
		StageID, ReleaseID, Last uint
	}
	if err := db.Model(&Deploy{}).Select("stage_id, release_id, MAX(id) AS last").
		Where("status = ? AND release_id IS NOT NULL", DeploySucceeded).Group("stage_id, release_id").Find(&served).Error; err != nil {
		return ReleaseSplit{}, fmt.Errorf("split releases: releases served by stages: %w", err)
	}
	sort.Slice(served, func(i, j int) bool { return served[i].Last > served[j].Last })
	perStage := map[uint]int{}
	for _, sv := range served {
		if perStage[sv.StageID] < keepPerStage {
			perStage[sv.StageID]++
			keep[sv.ReleaseID] = true
		}
	}

	var pending []struct {
		ReleaseID *uint
		BuildID   *uint
	}
	if err := db.Model(&Deploy{}).Select("release_id, build_id").
		Where("status IN ?", []string{DeployQueued, DeployRunning, DeployAwaiting}).Find(&pending).Error; err != nil {
		return ReleaseSplit{}, fmt.Errorf("split releases: unfinished deploys: %w", err)
	}
	neededBuilds := map[uint]bool{}
	for _, p := range pending {
		if p.ReleaseID != nil {
			keep[*p.ReleaseID], inUse[*p.ReleaseID] = true, true
		}
		if p.BuildID != nil {
			neededBuilds[*p.BuildID] = true
		}
	}
	var running []uint
	if err := db.Model(&Build{}).Where("status IN ?", []string{BuildQueued, BuildRunning}).Pluck("id", &running).Error; err != nil {
		return ReleaseSplit{}, fmt.Errorf("split releases: unfinished builds: %w", err)
	}
	for _, id := range running {
		neededBuilds[id] = true
	}

	perApp := map[uint]int{}
	for i := len(all) - 1; i >= 0; i-- { // newest first
		r := all[i]
		if neededBuilds[r.BuildID] {
			keep[r.ID], inUse[r.ID] = true, true
		}
		if perApp[r.AppID] < keepPerStage {
			perApp[r.AppID]++
			keep[r.ID] = true
		}
	}

	split := ReleaseSplit{InUse: inUse}
	var keepIDs []uint
	for _, r := range all {
		if keep[r.ID] {
			keepIDs = append(keepIDs, r.ID)
		} else {
			split.Drop = append(split.Drop, r.ID)
		}
	}
	for start := 0; start < len(keepIDs); start += pruneBatch {
		var rs []Release
		if err := db.Where("id IN ?", keepIDs[start:min(start+pruneBatch, len(keepIDs))]).Order("id").Find(&rs).Error; err != nil {
			return ReleaseSplit{}, fmt.Errorf("split releases: load kept releases: %w", err)
		}
		split.Keep = append(split.Keep, rs...)
	}
	return split, nil
}

// ArtifactDigestsOfUnfinishedBuilds lists the digests that builds still
// queued or running have recorded: kept whatever their releases say.
func (s *Store) ArtifactDigestsOfUnfinishedBuilds(ctx context.Context) ([]string, error) {
	var ds []string
	err := s.db.WithContext(ctx).Model(&Artifact{}).Distinct("digest").
		Where("build_id IN (?)", s.db.Model(&Build{}).Select("id").Where("status IN ?", []string{BuildQueued, BuildRunning})).
		Pluck("digest", &ds).Error
	if err != nil {
		return nil, fmt.Errorf("list artifacts of unfinished builds: %w", err)
	}
	return ds, nil
}

// PrunedReleases counts what PruneReleases removed.
type PrunedReleases struct {
	Releases  int64
	Artifacts int64 // artifact rows of the releases' builds
	LogLines  int64 // log lines of those builds and of the deploys of the releases
	LogBytes  int64
}

// PruneReleases deletes the releases with the given ids, the artifact
// rows of their builds, and the log lines of those builds and of the
// finished deploys that deployed them; each such log keeps one line
// saying it was pruned. The builds and deploys stay; a deploy's
// release_id becomes NULL (so no rollback offers it). The live release of
// a stage and a release an unfinished deploy names are never deleted,
// whatever ids says.
func (s *Store) PruneReleases(ctx context.Context, ids []uint) (PrunedReleases, error) {
	var out PrunedReleases
	for start := 0; start < len(ids); start += pruneBatch {
		batch := ids[start:min(start+pruneBatch, len(ids))]
		err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			// Checked again here, in the transaction that deletes: a
			// release that went live or that a deploy asked for since
			// SplitReleases stays.
			var rels []Release
			if err := tx.Select("id, build_id").Where("id IN ? AND id NOT IN (?) AND id NOT IN (?)", batch,
				tx.Model(&Stage{}).Select("live_release_id").Where("live_release_id IS NOT NULL"),
				tx.Model(&Deploy{}).Select("release_id").Where("release_id IS NOT NULL AND status IN ?", []string{DeployQueued, DeployRunning, DeployAwaiting}),
			).Find(&rels).Error; err != nil {
				return err
			}
			if len(rels) == 0 {
				return nil
			}
			relIDs := make([]uint, len(rels))
			buildIDs := make([]uint, len(rels))
			why := map[logOwner]string{}
			for i, r := range rels {
				relIDs[i], buildIDs[i] = r.ID, r.BuildID
				why[logOwner{LogBuild, r.BuildID}] = fmt.Sprintf("%s by retention: release #%d is no longer kept.", LogPrunedPrefix, r.ID)
			}
			var deploys []Deploy
			if err := tx.Select("id, release_id").Where("release_id IN ? AND status IN ?", relIDs,
				[]string{DeploySucceeded, DeployFailed, DeploySuperseded, DeployRejected, DeployCancelled}).Find(&deploys).Error; err != nil {
				return err
			}
			deployIDs := make([]uint, len(deploys))
			for i, d := range deploys {
				deployIDs[i] = d.ID
				why[logOwner{LogDeploy, d.ID}] = fmt.Sprintf("%s by retention: release #%d is no longer kept.", LogPrunedPrefix, *d.ReleaseID)
			}
			lines, bytes, err := pruneLogsOf(tx, LogBuild, buildIDs, why)
			if err != nil {
				return err
			}
			out.LogLines, out.LogBytes = out.LogLines+lines, out.LogBytes+bytes
			if lines, bytes, err = pruneLogsOf(tx, LogDeploy, deployIDs, why); err != nil {
				return err
			}
			out.LogLines, out.LogBytes = out.LogLines+lines, out.LogBytes+bytes
			res := tx.Where("build_id IN ?", buildIDs).Delete(&Artifact{})
			if res.Error != nil {
				return res.Error
			}
			out.Artifacts += res.RowsAffected
			if res = tx.Where("id IN ?", relIDs).Delete(&Release{}); res.Error != nil {
				return res.Error
			}
			out.Releases += res.RowsAffected
			return nil
		})
		if err != nil {
			return out, fmt.Errorf("prune %d releases: %w", len(batch), err)
		}
	}
	return out, nil
}

// logOwner names one build's or deploy's log.
type logOwner struct {
	kind string
	id   uint
}

// pruneLogsOf deletes the log lines of the given owners, but for a line
// that says the log was pruned, and adds that line (why[kind, id]) where
// lines went. It returns the lines and bytes of text removed.
func pruneLogsOf(tx *gorm.DB, kind string, owners []uint, why map[logOwner]string) (int64, int64, error) {
	if len(owners) == 0 {
		return 0, 0, nil
	}
	notMarker := tx.Where("owner_kind = ? AND owner_id IN ?", kind, owners).
		Where("NOT (stream = ? AND text LIKE ?)", "seedbed", LogPrunedPrefix+"%")
	var had []struct {
		OwnerID uint
		N       int64
		Bytes   int64
	}
	if err := tx.Model(&LogLine{}).Select("owner_id, COUNT(*) AS n, COALESCE(SUM(LENGTH(text)), 0) AS bytes").
		Where(notMarker).Group("owner_id").Find(&had).Error; err != nil {
		return 0, 0, err
	}
	if len(had) == 0 {
		return 0, 0, nil
	}
	if err := tx.Where(notMarker).Delete(&LogLine{}).Error; err != nil {
		return 0, 0, err
	}
	var lines, bytes int64
	now := time.Now().UTC()
	markers := make([]LogLine, 0, len(had))
	for _, h := range had {
		lines, bytes = lines+h.N, bytes+h.Bytes
		markers = append(markers, LogLine{OwnerKind: kind, OwnerID: h.OwnerID, Stream: "seedbed", Text: why[logOwner{kind, h.OwnerID}], CreatedAt: now})
	}
	if err := tx.CreateInBatches(markers, 100).Error; err != nil {
		return 0, 0, err
	}
	return lines, bytes, nil
}

// PrunedLogs counts log lines removed (or, in a dry run, that would be).
type PrunedLogs struct {
	Owners int64 // builds and deploys whose log was cut
	Lines  int64
	Bytes  int64
}

// PruneLogsBefore removes the log lines written before cutoff, for every
// build and deploy, leaving one line in each such log that says lines
// older than age were removed. With dryRun it only counts.
func (s *Store) PruneLogsBefore(ctx context.Context, cutoff time.Time, age string, dryRun bool) (PrunedLogs, error) {
	var out PrunedLogs
	old := func(tx *gorm.DB) *gorm.DB {
		return tx.Model(&LogLine{}).Where("created_at < ?", cutoff.UTC()).
			Where("NOT (stream = ? AND text LIKE ?)", "seedbed", LogPrunedPrefix+"%")
	}
	for {
		var owners []struct {
			OwnerKind string
			OwnerID   uint
			N         int64
			Bytes     int64
		}
		err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			q := old(tx).Select("owner_kind, owner_id, COUNT(*) AS n, COALESCE(SUM(LENGTH(text)), 0) AS bytes").
				Group("owner_kind, owner_id").Order("owner_kind, owner_id")
			if !dryRun {
				q = q.Limit(pruneBatch)
			}
			if err := q.Find(&owners).Error; err != nil {
				return err
			}
			if dryRun || len(owners) == 0 {
				return nil
			}
			byKind := map[string][]uint{}
			for _, o := range owners {
				byKind[o.OwnerKind] = append(byKind[o.OwnerKind], o.OwnerID)
			}
			now := time.Now().UTC()
			var markers []LogLine
			for kind, ids := range byKind {
				if err := old(tx).Where("owner_kind = ? AND owner_id IN ?", kind, ids).Delete(&LogLine{}).Error; err != nil {
					return err
				}
				for _, id := range ids {
					markers = append(markers, LogLine{OwnerKind: kind, OwnerID: id, Stream: "seedbed", CreatedAt: now,
						Text: fmt.Sprintf("%s by retention: lines older than %s are removed.", LogPrunedPrefix, age)})
				}
			}
			return tx.CreateInBatches(markers, 100).Error
		})
		if err != nil {
			return out, fmt.Errorf("prune log lines before %s: %w", cutoff.Format(time.RFC3339), err)
		}
		for _, o := range owners {
			out.Owners++
			out.Lines += o.N
			out.Bytes += o.Bytes
		}
		if dryRun || len(owners) < pruneBatch {
			return out, nil
		}
	}
}

// PruneDeliveries keeps the newest perApp webhook deliveries of each app
// and the newest rejected ones across all apps, and deletes the rest; it
// returns how many went (with dryRun, would go). Both caps must be at
// least 1.
func (s *Store) PruneDeliveries(ctx context.Context, perApp, rejected int, dryRun bool) (int64, error) {
	if perApp < 1 || rejected < 1 {
		return 0, fmt.Errorf("prune webhook deliveries: the caps must be at least 1 (per app %d, rejected %d)", perApp, rejected)
	}
	db := s.db.WithContext(ctx)
	var apps []uint
	if err := db.Model(&WebhookDelivery{}).Distinct("app_id").Pluck("app_id", &apps).Error; err != nil {
		return 0, fmt.Errorf("prune webhook deliveries: %w", err)
	}
	doomed := map[uint]bool{}
	var ids []uint
	collect := func(q *gorm.DB, keepN int) error {
		var cut []uint // the id of the newest delivery beyond the cap
		if err := q.Session(&gorm.Session{}).Order("id DESC").Offset(keepN).Limit(1).Pluck("id", &cut).Error; err != nil {
			return err
		}
		if len(cut) == 0 {
			return nil
		}
		var old []uint
		if err := q.Session(&gorm.Session{}).Where("id <= ?", cut[0]).Pluck("id", &old).Error; err != nil {
			return err
		}
		for _, id := range old {
			if !doomed[id] {
				doomed[id] = true
				ids = append(ids, id)
			}
		}
		return nil
	}
	for _, app := range apps {
		if err := collect(db.Model(&WebhookDelivery{}).Where("app_id = ?", app), perApp); err != nil {
			return 0, fmt.Errorf("prune webhook deliveries of app %d: %w", app, err)
		}
	}
	// The cap on rejected deliveries counts those the per-app caps leave.
	var newest []uint
	if err := db.Model(&WebhookDelivery{}).Where("outcome = ?", DeliveryRejected).Order("id DESC").
		Limit(rejected+len(ids)).Pluck("id", &newest).Error; err != nil {
		return 0, fmt.Errorf("prune rejected webhook deliveries: %w", err)
	}
	survivors := 0
	for _, id := range newest {
		if doomed[id] {
			continue
		}
		if survivors++; survivors == rejected {
			var old []uint
			if err := db.Model(&WebhookDelivery{}).Where("outcome = ? AND id < ?", DeliveryRejected, id).Pluck("id", &old).Error; err != nil {
				return 0, fmt.Errorf("prune rejected webhook deliveries: %w", err)
			}
			for _, o := range old {
				if !doomed[o] {
					doomed[o] = true
					ids = append(ids, o)
				}
			}
			break
		}
	}
	if dryRun {
		return int64(len(ids)), nil
	}
	var n int64
	for start := 0; start < len(ids); start += pruneBatch {
		res := db.Where("id IN ?", ids[start:min(start+pruneBatch, len(ids))]).Delete(&WebhookDelivery{})
		if res.Error != nil {
			return n, fmt.Errorf("prune webhook deliveries: %w", res.Error)
		}
		n += res.RowsAffected
	}
	return n, nil
}

// CountReleasesToPrune is the dry run of PruneReleases: what deleting ids
// would remove.
func (s *Store) CountReleasesToPrune(ctx context.Context, ids []uint) (PrunedReleases, error) {
	var out PrunedReleases
	db := s.db.WithContext(ctx)
	for start := 0; start < len(ids); start += pruneBatch {
		batch := ids[start:min(start+pruneBatch, len(ids))]
		var n int64
		live := db.Model(&Stage{}).Select("live_release_id").Where("live_release_id IS NOT NULL")
		if err := db.Model(&Release{}).Where("id IN ? AND id NOT IN (?)", batch, live).Count(&n).Error; err != nil {
			return out, fmt.Errorf("count releases to prune: %w", err)
		}
		out.Releases += n
		builds := db.Model(&Release{}).Select("build_id").Where("id IN ?", batch)
		if err := db.Model(&Artifact{}).Where("build_id IN (?)", builds).Count(&n).Error; err != nil {
			return out, fmt.Errorf("count artifacts to prune: %w", err)
		}
		out.Artifacts += n
		deploys := db.Model(&Deploy{}).Select("id").Where("release_id IN ? AND status NOT IN ?", batch, []string{DeployQueued, DeployRunning, DeployAwaiting})
		var sum struct{ N, Bytes int64 }
		if err := db.Model(&LogLine{}).Select("COUNT(*) AS n, COALESCE(SUM(LENGTH(text)), 0) AS bytes").
			Where("(owner_kind = ? AND owner_id IN (?)) OR (owner_kind = ? AND owner_id IN (?))", LogBuild, builds, LogDeploy, deploys).
			Where("NOT (stream = ? AND text LIKE ?)", "seedbed", LogPrunedPrefix+"%").Take(&sum).Error; err != nil {
			return out, fmt.Errorf("count log lines to prune: %w", err)
		}
		out.LogLines += sum.N
		out.LogBytes += sum.Bytes
	}
	return out, nil
}

// TryLockMaintenance takes the lock called name for owner until ttl from
// now, and tells whether it got it: free, expired or already owner's. It
// keeps two processes from running the same maintenance job at once,
// on one database however many machines share it.
func (s *Store) TryLockMaintenance(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	db := s.db.WithContext(ctx)
	if err := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&maintenanceLock{Name: name}).Error; err != nil {
		return false, fmt.Errorf("lock %s: %w", name, err)
	}
	now := time.Now().UTC()
	res := db.Model(&maintenanceLock{}).
		Where("name = ? AND (owner = '' OR owner = ? OR expires_at IS NULL OR expires_at < ?)", name, owner, now).
		Updates(map[string]any{"owner": owner, "expires_at": now.Add(ttl)})
	if res.Error != nil {
		return false, fmt.Errorf("lock %s: %w", name, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// UnlockMaintenance lets go of the lock called name if owner holds it.
func (s *Store) UnlockMaintenance(ctx context.Context, name, owner string) error {
	err := s.db.WithContext(ctx).Model(&maintenanceLock{}).Where("name = ? AND owner = ?", name, owner).
		Updates(map[string]any{"owner": "", "expires_at": nil}).Error
	if err != nil {
		return fmt.Errorf("unlock %s: %w", name, err)
	}
	return nil
}

// maintenanceLock is a row of maintenance_locks.
type maintenanceLock struct {
	Name      string `gorm:"primaryKey"`
	Owner     string
	ExpiresAt *time.Time
}

func (maintenanceLock) TableName() string { return "maintenance_locks" }

// Compact gives space that deletes freed back where the database can: on
// SQLite it folds the write-ahead log into the database file and truncates
// it (freed pages inside the file are reused by later writes); PostgreSQL's
// autovacuum does its own.
func (s *Store) Compact(ctx context.Context) error {
	if s.dialect != migrations.SQLite {
		return nil
	}
	if err := s.db.WithContext(ctx).Exec("PRAGMA wal_checkpoint(TRUNCATE)").Error; err != nil {
		return fmt.Errorf("checkpoint the SQLite log: %w", err)
	}
	return nil
}
