package buildcache

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/seedbed/seedbed/bytesize"
)

// A snapshot is a zstd-compressed tar. Its first entry is headerName, a
// JSON header saying what it is of; then come the folder's folders and
// regular files, parents before children, with their modes and times.

// headerName is the snapshot's first entry; it is not written to disk.
const headerName = ".seedbed-cache.json"

// formatVersion is the snapshot format Save writes and Restore reads.
const formatVersion = 1

// header is what a snapshot says of itself.
type header struct {
	Format    int    `json:"format"`
	App       string `json:"app"`
	AppID     uint   `json:"app_id,omitempty"`
	Toolchain string `json:"toolchain"`
	Saved     string `json:"saved"`
	Host      string `json:"host,omitempty"`
}

// maxHeaderSize bounds the header entry.
const maxHeaderSize = 64 << 10

// maxNameLen bounds an entry's path (Linux's PATH_MAX).
const maxNameLen = 4096

// entry is a folder or a regular file of a cache folder.
type entry struct {
	name  string // slash-separated, relative to the folder
	dir   bool
	size  int64
	mode  fs.FileMode // permission bits
	mtime time.Time
}

// entryList is a folder's entries, parents before children; a symlink or
// special file is an entry with an empty name, left out of snapshots.
type entryList []entry

// count returns the regular files, their bytes, and the entries left out.
func (l entryList) count() (files int, bytes int64, left int) {
	for _, e := range l {
		switch {
		case e.name == "":
			left++
		case !e.dir:
			files++
			bytes += e.size
		}
	}
	return files, bytes, left
}

// manifestTime is how finely a manifest tells files' times apart. Go
// rewrites an index entry of its build cache at every build with
// DefaultGoBuild, with the same size and a new time, and marks entries it
// uses by their times (hourly): counted to the second, every Go build
// would upload its whole cache again. Counted by the day, times travel
// to other machines once a day; a file rewritten with the same size and
// mode within the day counts as unchanged (the caches shared are
// content-addressed, so it holds the same bytes or the same meaning).
const manifestTime = 24 * time.Hour

// scanFolder walks dir without following symlinks and returns a manifest
// (a digest of every entry's path, kind, size, mode and day; see
// manifestTime) and its
// entries; a symlink or special file is listed with an empty name, to be
// left out. A missing dir has an empty manifest.
func scanFolder(dir string) (string, entryList, error) {
	h := sha256.New()
	root, err := os.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return hex.EncodeToString(h.Sum(nil)), nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	defer root.Close()
	var list entryList
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed meanwhile
		}
		if err != nil {
			return err
		}
		m := fi.Mode()
		switch {
		case m.IsDir():
			list = append(list, entry{name: p, dir: true, mode: m.Perm()})
			fmt.Fprintf(h, "d %q %o\n", p, m.Perm())
		case m.IsRegular():
			list = append(list, entry{name: p, size: fi.Size(), mode: m.Perm(), mtime: fi.ModTime()})
			fmt.Fprintf(h, "f %q %o %d %d\n", p, m.Perm(), fi.Size(), fi.ModTime().UTC().Truncate(manifestTime).Unix())
		default:
			list = append(list, entry{})
			fmt.Fprintf(h, "x %q\n", p)
		}
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	return hex.EncodeToString(h.Sum(nil)), list, nil
}

// pack writes the snapshot of key made of the entries of dir to w. Each
// file is opened through an os.Root on dir, without blocking (a file a
// build swapped for a pipe is refused, not waited on), and must still be
// a regular file of the size listed.
func pack(ctx context.Context, w io.Writer, dir string, key Key, list entryList) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(2))
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	host, _ := os.Hostname()
	hdr, err := json.Marshal(header{Format: formatVersion, App: key.App, AppID: key.AppID, Toolchain: key.Toolchain,
		Saved: time.Now().UTC().Format(time.RFC3339), Host: host})
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: headerName, Mode: 0o600, Size: int64(len(hdr)), ModTime: time.Now()}); err != nil {
		return err
	}
	if _, err := tw.Write(hdr); err != nil {
		return err
	}
	for _, e := range list {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch {
		case e.name == "":
			continue
		case e.dir:
			err = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: e.name + "/", Mode: int64(e.mode)})
		default:
			err = packFile(tw, root, e)
		}
		if err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// packFile writes the file e of root to tw.
func packFile(tw *tar.Writer, root *os.Root, e entry) error {
	f, err := root.OpenFile(e.name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Size() != e.size {
		return fmt.Errorf("%s changed while it was saved", e.name)
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: int64(e.mode), Size: e.size, ModTime: e.mtime}); err != nil {
		return err
	}
	if _, err := io.CopyN(tw, f, e.size); err != nil {
		return fmt.Errorf("%s changed while it was saved: %w", e.name, err)
	}
	return nil
}

// limits bound what a snapshot may unpack to.
type limits struct {
	bytes   int64 // of files
	entries int
}

// stats count what unpacking did.
type stats struct {
	files   int   // written
	bytes   int64 // of the files written
	kept    int   // files the folder had already
	skipped int   // entries a symlink or file on their path kept out
}

// unpackFile unpacks the snapshot in file into dir for key: first it
// reads all of it and refuses it (wrapping ErrRefused) unless every entry
// is allowed, then it writes it.
func unpackFile(ctx context.Context, file, dir string, key Key, owner *Owner, lim limits) (stats, error) {
	if err := readSnapshot(ctx, file, key, lim, nil); err != nil {
		return stats{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return stats{}, err
	}
	if err := checkFolder(dir); err != nil {
		return stats{}, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return stats{}, err
	}
	defer root.Close()
	u := &unpacker{root: root, owner: owner, dirs: map[string]bool{}}
	if err := readSnapshot(ctx, file, key, lim, u.entry); err != nil {
		return u.st, err
	}
	return u.st, nil
}

// refuse is the error for a snapshot entry that is not allowed.
func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, args...))
}

// readSnapshot reads the snapshot in file, checking its header against
// key and every entry against the rules of the package comment and lim,
// and hands each entry (with its bytes for a file) to fn when fn is not
// nil. It stops when ctx is done.
func readSnapshot(ctx context.Context, file string, key Key, lim limits, fn func(h *tar.Header, r io.Reader) error) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(256<<20), zstd.WithDecoderMaxWindow(64<<20))
	if err != nil {
		return err
	}
	defer zr.Close()
	// Headers and padding take at most a few KiB an entry: more than
	// that is a bomb of its own.
	budget := lim.bytes + int64(lim.entries)*4096 + 1<<20
	tr := tar.NewReader(&boundedReader{r: zr, left: budget})
	seen := map[string]bool{} // name → is a folder
	var total int64
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if n == 0 {
				return refuse("the snapshot is empty")
			}
			return nil
		}
		if errors.Is(err, errTooLarge) {
			return refuse("it unpacks to more than %s", bytesize.Format(budget))
		}
		if err != nil {
			return refuse("it is not a zstd-compressed tar: %v", err)
		}
		if n == 0 {
			if err := checkHeader(h, tr, key); err != nil {
				return err
			}
			continue
		}
		if n > lim.entries {
			return refuse("it has more than %d entries", lim.entries)
		}
		name, err := checkEntry(h, seen)
		if err != nil {
			return err
		}
		total += h.Size
		if total > lim.bytes {
			return refuse("its files hold more than %s (--build-cache-max)", bytesize.Format(lim.bytes))
		}
		if fn != nil {
			h.Name = name
			if err := fn(h, tr); err != nil {
				if errors.Is(err, errTooLarge) {
					return refuse("it unpacks to more than %s", bytesize.Format(budget))
				}
				return err
			}
		}
	}
}

// checkHeader reads the snapshot's header entry and refuses a snapshot
// that is not key's.
func checkHeader(h *tar.Header, r io.Reader, key Key) error {
	if h.Name != headerName || h.Typeflag != tar.TypeReg || h.Size > maxHeaderSize {
		return refuse("it does not start with a Seedbed snapshot header (%s)", headerName)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return refuse("its header: %v", err)
	}
	var hd header
	if err := json.Unmarshal(b, &hd); err != nil {
		return refuse("its header is not valid JSON: %v", err)
	}
	if hd.Format != formatVersion {
		return refuse("its format is %d; this Seedbed reads format %d (the next build saves a new one)", hd.Format, formatVersion)
	}
	if hd.App != key.App || hd.Toolchain != key.Toolchain {
		return refuse("it is the %s cache of app %q, not the %s cache of app %q", hd.Toolchain, hd.App, key.Toolchain, key.App)
	}
	if hd.AppID != 0 && key.AppID != 0 && hd.AppID != key.AppID {
		return refuse("it was saved by an earlier app named %q (id %d; this one is id %d), since removed (the next build saves a new one)", hd.App, hd.AppID, key.AppID)
	}
	return nil
}

// checkEntry refuses an entry that is not a folder or a regular file
// with a clean relative path named once, beneath folders only, and
// returns its path without a trailing slash.
func checkEntry(h *tar.Header, seen map[string]bool) (string, error) {
	name := h.Name
	if h.Typeflag == tar.TypeDir {
		name = strings.TrimSuffix(name, "/")
	}
	if len(name) > maxNameLen || name == "." || !fs.ValidPath(name) || strings.ContainsAny(name, "\x00\\") {
		return "", refuse("entry %q is not a clean path inside the cache folder", h.Name)
	}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeDir:
	case tar.TypeSymlink:
		return "", refuse("entry %q is a symlink (to %q); snapshots hold only files and folders", h.Name, h.Linkname)
	case tar.TypeLink:
		return "", refuse("entry %q is a hard link (to %q); snapshots hold only files and folders", h.Name, h.Linkname)
	case tar.TypeChar, tar.TypeBlock:
		return "", refuse("entry %q is a device; snapshots hold only files and folders", h.Name)
	case tar.TypeFifo:
		return "", refuse("entry %q is a named pipe; snapshots hold only files and folders", h.Name)
	default:
		return "", refuse("entry %q is of tar type %q; snapshots hold only files and folders", h.Name, string(h.Typeflag))
	}
	if h.Size < 0 || (h.Typeflag == tar.TypeDir && h.Size != 0) {
		return "", refuse("entry %q has size %d", h.Name, h.Size)
	}
	if _, dup := seen[name]; dup || name == headerName {
		return "", refuse("entry %q comes twice", h.Name)
	}
	for p := path.Dir(name); p != "."; p = path.Dir(p) {
		if isDir, ok := seen[p]; ok && !isDir {
			return "", refuse("entry %q lies beneath the file %q", h.Name, p)
		}
	}
	seen[name] = h.Typeflag == tar.TypeDir
	return name, nil
}

// unpacker writes a checked snapshot's entries into root.
type unpacker struct {
	root  *os.Root
	owner *Owner
	dirs  map[string]bool // folders known to be real folders (true) or in the way (false)
	st    stats
}

// fileMode is what a restored file or folder may be: no setuid, setgid
// or sticky bit, nothing writable by others; folders always the owner's
// to add to.
func fileMode(m int64, dir bool) fs.FileMode {
	perm := fs.FileMode(m) & 0o755
	if dir {
		perm |= 0o700
	}
	return perm
}

// entry writes one entry.
func (u *unpacker) entry(h *tar.Header, r io.Reader) error {
	if !u.parents(h.Name) {
		u.st.skipped++
		return nil
	}
	if h.Typeflag == tar.TypeDir {
		if !u.folder(h.Name, fileMode(h.Mode, true)) {
			u.st.skipped++
		}
		return nil
	}
	if _, err := u.root.Lstat(h.Name); err == nil {
		u.st.kept++ // whatever it is, it stays: never replaced, never followed
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	tmp := path.Join(path.Dir(h.Name), ".seedbed-restore-"+rand.Text())
	f, err := u.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.CopyN(f, r, h.Size)
	if err == nil {
		err = f.Chmod(fileMode(h.Mode, false))
	}
	if err == nil && u.owner != nil {
		err = f.Chown(u.owner.UID, u.owner.GID)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && !h.ModTime.IsZero() {
		err = u.root.Chtimes(tmp, h.ModTime, h.ModTime)
	}
	if err == nil {
		// Rename never follows a symlink at the new name: if one
		// appeared meanwhile, it is replaced, not written through.
		err = u.root.Rename(tmp, h.Name)
	}
	if err != nil {
		u.root.Remove(tmp) //nolint:errcheck // best effort
		if _, serr := u.root.Lstat(h.Name); serr == nil {
			u.st.kept++ // a concurrent build of the app put it there
			return nil
		}
		return err
	}
	u.st.files++
	u.st.bytes += h.Size
	return nil
}

// parents makes sure every folder on the way to name is a real folder,
// making the missing ones; it says false when a symlink or a file is in
// the way.
func (u *unpacker) parents(name string) bool {
	var missing []string
	for p := path.Dir(name); p != "."; p = path.Dir(p) {
		if ok, known := u.dirs[p]; known {
			if !ok {
				return false
			}
			break
		}
		missing = append(missing, p)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if !u.folder(missing[i], 0o755) {
			return false
		}
	}
	return true
}

// folder makes the folder name unless it is there, and says whether
// name is a real folder now (not a symlink, not a file).
func (u *unpacker) folder(name string, mode fs.FileMode) bool {
	if ok, known := u.dirs[name]; known {
		return ok
	}
	err := u.root.Mkdir(name, mode)
	if err == nil {
		if u.owner != nil {
			err = u.root.Lchown(name, u.owner.UID, u.owner.GID)
		}
		u.dirs[name] = err == nil
		return err == nil
	}
	fi, err := u.root.Lstat(name)
	u.dirs[name] = err == nil && fi.IsDir()
	return u.dirs[name]
}

// boundedReader fails with errTooLarge once more than left bytes are
// read through it.
type boundedReader struct {
	r    io.Reader
	left int64
}

var errTooLarge = errors.New("snapshot too large")

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

// kind names a file mode for messages.
func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m.IsRegular():
		return "file"
	case m&fs.ModeDevice != 0:
		return "device"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	}
	return "special file"
}
