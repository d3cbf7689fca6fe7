package builders

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Workspaces, checkouts and the folders deploy hooks run in live in a
// scratch folder of this process's own under WorkDir,
// WorkDir/seedbed.scratch-<random>, which the process holds locked (flock) for
// as long as it runs. A process killed with -9 leaves its scratch folder
// behind, unlocked: RemoveStale, at the next start, removes every
// scratch folder no running process holds, and leaves those of other
// Seedbed processes sharing WorkDir alone. The lock, not a pid, says who
// owns a folder, so a reused pid cannot keep a stale folder alive, and
// the kernel drops it whatever way the process ends.
const scratchPrefix = "seedbed.scratch-"

// scratchNewPrefix names a scratch folder before its owner holds its
// lock; it is renamed to scratchPrefix… once locked, so that RemoveStale
// never takes a folder that is being made for one that was left.
const scratchNewPrefix = ".new.seedbed.scratch-"

// newScratchGrace is how long a scratch folder may stay unlocked while
// it is being made.
const newScratchGrace = time.Minute

// errLocked is lockFile's answer when another process holds the lock.
var errLocked = errors.New("locked by another process")

// olderThan says whether fi was last modified more than d ago.
func olderThan(fi fs.FileInfo, d time.Duration) bool {
	return time.Since(fi.ModTime()) > d
}

// scratch is this process's scratch folder, made on first use.
type scratch struct {
	once sync.Once
	dir  string
	lock *os.File // open, flock'd; closing it releases the folder
	err  error
}

// scratchDir returns this process's scratch folder under WorkDir,
// making and locking it the first time.
func (b *Builder) scratchDir() (string, error) {
	s := b.scratch
	s.once.Do(func() {
		s.dir, s.lock, s.err = claimScratch(b.cfg.WorkDir)
	})
	return s.dir, s.err
}

// claimScratch makes a scratch folder in workDir and locks it.
func claimScratch(workDir string) (string, *os.File, error) {
	if err := os.MkdirAll(workDir, 0o711); err != nil {
		return "", nil, fmt.Errorf("make work dir: %w", err)
	}
	tmp, err := os.MkdirTemp(workDir, scratchNewPrefix)
	if err != nil {
		return "", nil, fmt.Errorf("make scratch folder: %w", err)
	}
	// Others may pass through to the workspaces handed to them; the
	// folder itself stays Seedbed's, and unlistable.
	if err := os.Chmod(tmp, 0o711); err != nil {
		os.Remove(tmp)
		return "", nil, fmt.Errorf("make scratch folder: %w", err)
	}
	f, err := os.Open(tmp)
	if err != nil {
		os.Remove(tmp)
		return "", nil, fmt.Errorf("make scratch folder: %w", err)
	}
	if err := lockFile(f, true); err != nil {
		f.Close()
		os.Remove(tmp)
		return "", nil, fmt.Errorf("lock scratch folder %s: %w", tmp, err)
	}
	dir := filepath.Join(workDir, scratchPrefix+strings.TrimPrefix(filepath.Base(tmp), scratchNewPrefix))
	if err := os.Rename(tmp, dir); err != nil {
		f.Close()
		os.Remove(tmp)
		return "", nil, fmt.Errorf("make scratch folder: %w", err)
	}
	return dir, f, nil
}

// TempDir makes a new folder for one build or hook run in this process's
// scratch folder (see RemoveStale), named prefix followed by random
// characters, closed to others (0700). The caller removes it; if the
// process dies first, RemoveStale does at the next start.
func (b *Builder) TempDir(prefix string) (string, error) {
	dir, err := b.scratchDir()
	if err != nil {
		return "", err
	}
	return os.MkdirTemp(dir, prefix)
}

// RemoveStale removes the scratch folders in WorkDir that no running
// process holds: those of a Seedbed that was killed (kill -9, a crash, a
// power cut) in the middle of a build. It returns the folders it
// removed. Call it at start; the scratch folders of other Seedbed
// processes sharing WorkDir, and this process's own, are left alone.
func (b *Builder) RemoveStale() ([]string, error) {
	entries, err := os.ReadDir(b.cfg.WorkDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look for stale workspaces: %w", err)
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || !(strings.HasPrefix(name, scratchPrefix) || strings.HasPrefix(name, scratchNewPrefix)) {
			continue
		}
		p := filepath.Join(b.cfg.WorkDir, name)
		gone, err := removeIfUnlocked(p)
		if err != nil {
			errs = append(errs, err)
		}
		if gone {
			removed = append(removed, p)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("remove stale workspaces: %w", err)
	}
	return removed, nil
}

// removeIfUnlocked removes the scratch folder dir when no process holds
// its lock, and says whether it did.
func removeIfUnlocked(dir string) (bool, error) {
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	if err := lockFile(f, false); err != nil {
		if errors.Is(err, errLocked) {
			return false, nil // a running process's
		}
		return false, fmt.Errorf("lock %s: %w", dir, err)
	}
	if strings.HasPrefix(filepath.Base(dir), scratchNewPrefix) {
		// Locked by nobody, but perhaps made a moment ago by a process
		// about to lock it: only one older than that is stale.
		if fi, err := f.Stat(); err != nil || !olderThan(fi, newScratchGrace) {
			return false, nil
		}
	}
	if err := removeAll(dir); err != nil {
		return false, err
	}
	return true, nil
}

// Close releases this process's scratch folder and removes it with
// whatever is left in it.
func (b *Builder) Close() error {
	s := b.scratch
	s.once.Do(func() { s.err = errors.New("builder closed") })
	if s.lock == nil {
		return nil
	}
	err := removeAll(s.dir)
	s.lock.Close()
	s.lock = nil
	return err
}
