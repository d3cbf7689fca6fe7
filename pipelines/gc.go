package pipelines

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/seedbed/seedbed/builders/artifact"
	"github.com/seedbed/seedbed/store"
)

// Retention says what Seedbed keeps and for how long; the collector
// (seedbed gc, and serve every GCInterval) removes the rest.
type Retention struct {
	// Releases is how many releases each stage keeps besides those in
	// use: the newest it served, which are the rollback targets. Each app
	// also keeps its newest Releases releases, deployed or not. At least 2:
	// the live release and the one a rollback goes back to.
	Releases int
	// LogAge is how long build and deploy log lines are kept; 0 keeps
	// them as long as their release. A pruned log keeps one line saying so.
	LogAge time.Duration
	// Deliveries is how many webhook deliveries each app keeps;
	// RejectedDeliveries how many rejected ones are kept across all apps.
	Deliveries         int
	RejectedDeliveries int
	// Grace protects artifacts and unpacked copies stored or used within
	// it, whatever the database says: a build stores artifacts before its
	// release names them. Longer than the longest build.
	Grace time.Duration
}

// DefaultRetention is what Seedbed keeps unless told otherwise.
func DefaultRetention() Retention {
	return Retention{Releases: 20, LogAge: 30 * 24 * time.Hour, Deliveries: 200, RejectedDeliveries: 1000, Grace: time.Hour}
}

// Validate says what is wrong with r, in the words of its settings.
func (r Retention) Validate() error {
	var errs []error
	if r.Releases < 2 {
		errs = append(errs, fmt.Errorf("--retain-releases must be at least 2 (the live release and the one a rollback goes back to), not %d", r.Releases))
	}
	if r.LogAge < 0 {
		errs = append(errs, fmt.Errorf("--retain-logs must be 0 (keep logs as long as their release) or a positive duration such as 720h, not %s", r.LogAge))
	}
	if r.Deliveries < 1 {
		errs = append(errs, fmt.Errorf("--retain-deliveries must be at least 1, not %d", r.Deliveries))
	}
	if r.RejectedDeliveries < 1 {
		errs = append(errs, fmt.Errorf("--retain-rejected-deliveries must be at least 1, not %d", r.RejectedDeliveries))
	}
	if r.Grace < time.Minute {
		errs = append(errs, fmt.Errorf("the artifact grace period must be at least a minute (longer than the longest build), not %s", r.Grace))
	}
	return errors.Join(errs...)
}

// GCStore is what the collector needs of the database.
type GCStore interface {
	SplitReleases(ctx context.Context, keepPerStage int) (store.ReleaseSplit, error)
	ArtifactDigestsOfUnfinishedBuilds(ctx context.Context) ([]string, error)
	PruneReleases(ctx context.Context, ids []uint) (store.PrunedReleases, error)
	CountReleasesToPrune(ctx context.Context, ids []uint) (store.PrunedReleases, error)
	PruneLogsBefore(ctx context.Context, cutoff time.Time, age string, dryRun bool) (store.PrunedLogs, error)
	PruneDeliveries(ctx context.Context, perApp, rejected int, dryRun bool) (int64, error)
	TryLockMaintenance(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	UnlockMaintenance(ctx context.Context, name, owner string) error
	Compact(ctx context.Context) error
}

// ArtifactGC removes stored artifacts (an artifact.Storage: the data
// dir's folder or a bucket).
type ArtifactGC interface {
	GC(ctx context.Context, keep func(digest string) bool, grace time.Duration, dryRun bool) (artifact.GCResult, error)
}

// CollectorConfig is what a Collector is made of.
type CollectorConfig struct {
	Store     GCStore
	Artifacts ArtifactGC // nil: artifacts are not collected
	// PruneUnpacked removes a target's unpacked copies of artifacts that
	// keep does not hold and that were not used within grace (the local
	// target's local.PruneUnpacked); nil: none are pruned.
	PruneUnpacked func(ctx context.Context, keep func(digest string) bool, grace time.Duration, dryRun bool) (removed int, bytes int64, err error)
	// Running lists the digests the local target in this process runs
	// now (local.Target.RunningDigests); nil when there is none here.
	Running   func() []string
	Retention Retention
	// Owner names this process in the collector's lock.
	Owner  string
	Logger *slog.Logger
}

// Collector removes what retention does not keep. Several processes may
// run one against the same database: a lock there lets one at a time.
type Collector struct {
	cfg CollectorConfig
	log *slog.Logger
}

// NewCollector makes a Collector; it fails when the retention settings
// are not valid.
func NewCollector(cfg CollectorConfig) (*Collector, error) {
	if err := cfg.Retention.Validate(); err != nil {
		return nil, err
	}
	if cfg.Store == nil {
		return nil, errors.New("collector: a store is required")
	}
	if cfg.Owner == "" {
		return nil, errors.New("collector: an owner name for its lock is required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Collector{cfg: cfg, log: log}, nil
}

// GCReport is what one collection removed, or would remove in a dry run.
type GCReport struct {
	DryRun bool
	// Busy: another process was collecting; nothing was done.
	Busy          bool
	ReleaseIDs    []uint
	Releases      store.PrunedReleases
	KeptReleases  int
	Artifacts     int
	ArtifactBytes int64
	Unpacked      int
	UnpackedBytes int64
	Logs          store.PrunedLogs
	Deliveries    int64
	Took          time.Duration
}

// FileBytes is what the collection freed (would free) on disk in
// artifacts and unpacked copies; the database's share is in Releases and
// Logs.
func (r GCReport) FileBytes() int64 { return r.ArtifactBytes + r.UnpackedBytes }

// lockName and lockTTL: the collector's lock, renewed between steps.
const (
	gcLockName = "gc"
	gcLockTTL  = 15 * time.Minute
)

// Run collects once. A dry run changes nothing and takes no lock; it
// reports what a run would remove now.
func (c *Collector) Run(ctx context.Context, dryRun bool) (GCReport, error) {
	start := time.Now()
	rep := GCReport{DryRun: dryRun}
	r := c.cfg.Retention
	st := c.cfg.Store
	if !dryRun {
		ok, err := st.TryLockMaintenance(ctx, gcLockName, c.cfg.Owner, gcLockTTL)
		if err != nil {
			return rep, err
		}
		if !ok {
			rep.Busy = true
			return rep, nil
		}
		defer func() {
			if err := st.UnlockMaintenance(context.WithoutCancel(ctx), gcLockName, c.cfg.Owner); err != nil {
				c.log.Warn("gc: unlock", "err", err)
			}
		}()
	}
	renew := func() error {
		if dryRun {
			return nil
		}
		ok, err := st.TryLockMaintenance(ctx, gcLockName, c.cfg.Owner, gcLockTTL)
		if err == nil && !ok {
			err = errors.New("gc: another process took the lock (this run took longer than its lease); stopping")
		}
		return err
	}

	split, err := st.SplitReleases(ctx, r.Releases)
	if err != nil {
		return rep, err
	}
	rep.ReleaseIDs, rep.KeptReleases = split.Drop, len(split.Keep)
	if dryRun {
		rep.Releases, err = st.CountReleasesToPrune(ctx, split.Drop)
	} else {
		rep.Releases, err = st.PruneReleases(ctx, split.Drop)
	}
	if err != nil {
		return rep, err
	}

	// What the kept releases and unfinished builds name stays stored;
	// unpacked copies stay for what may run now.
	keep, inUse := map[string]bool{}, map[string]bool{}
	for _, rel := range split.Keep {
		m, err := decodeManifest(rel.Manifest)
		if err != nil {
			return rep, fmt.Errorf("gc: release %d: %w", rel.ID, err)
		}
		for _, f := range m.Functions {
			keep[f.Digest] = true
			if split.InUse[rel.ID] {
				inUse[f.Digest] = true
			}
		}
	}
	building, err := st.ArtifactDigestsOfUnfinishedBuilds(ctx)
	if err != nil {
		return rep, err
	}
	for _, d := range building {
		keep[d], inUse[d] = true, true
	}
	if c.cfg.Running != nil {
		for _, d := range c.cfg.Running() {
			keep[d], inUse[d] = true, true
		}
	}
	if err := renew(); err != nil {
		return rep, err
	}
	if c.cfg.Artifacts != nil {
		res, err := c.cfg.Artifacts.GC(ctx, func(d string) bool { return keep[d] }, r.Grace, dryRun)
		if err != nil {
			return rep, err
		}
		rep.Artifacts, rep.ArtifactBytes = res.Removed, res.Bytes
	}
	if c.cfg.PruneUnpacked != nil {
		rep.Unpacked, rep.UnpackedBytes, err = c.cfg.PruneUnpacked(ctx, func(d string) bool { return inUse[d] }, r.Grace, dryRun)
		if err != nil {
			return rep, err
		}
	}
	if err := renew(); err != nil {
		return rep, err
	}
	if r.LogAge > 0 {
		if rep.Logs, err = st.PruneLogsBefore(ctx, time.Now().Add(-r.LogAge), humanAge(r.LogAge), dryRun); err != nil {
			return rep, err
		}
	}
	if rep.Deliveries, err = st.PruneDeliveries(ctx, r.Deliveries, r.RejectedDeliveries, dryRun); err != nil {
		return rep, err
	}
	if !dryRun {
		if err := st.Compact(ctx); err != nil {
			c.log.Warn("gc: compact the database", "err", err)
		}
	}
	rep.Took = time.Since(start)
	return rep, nil
}

// Loop runs a collection every interval until ctx ends, the first one a
// minute after it starts (or after one interval, if shorter), and logs
// what each removed.
func (c *Collector) Loop(ctx context.Context, every time.Duration) {
	first := time.NewTimer(min(time.Minute, every))
	defer first.Stop()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-first.C:
		case <-tick.C:
		}
		rep, err := c.Run(ctx, false)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			c.log.Error("gc failed", "err", err)
		case rep.Busy:
			c.log.Info("gc skipped: another process is collecting")
		default:
			c.log.Info("gc done", rep.LogAttrs()...)
		}
	}
}

// LogAttrs renders the report as log attributes.
func (r GCReport) LogAttrs() []any {
	return []any{"releases", r.Releases.Releases, "kept_releases", r.KeptReleases,
		"artifacts", r.Artifacts, "artifact_bytes", r.ArtifactBytes,
		"unpacked", r.Unpacked, "unpacked_bytes", r.UnpackedBytes,
		"log_lines", r.Releases.LogLines + r.Logs.Lines, "log_bytes", r.Releases.LogBytes + r.Logs.Bytes,
		"deliveries", r.Deliveries, "took", r.Took.Round(time.Millisecond)}
}

// humanAge says a log age the way the pruned-log line shows it.
func humanAge(d time.Duration) string {
	switch day := 24 * time.Hour; {
	case d == day:
		return "1 day"
	case d > day && d%day == 0:
		return fmt.Sprintf("%d days", d/day)
	}
	return d.String()
}
