package builders

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// giveTree makes uid:gid own dir and everything in it. A folder changes
// owner after everything in it, so that the user cannot touch a folder's
// entries before they are all done; and every change goes through an
// os.Root, so that a symlink the user made (a tree may already be partly
// theirs) cannot lead a change outside dir. Symlinks themselves change
// owner, never what they point to. Entries that vanish meanwhile (a
// concurrent build cleaning its cache) are skipped.
func giveTree(dir string, uid, gid int) error {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("give %s to uid %d: %w", dir, uid, err)
	}
	defer r.Close()
	var paths []string
	err = fs.WalkDir(r.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		return fmt.Errorf("give %s to uid %d: %w", dir, uid, err)
	}
	for i := len(paths) - 1; i >= 0; i-- {
		if err := r.Lchown(paths[i], uid, gid); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("give %s to uid %d: %w", dir, uid, err)
		}
	}
	return nil
}

// userDir makes dir a folder of u's, for a cache or a HOME:
// missing parents are made Seedbed's, open to pass through (0711), and
// dir itself 0700, the user's. A dir that exists with another owner (a
// cache made before builds ran as this user) is given to the user with
// everything in it, and the log says so.
func userDir(dir string, u *User, log Log) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o711); err != nil {
		return fmt.Errorf("make %s: %w", dir, err)
	}
	err := os.Mkdir(dir, 0o700)
	if err == nil {
		if err := os.Lchown(dir, u.UID, u.GID); err != nil {
			return fmt.Errorf("give %s to %s: %w", dir, u, err)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("make %s: %w", dir, err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("make %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a folder; remove it so that builds can keep their cache there", dir)
	}
	uid, gid, ok := ownerOf(fi)
	if !ok || (uid == u.UID && gid == u.GID) {
		return nil
	}
	log.Line("seedbed", fmt.Sprintf("Giving %s to %s: it was made by uid %d (before builds ran as this user)", dir, u, uid))
	return giveTree(dir, u.UID, u.GID)
}
