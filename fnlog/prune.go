package fnlog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// PruneReport says what Prune removed (or would remove, in a dry run).
type PruneReport struct {
	Segments int
	Bytes    int64
}

// quietGrace: the newest segment of a stage (the one being written, if
// its functions run) goes by age only after it was not written for this
// long beyond the age limit. A writer starts a new segment after
// maxSegmentSpan, so it never writes to a segment Prune could remove.
const (
	maxSegmentSpan = time.Hour
	quietGrace     = 2 * maxSegmentSpan
)

// Prune removes the segments every stage's retention does not keep: older
// than r.Age, or beyond r.Bytes per stage, oldest first. It may run in
// another process than the writer's (seedbed gc).
func Prune(ctx context.Context, dir string, r Retention, now time.Time, dryRun bool) (PruneReport, error) {
	var rep PruneReport
	if err := r.Validate(); err != nil {
		return rep, err
	}
	apps, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return rep, nil
	}
	if err != nil {
		return rep, fmt.Errorf("function logs: %w", err)
	}
	for _, app := range apps {
		if !app.IsDir() {
			continue
		}
		stages, err := os.ReadDir(filepath.Join(dir, app.Name()))
		if err != nil {
			return rep, fmt.Errorf("function logs: %w", err)
		}
		for _, st := range stages {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			if !st.IsDir() {
				continue
			}
			sub, err := pruneStage(filepath.Join(dir, app.Name(), st.Name()), r, now, "", dryRun)
			rep.Segments += sub.Segments
			rep.Bytes += sub.Bytes
			if err != nil {
				return rep, err
			}
		}
		if !dryRun {
			_ = os.Remove(filepath.Join(dir, app.Name())) // only if empty
		}
	}
	return rep, nil
}

// Prune applies the store's own retention now.
func (s *Store) Prune(ctx context.Context, dryRun bool) (PruneReport, error) {
	return Prune(ctx, s.opt.Dir, s.opt.Retention, time.Now(), dryRun)
}

// pruneStage applies r to one stage's folder. active names a segment that
// must stay whatever r says (the one this process writes).
func pruneStage(dir string, r Retention, now time.Time, active string, dryRun bool) (PruneReport, error) {
	var rep PruneReport
	segs, err := listSegments(dir)
	if err != nil || len(segs) == 0 {
		return rep, err
	}
	remove := make([]bool, len(segs))
	if r.Age > 0 {
		cut := now.Add(-r.Age).UnixMicro()
		for i := range segs {
			if i+1 < len(segs) {
				remove[i] = segs[i+1].start < cut // its newest line is older than the next start
			} else {
				remove[i] = segs[i].mod.Before(now.Add(-r.Age - quietGrace))
			}
		}
	}
	if r.Bytes > 0 {
		var total int64
		for i := len(segs) - 1; i >= 0; i-- {
			total += segs[i].size
			if total > r.Bytes && i < len(segs)-1 {
				remove[i] = true
			}
		}
	}
	for i, sg := range segs {
		if !remove[i] || sg.name == active {
			continue
		}
		rep.Segments++
		rep.Bytes += sg.size
		if dryRun {
			continue
		}
		if err := os.Remove(filepath.Join(dir, sg.name+".log")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return rep, fmt.Errorf("function logs: %w", err)
		}
		if err := os.Remove(filepath.Join(dir, sg.name+".src")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return rep, fmt.Errorf("function logs: %w", err)
		}
		for _, ext := range []string{".idx", ".idx.tmp"} { // derived: the index, one left half-written
			if err := os.Remove(filepath.Join(dir, sg.name+ext)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return rep, fmt.Errorf("function logs: %w", err)
			}
		}
	}
	if !dryRun {
		_ = os.Remove(dir) // only if it is empty now
	}
	return rep, nil
}
