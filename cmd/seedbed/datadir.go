package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
)

// The data dir holds what must stay Seedbed's: the SQLite database, the
// key that seals stage secrets, every app's artifacts and repositories.
// It is closed to other users (0700), except that when builds run as
// another user, that user may pass through it (0711, no listing) to the
// folders made for it, cache/ (per-app caches and HOMEs) and work/ (the
// folders deploy hooks run in). Everything else in it is closed to
// others.
var (
	// buildUserDirs are the entries of the data dir the build user passes
	// through; what lies in them is either that user's or closed.
	buildUserDirs = []string{"cache", "work"}
	// privateDirs are made closed before anything else makes them open.
	privateDirs = []string{"artifacts", "git", "run", "artifact-cache"}
)

// prepareDataDir makes the data dir (and the folders above) and tightens
// what an earlier version left open: the data dir and cache/ and work/
// get exactly the mode they need (0711 when shared, i.e. when builds run
// as another user, else 0700), and every other entry loses its group and
// other permissions. Each change is logged. With sandboxed functions
// (sandboxed), run/ is the local target's to open to their users (0711):
// closing it here would only be undone, and logged, at every start.
func prepareDataDir(dir string, shared, sandboxed bool, log *slog.Logger) error {
	mode := fs.FileMode(0o700)
	if shared {
		mode = 0o711
	}
	if err := os.MkdirAll(dir, mode); err != nil {
		return fmt.Errorf("make data dir: %w", err)
	}
	if err := setMode(dir, mode, log); err != nil {
		return err
	}
	for _, sub := range buildUserDirs {
		p := filepath.Join(dir, sub)
		if err := os.Mkdir(p, mode); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("make data dir: %w", err)
		}
		if err := setMode(p, mode, log); err != nil {
			return err
		}
	}
	for _, sub := range privateDirs {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("make data dir: %w", err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read data dir: %w", err)
	}
	for _, e := range entries {
		if slices.Contains(buildUserDirs, e.Name()) || (sandboxed && e.Name() == "run") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		fi, err := os.Stat(p)
		if err != nil {
			continue // a dangling link, or gone meanwhile
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			if err := setMode(p, perm&^0o077, log); err != nil {
				return err
			}
		}
	}
	return nil
}

// setMode gives path mode unless it has it already, and logs the change.
// A file of another user that this process may not change is left as it
// is, with a warning.
func setMode(path string, mode fs.FileMode, log *slog.Logger) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	was := fi.Mode().Perm()
	if was == mode {
		return nil
	}
	if err := os.Chmod(path, mode); err != nil {
		if errors.Is(err, fs.ErrPermission) {
			log.Warn("cannot change the permissions of a file in the data dir; other users may read it", "path", path, "mode", fmt.Sprintf("%04o", was), "err", err)
			return nil
		}
		return fmt.Errorf("data dir: %w", err)
	}
	log.Info("changed permissions in the data dir", "path", path, "from", fmt.Sprintf("%04o", was), "to", fmt.Sprintf("%04o", mode))
	return nil
}
