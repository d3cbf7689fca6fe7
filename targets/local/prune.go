package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// PruneResult tells what PruneUnpacked removed (or, in a dry run, would).
type PruneResult struct {
	Removed int      // unpacked copies
	Bytes   int64    // the size of their files
	Digests []string // their artifacts
	Kept    int
}

// PruneUnpacked removes the unpacked copies of artifacts under
// dir/artifacts (dir is a Target's Config.Dir; it need not be running in
// this process) whose digest keep does not hold and that no Target
// unpacked or reused within grace. An unpacked copy is only a cache of the
// artifact store: a Target unpacks it again when a deploy needs it.
//
// Callers keep every digest a running function may use: the releases live
// on stages, those of deploys in progress, and a running Target's own
// (RunningDigests). Beyond that, a Target refreshes a copy's time each
// time it uses one, and PruneUnpacked moves a candidate aside before
// deleting it and puts it back if its time turns out to be fresh, so a
// deploy that starts using a copy at the same moment keeps it.
func PruneUnpacked(ctx context.Context, dir string, keep func(digest string) bool, grace time.Duration, dryRun bool) (PruneResult, error) {
	var res PruneResult
	root := filepath.Join(dir, "artifacts")
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("prune unpacked artifacts: %w", err)
	}
	cutoff := time.Now().Add(-grace)
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		name := e.Name()
		path := filepath.Join(root, name)
		if strings.HasPrefix(name, ".gc-") && !dryRun {
			// Left by a prune that was stopped halfway.
			_ = removeTree(path)
			continue
		}
		if !e.IsDir() {
			continue
		}
		// A sandboxed function's copy is "<hex>-u<uid>", one per app user.
		hex, err := artifactHex("sha256:" + unpackedHex(name))
		if err != nil {
			continue // .unpack-* in progress, or not ours
		}
		digest := "sha256:" + hex
		fi, err := e.Info()
		if err != nil {
			continue
		}
		if keep(digest) || fi.ModTime().After(cutoff) {
			res.Kept++
			continue
		}
		size := treeSize(path)
		if !dryRun {
			removed, err := pruneIfStale(path, cutoff)
			if err != nil {
				return res, err
			}
			if !removed {
				res.Kept++
				continue
			}
		}
		res.Removed++
		res.Bytes += size
		res.Digests = append(res.Digests, digest)
	}
	return res, nil
}

// pruneIfStale removes the unpacked copy at path unless a Target used it
// (refreshed its time) since the caller looked: it moves the copy aside,
// so that a Target that looks for it afterwards unpacks it again, then
// checks the time of what it moved and puts it back if it is fresh.
func pruneIfStale(path string, cutoff time.Time) (bool, error) {
	aside := filepath.Join(filepath.Dir(path), ".gc-"+filepath.Base(path))
	if err := os.Rename(path, aside); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("prune unpacked artifact %s: %w", filepath.Base(path), err)
	}
	fi, err := os.Stat(aside)
	if err != nil {
		return false, fmt.Errorf("prune unpacked artifact %s: %w", filepath.Base(path), err)
	}
	if fi.ModTime().After(cutoff) {
		if err := os.Rename(aside, path); err != nil {
			// Unpacked again meanwhile: that copy serves.
			_ = removeTree(aside)
		}
		return false, nil
	}
	if err := removeTree(aside); err != nil {
		return false, fmt.Errorf("prune unpacked artifact %s: %w", filepath.Base(path), err)
	}
	return true, nil
}

// reuseUnpacked says whether the unpacked copy at path is there to use,
// and marks it as just used so that PruneUnpacked leaves it. Setting the
// time looks the path up before changing the folder, and a prune may move
// it aside in between; the Stat after it tells, as the prune then sees
// the new time and puts it back.
func reuseUnpacked(path string) bool {
	now := time.Now()
	if err := os.Chtimes(path, now, now); err != nil {
		return false
	}
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// RunningDigests lists the artifacts the functions of every stage use
// now, sorted: a prune in this process keeps their unpacked copies.
func (t *Target) RunningDigests() []string {
	t.mu.Lock()
	stages := make([]*stageState, 0, len(t.stages))
	for _, st := range t.stages {
		stages = append(stages, st)
	}
	t.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, st := range stages {
		table := st.table.Load()
		if table == nil {
			continue
		}
		for _, fn := range table.Functions() {
			if !seen[fn.Digest] {
				seen[fn.Digest] = true
				out = append(out, fn.Digest)
			}
		}
	}
	sort.Strings(out)
	return out
}

// unpackedHex is the digest's hex part of an unpacked copy's folder name:
// the name itself, or without the "-u<uid>" of a copy made for one app's
// user.
func unpackedHex(name string) string {
	hex, uid, ok := strings.Cut(name, "-u")
	if !ok || uid == "" || strings.Trim(uid, "0123456789") != "" {
		return name
	}
	return hex
}

// treeSize adds up the sizes of the files under dir.
func treeSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// removeTree removes dir and everything in it, making read-only folders
// writable first where that is what stops it.
func removeTree(dir string) error {
	if err := os.RemoveAll(dir); err == nil {
		return nil
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}
