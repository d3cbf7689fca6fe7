package artifact

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Pack writes a gzip'd tar of paths (files or folders, relative to srcDir;
// "." for all of it) to w. The output depends only on the names, contents,
// executable bits and symlink targets of the files: entries are sorted,
// times, owners and the gzip header are zeroed, and modes are normalised
// to 0755 (folders and executables) or 0644, since the umask of whoever
// checked out the repository should not change a digest.
//
// Symlinks are kept as symlinks and must point inside srcDir; other special
// files (sockets, devices) are refused.
//
// Every file is read through an os.Root: srcDir may belong to a build's
// unprivileged user, whose processes could turn a file into a symlink
// while it is packed, and nothing outside srcDir may end up inside.
func Pack(w io.Writer, srcDir string, paths []string) error {
	r, err := os.OpenRoot(srcDir)
	if err != nil {
		return fmt.Errorf("pack %s: %w", srcDir, err)
	}
	defer r.Close()
	return PackRoot(w, r, paths)
}

// PackRoot is Pack of the folder r is open on: for a caller that opened
// it through a root of its own, so that no symlink on the way to the
// folder can lead elsewhere either.
func PackRoot(w io.Writer, r *os.Root, paths []string) error {
	srcDir := r.Name()
	entries := map[string]fs.FileInfo{}
	for _, p := range paths {
		rel := filepath.Clean(filepath.FromSlash(p))
		if !filepath.IsLocal(rel) && rel != "." {
			return fmt.Errorf("pack %s: %q is not inside the folder", srcDir, p)
		}
		if err := collect(r, rel, entries); err != nil {
			return fmt.Errorf("pack %s: %w", srcDir, err)
		}
	}
	names := make([]string, 0, len(entries))
	for name := range entries {
		names = append(names, name)
	}
	slices.Sort(names)

	// BestSpeed: packaging sits on the path from push to live, and a
	// function binary compresses only a little better at higher levels.
	zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return fmt.Errorf("pack %s: %w", srcDir, err)
	}
	tw := tar.NewWriter(zw)
	for _, name := range names {
		if err := writeEntry(tw, r, name, entries[name]); err != nil {
			return fmt.Errorf("pack %s: %w", srcDir, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("pack %s: %w", srcDir, err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("pack %s: %w", srcDir, err)
	}
	return nil
}

// collect adds rel (and, for a folder, everything below it) to entries,
// keyed by slash-separated name relative to root.
func collect(root *os.Root, rel string, entries map[string]fs.FileInfo) error {
	fi, err := root.Lstat(rel)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		entries[filepath.ToSlash(rel)] = fi
		return nil
	}
	return fs.WalkDir(root.FS(), filepath.ToSlash(rel), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		entries[p] = info
		return nil
	})
}

func writeEntry(tw *tar.Writer, root *os.Root, name string, fi fs.FileInfo) error {
	hdr := &tar.Header{Name: name, ModTime: time.Unix(0, 0), Mode: 0o644}
	full := filepath.FromSlash(name)
	switch mode := fi.Mode(); {
	case mode.IsDir():
		hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, name+"/", 0o755
	case mode.IsRegular():
		hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
		if mode.Perm()&0o111 != 0 {
			hdr.Mode = 0o755
		}
	case mode&fs.ModeSymlink != 0:
		target, err := root.Readlink(full)
		if err != nil {
			return err
		}
		if !linkInside(name, target) {
			return fmt.Errorf("symlink %s points outside the folder (to %s); make it relative and inside, or copy the file", name, target)
		}
		hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, target, 0o777
	default:
		return fmt.Errorf("%s is a %s; only files, folders and symlinks can be packaged", name, mode.Type())
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if hdr.Typeflag != tar.TypeReg {
		return nil
	}
	f, err := root.Open(full)
	if err != nil {
		return err
	}
	defer f.Close()
	// Copying exactly Size bytes makes a file that changed under us an
	// error instead of a corrupt archive.
	if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
		return fmt.Errorf("%s: %w (did it change while being packaged?)", name, err)
	}
	return nil
}

// linkInside says whether a symlink at name (slash-separated, relative to
// the archive root) with the given target stays inside the root when read
// lexically.
func linkInside(name, target string) bool {
	if target == "" || path.IsAbs(target) || filepath.IsAbs(target) {
		return false
	}
	return filepath.IsLocal(path.Join(path.Dir(name), target)) || path.Join(path.Dir(name), target) == "."
}

// Extract unpacks the artifact digest (a gzip'd tar as Pack writes) into
// destDir, restoring file modes. It refuses entries with absolute paths or
// "..", entries inside a symlink, symlinks that lead outside destDir, and
// special files, naming the entry. destDir must not exist or be empty of
// the archive's names; if Extract created it and then fails, it removes it.
func (s *Store) Extract(ctx context.Context, digest, destDir string) (err error) {
	rc, err := s.Open(digest)
	if err != nil {
		return err
	}
	defer rc.Close()
	root, err := filepath.Abs(destDir)
	if err != nil {
		return fmt.Errorf("extract artifact %s: %w", digest, err)
	}
	switch fi, statErr := os.Stat(root); {
	case errors.Is(statErr, fs.ErrNotExist):
		if err := os.MkdirAll(root, 0o755); err != nil {
			return fmt.Errorf("extract artifact %s: %w", digest, err)
		}
		defer func() {
			if err != nil {
				os.RemoveAll(root)
			}
		}()
	case statErr != nil:
		return fmt.Errorf("extract artifact %s: %w", digest, statErr)
	case !fi.IsDir():
		return fmt.Errorf("extract artifact %s: %s is not a folder", digest, root)
	}
	// The bytes are checked against the digest as they are unpacked: a
	// file changed on disk (or in a bucket) after it was stored must not
	// run. The files written before the end is reached are removed with
	// root when Extract made it, and by the caller otherwise.
	sum := sha256.New()
	r := io.TeeReader(rc, sum)
	exErr := extract(ctx, r, root)
	if exErr == nil || !errors.Is(exErr, ctx.Err()) {
		// tar stops at its end marker: the rest counts too.
		if _, err := io.Copy(io.Discard, r); err != nil && exErr == nil {
			return fmt.Errorf("extract artifact %s: read %s: %w", digest, s.Location(), err)
		}
		if got := DigestPrefix + hex.EncodeToString(sum.Sum(nil)); got != digest {
			return fmt.Errorf("extract artifact %s from %s: %w", digest, s.Location(), mismatch(digest, got))
		}
	}
	if exErr != nil {
		return fmt.Errorf("extract artifact %s into %s: %w", digest, root, exErr)
	}
	return nil
}

func extract(ctx context.Context, r io.Reader, root string) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("not a gzip'd tar: %w", err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	type dirMode struct {
		path string
		mode fs.FileMode
	}
	var dirs []dirMode
	var links []string
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		rel, err := entryPath(hdr.Name)
		if err != nil {
			return err
		}
		if rel == "." {
			continue
		}
		if err := noSymlinkParents(root, rel); err != nil {
			return err
		}
		target := filepath.Join(root, rel)
		perm := fs.FileMode(hdr.Mode).Perm()
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			// Applied at the end: a read-only folder must still be
			// written into while extracting.
			dirs = append(dirs, dirMode{target, perm})
		case tar.TypeReg:
			if err := writeFile(tr, target, perm); err != nil {
				return fmt.Errorf("entry %q: %w", hdr.Name, err)
			}
		case tar.TypeSymlink:
			if !linkInside(filepath.ToSlash(rel), hdr.Linkname) {
				return fmt.Errorf("entry %q is a symlink to %q, outside the destination; refusing it", hdr.Name, hdr.Linkname)
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				return fmt.Errorf("entry %q: %w", hdr.Name, err)
			}
			links = append(links, rel)
		default:
			return fmt.Errorf("entry %q has type %q; only files, folders and symlinks are allowed", hdr.Name, string(hdr.Typeflag))
		}
	}
	// Each symlink was checked on its own; together (a link through
	// another link) they could still lead out, so follow them for real.
	for _, l := range links {
		if err := staysInside(root, l); err != nil {
			return err
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chmod(dirs[i].path, dirs[i].mode); err != nil {
			return err
		}
	}
	return nil
}

// entryPath turns a tar entry name into a clean relative OS path, refusing
// anything that is absolute or climbs with "..".
func entryPath(name string) (string, error) {
	if name == "" || path.IsAbs(name) || filepath.IsAbs(name) || strings.HasPrefix(name, `\`) {
		return "", fmt.Errorf("entry %q has an absolute path; refusing it", name)
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == ".." {
			return "", fmt.Errorf("entry %q climbs out with \"..\"; refusing it", name)
		}
	}
	rel := filepath.Clean(filepath.FromSlash(name))
	if rel != "." && !filepath.IsLocal(rel) {
		return "", fmt.Errorf("entry %q is not a plain relative path; refusing it", name)
	}
	return rel, nil
}

// noSymlinkParents refuses to write rel if one of its parent folders under
// root is a symlink: writing through it could land anywhere.
func noSymlinkParents(root, rel string) error {
	parts := strings.Split(rel, string(filepath.Separator))
	cur := root
	for _, p := range parts[:len(parts)-1] {
		cur = filepath.Join(cur, p)
		fi, err := os.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("entry %q lies inside symlink %q; refusing to write through it", filepath.ToSlash(rel), filepath.ToSlash(strings.TrimPrefix(cur, root+string(filepath.Separator))))
		}
	}
	return nil
}

func writeFile(r io.Reader, target string, perm fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	// O_EXCL: never replace (or write through) something already there.
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm|0o200)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// staysInside follows the symlink at rel (relative to root) the way the
// kernel would, link by link, and fails if that leads outside root.
func staysInside(root, rel string) error {
	todo := strings.Split(filepath.ToSlash(rel), "/")
	var cur []string
	hops := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(cur) == 0 {
				return fmt.Errorf("symlink %q leads outside the destination (through other symlinks); refusing it", filepath.ToSlash(rel))
			}
			cur = cur[:len(cur)-1]
			continue
		}
		cur = append(cur, c)
		fi, err := os.Lstat(filepath.Join(root, filepath.Join(cur...)))
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			// Missing components are followed lexically; a dangling
			// link inside the destination is harmless.
			continue
		}
		if hops++; hops > 255 {
			return fmt.Errorf("symlink %q: too many levels of symlinks", filepath.ToSlash(rel))
		}
		target, err := os.Readlink(filepath.Join(root, filepath.Join(cur...)))
		if err != nil {
			return err
		}
		if path.IsAbs(target) || filepath.IsAbs(target) {
			return fmt.Errorf("symlink %q leads to an absolute path; refusing it", filepath.ToSlash(rel))
		}
		cur = cur[:len(cur)-1]
		todo = append(strings.Split(target, "/"), todo...)
	}
	return nil
}
