package artifact

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// GCResult tells what GC removed (or, in a dry run, would remove).
type GCResult struct {
	Removed int      // artifacts
	Bytes   int64    // their size
	Digests []string // the removed artifacts, sorted by path
	Kept    int      // artifacts left in place
}

// GC removes the stored artifacts that keep does not hold and that no one
// stored or asked for within grace, and leftovers of interrupted Puts
// older than grace. keep is asked with full digests ("sha256:<hex>").
//
// It is safe beside builds that Put the same bytes at the same time: Put
// refreshes the time of an artifact it finds stored, and GC moves a
// candidate aside before deleting it and puts it back if its time turns
// out to be fresh; a Put that finds it gone meanwhile stores it again.
// Grace must be longer than the longest build, which stores its artifacts
// before its release names them.
func (s *Store) GC(ctx context.Context, keep func(digest string) bool, grace time.Duration, dryRun bool) (GCResult, error) {
	var res GCResult
	cutoff := time.Now().Add(-grace)
	root := filepath.Join(s.dir, "sha256")
	// A GC killed between moving an artifact aside and deleting it left
	// it there: back into place with it, the rules below decide again.
	if aside, _ := filepath.Glob(filepath.Join(s.dir, ".gc-*")); !dryRun {
		for _, p := range aside {
			if h, err := ParseDigest(DigestPrefix + strings.TrimPrefix(filepath.Base(p), ".gc-")); err == nil {
				_ = os.MkdirAll(filepath.Dir(s.path(h)), 0o755)
				_ = os.Rename(p, s.path(h))
			}
		}
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		digest := DigestPrefix + d.Name()
		if _, err := ParseDigest(digest); err != nil || filepath.Base(filepath.Dir(path)) != d.Name()[:2] {
			return nil // not ours
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if keep(digest) || fi.ModTime().After(cutoff) {
			res.Kept++
			return nil
		}
		if !dryRun {
			removed, err := s.removeIfStale(path, cutoff)
			if err != nil {
				return err
			}
			if !removed {
				res.Kept++
				return nil
			}
		}
		res.Removed++
		res.Bytes += fi.Size()
		res.Digests = append(res.Digests, digest)
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("collect artifacts in %s: %w", s.dir, err)
	}
	// A Put killed halfway leaves its temporary file behind.
	tmps, _ := filepath.Glob(filepath.Join(s.dir, ".put-*"))
	for _, tmp := range tmps {
		if fi, err := os.Stat(tmp); err == nil && fi.ModTime().Before(cutoff) && !dryRun {
			_ = os.Remove(tmp)
		}
	}
	// The 256 fan-out folders stay: removing an empty one could race a
	// Put that just made it.
	return res, nil
}

// removeIfStale deletes the artifact at path unless its time became fresh
// (a Put refreshed it) after GC looked. It moves the file aside first, so
// that a Put after the move finds it missing and stores it again, then
// checks the time of what it moved: fresh means a Put refreshed it before
// the move, and it goes back.
func (s *Store) removeIfStale(path string, cutoff time.Time) (bool, error) {
	aside := filepath.Join(s.dir, ".gc-"+filepath.Base(path))
	if err := os.Rename(path, aside); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("collect artifact %s: %w", filepath.Base(path), err)
	}
	fi, err := os.Stat(aside)
	if err != nil {
		return false, fmt.Errorf("collect artifact %s: %w", filepath.Base(path), err)
	}
	if fi.ModTime().After(cutoff) {
		if err := os.Rename(aside, path); err != nil {
			return false, fmt.Errorf("put back artifact %s: %w", filepath.Base(path), err)
		}
		return false, nil
	}
	if err := os.Remove(aside); err != nil {
		return false, fmt.Errorf("collect artifact %s: %w", filepath.Base(path), err)
	}
	return true, nil
}

// refresh marks the stored artifact at path as just used, so that GC
// leaves it for another grace period. It fails when the file is not there
// (any more): the caller then stores it again.
//
// Setting the time looks the path up before it changes the file, and GC
// may move the file aside in between and see its old time; the Stat after
// it tells: if the file is still in place once its time is set, a GC that
// moves it later sees the new time and puts it back.
func refresh(path string) error {
	now := time.Now()
	if err := os.Chtimes(path, now, now); err != nil {
		return err
	}
	_, err := os.Stat(path)
	return err
}
