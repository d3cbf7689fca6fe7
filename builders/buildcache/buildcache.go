// Package buildcache shares builds' toolchain caches (Go's build and
// module caches, npm's cache) between Seedbed machines through the bucket
// of the artifact store, so that a worker that never built an app before
// starts from what another worker's last build of that app downloaded and
// compiled, not cold.
//
// A cache is kept per app and per toolchain, as one snapshot: a
// zstd-compressed tar at PREFIX/build-cache/<app>/<toolchain>.tar.zst.
// Before a build the builder restores the app's snapshots into its local
// cache folders, unless this machine already holds the snapshot the bucket
// holds (a marker outside the folder keeps the ETag it last restored or
// saved); after a successful build it saves the folders back, unless
// nothing in them changed since (a manifest of paths, sizes, modes and
// times). Two machines saving the same app's cache at once each write a
// whole snapshot: the last writer wins, and nothing is merged.
//
// A build runs other people's code and can put anything in its cache
// folders, and anyone who can write to the bucket can put anything in a
// snapshot. So a snapshot holds only regular files and folders; Save
// leaves symlinks, devices, sockets and pipes out, and Restore refuses a
// snapshot with any of them (or with a path that is absolute, has a ".."
// or names an entry twice) before it writes anything. Restoring writes
// strictly inside the target folder, through an os.Root, never follows a
// symlink it meets there (an entry whose path crosses one is skipped),
// never replaces a file the folder already has, drops setuid, setgid,
// sticky and group/other write bits, and stops at a bound on total size
// and entry count (a tar bomb). Every snapshot names the app and the
// toolchain it was saved for, and is restored only into that app's build.
package buildcache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/seedbed/seedbed/builders/artifact"
	"github.com/seedbed/seedbed/bytesize"
)

// Toolchains are the caches a snapshot can be of.
var Toolchains = []string{"go", "npm"}

// Defaults of Config's bounds.
const (
	// DefaultMaxBytes bounds a snapshot: a cache holding more is not
	// saved, and a snapshot unpacking to more is refused.
	DefaultMaxBytes = 2 << 30
	// DefaultMaxEntries bounds the files and folders of a snapshot.
	// A large Go module cache holds about 100,000.
	DefaultMaxEntries = 500_000
	// DefaultTimeout bounds one restore or save: 2 GiB at 10 MB/s.
	DefaultTimeout = 4 * time.Minute
)

// ErrRefused is wrapped by the error for a snapshot that is not what
// Save writes (a symlink, a path leading outside, too large, another
// app's): nothing of it is written.
var ErrRefused = errors.New("snapshot refused")

// Key names one snapshot: one app's cache of one toolchain.
type Key struct {
	// App is the app's name, the builder's cache key: letters, digits,
	// ".", "_" and "-", starting with a letter or digit.
	App string
	// AppID is the app's id; 0 when not known. A snapshot saved by an
	// app of the same name but another id (an app removed and made
	// again) is refused.
	AppID uint
	// Toolchain is one of Toolchains.
	Toolchain string
}

// appName is what Key.App may be: the builder's rule for cache keys.
var appName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

func (k Key) check() error {
	if !appName.MatchString(k.App) {
		return fmt.Errorf("build cache: app %q is not a plain name", k.App)
	}
	if !slices.Contains(Toolchains, k.Toolchain) {
		return fmt.Errorf("build cache: unknown toolchain %q", k.Toolchain)
	}
	return nil
}

// object is the name of k's snapshot in the bucket's build-cache area.
func (k Key) object() string { return k.App + "/" + k.Toolchain + ".tar.zst" }

// Owner is whom restored files and folders are given to: the user builds
// run as, when that is not Seedbed's own.
type Owner struct{ UID, GID int }

// Log receives the lines a build's log shows (builders.Log).
type Log interface {
	Line(stream, text string)
}

// Objects is where snapshots are kept: the build-cache area of the
// artifact bucket (artifact.Bucket.Area). Stat and Get wrap
// fs.ErrNotExist for a missing object.
type Objects interface {
	Stat(ctx context.Context, name string) (artifact.ObjectInfo, error)
	Get(ctx context.Context, name string) (io.ReadCloser, artifact.ObjectInfo, error)
	Put(ctx context.Context, name string, r io.Reader, size int64) (artifact.ObjectInfo, error)
	Location(name string) string
}

// Config is what a Store is made of.
type Config struct {
	// Objects keeps the snapshots.
	Objects Objects
	// Dir is this machine's: the markers of what each cache folder was
	// last restored from or saved as, and snapshots while they are
	// downloaded or written. No build may write there.
	Dir string
	// MaxBytes bounds what a snapshot holds, in bytes of its files;
	// 0 means DefaultMaxBytes. A cache holding more is not saved (the
	// bucket keeps the last snapshot that fitted); a snapshot holding
	// more, or larger than that compressed, is refused.
	MaxBytes int64
	// MaxEntries bounds a snapshot's files and folders; 0 means
	// DefaultMaxEntries.
	MaxEntries int
	// Timeout bounds one Restore or Save, so that a bucket that stops
	// answering holds a build up for that long at most, not until the
	// build's own time limit; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Store restores and saves snapshots of build caches. It is safe for
// concurrent use: calls for one key wait for each other.
type Store struct {
	cfg   Config
	mu    sync.Mutex
	locks map[Key]*sync.Mutex
}

// New makes a Store, and its Dir.
func New(cfg Config) (*Store, error) {
	if cfg.Objects == nil {
		return nil, errors.New("build cache: no bucket")
	}
	if cfg.Dir == "" {
		return nil, errors.New("build cache: Config.Dir is required")
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("build cache: %w", err)
	}
	return &Store{cfg: cfg, locks: map[Key]*sync.Mutex{}}, nil
}

// lock holds k's lock until the returned func is called.
func (s *Store) lock(k Key) func() {
	k.AppID = 0
	s.mu.Lock()
	l, ok := s.locks[k]
	if !ok {
		l = &sync.Mutex{}
		s.locks[k] = l
	}
	s.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Restore brings the snapshot of key into dir, unless the bucket holds
// none or dir holds it already, and says so in log. Files dir already has
// are kept as they are; what the snapshot adds is given to owner (nil:
// left Seedbed's). The error says why nothing, or not everything, was
// restored; it wraps ErrRefused for a snapshot that breaks the rules of
// the package comment, and then nothing of it was written. Callers build
// on without the cache.
func (s *Store) Restore(ctx context.Context, key Key, dir string, owner *Owner, log Log) error {
	if err := key.check(); err != nil {
		return err
	}
	defer s.lock(key)()
	ctx, cancel := context.WithTimeoutCause(ctx, s.cfg.Timeout, fmt.Errorf("gave up after %s", s.cfg.Timeout))
	defer cancel()
	err := s.restore(ctx, key, dir, owner, log)
	if ctx.Err() != nil && err != nil {
		return fmt.Errorf("%w: %w", context.Cause(ctx), err)
	}
	return err
}

func (s *Store) restore(ctx context.Context, key Key, dir string, owner *Owner, log Log) error {
	if err := checkFolder(dir); err != nil {
		return err
	}
	name := key.object()
	info, err := s.cfg.Objects.Stat(ctx, name)
	if errors.Is(err, fs.ErrNotExist) {
		log.Line("seedbed", fmt.Sprintf("No shared %s build cache for %s yet: this build starts from what this machine has.", key.Toolchain, key.App))
		return nil
	}
	if err != nil {
		return fmt.Errorf("look for it: %w", err)
	}
	m := s.readMarker(key, dir)
	if m.ETag != "" && m.ETag == info.ETag && !emptyFolder(dir) {
		log.Line("seedbed", fmt.Sprintf("The %s build cache here is the shared one (saved %s ago): nothing to download.", key.Toolchain, ago(info.Modified)))
		return nil
	}
	if info.Size > s.cfg.MaxBytes {
		return fmt.Errorf("%w: %s is %s, more than the %s a snapshot may hold (--build-cache-max)", ErrRefused, s.cfg.Objects.Location(name), bytesize.Format(info.Size), bytesize.Format(s.cfg.MaxBytes))
	}
	log.Line("seedbed", fmt.Sprintf("Restoring the %s build cache from %s (%s)…", key.Toolchain, s.cfg.Objects.Location(name), bytesize.Format(info.Size)))
	start := time.Now()
	tmp, got, err := s.download(ctx, name)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) //nolint:errcheck // best effort: tmp is ours
	st, err := unpackFile(ctx, tmp, dir, key, owner, s.limits())
	if err != nil {
		return err
	}
	sum, _, err := scanFolder(dir)
	if err == nil {
		err = s.writeMarker(key, dir, marker{ETag: got.ETag, Manifest: sum})
	}
	if err != nil {
		log.Line("seedbed", fmt.Sprintf("Could not note what was restored (%v): the next build downloads it again.", err))
	}
	line := fmt.Sprintf("Restored the %s build cache: %s, %s, in %s", key.Toolchain, count(st.files, "file"), bytesize.Format(st.bytes), time.Since(start).Round(10*time.Millisecond))
	if st.kept > 0 {
		line += fmt.Sprintf("; kept the local copy of %s", count(st.kept, "file"))
	}
	if st.skipped > 0 {
		line += fmt.Sprintf("; %s skipped: a symlink or a file is in their way", count(st.skipped, "entry"))
	}
	log.Line("seedbed", line+".")
	return nil
}

// download copies the object name into a file of Dir/tmp, refusing more
// than MaxBytes.
func (s *Store) download(ctx context.Context, name string) (string, artifact.ObjectInfo, error) {
	rc, info, err := s.cfg.Objects.Get(ctx, name)
	if err != nil {
		return "", info, fmt.Errorf("download: %w", err)
	}
	defer rc.Close()
	if info.Size > s.cfg.MaxBytes {
		return "", info, fmt.Errorf("%w: %s is %s, more than the %s a snapshot may hold (--build-cache-max)", ErrRefused, s.cfg.Objects.Location(name), bytesize.Format(info.Size), bytesize.Format(s.cfg.MaxBytes))
	}
	f, err := os.CreateTemp(filepath.Join(s.cfg.Dir, "tmp"), "restore-")
	if err != nil {
		return "", info, fmt.Errorf("download: %w", err)
	}
	n, err := io.Copy(f, io.LimitReader(rc, s.cfg.MaxBytes+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > s.cfg.MaxBytes {
		err = fmt.Errorf("%w: %s is larger than the %s a snapshot may hold (--build-cache-max)", ErrRefused, s.cfg.Objects.Location(name), bytesize.Format(s.cfg.MaxBytes))
	}
	if err != nil {
		os.Remove(f.Name()) //nolint:errcheck // best effort
		if !errors.Is(err, ErrRefused) {
			err = fmt.Errorf("download %s: %w", s.cfg.Objects.Location(name), err)
		}
		return "", info, err
	}
	return f.Name(), info, nil
}

// Save writes dir as the snapshot of key, unless it did not change since
// it was last restored or saved here and the bucket still holds that
// snapshot, and says so in log. A dir holding
// more than MaxBytes or MaxEntries is not saved: the error says so, and
// the bucket keeps the snapshot it had. Symlinks and special files in dir
// are left out. Callers carry on whatever the error.
func (s *Store) Save(ctx context.Context, key Key, dir string, log Log) error {
	if err := key.check(); err != nil {
		return err
	}
	defer s.lock(key)()
	ctx, cancel := context.WithTimeoutCause(ctx, s.cfg.Timeout, fmt.Errorf("gave up after %s", s.cfg.Timeout))
	defer cancel()
	err := s.save(ctx, key, dir, log)
	if ctx.Err() != nil && err != nil {
		return fmt.Errorf("%w: %w", context.Cause(ctx), err)
	}
	return err
}

func (s *Store) save(ctx context.Context, key Key, dir string, log Log) error {
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil // the build wrote no cache
	}
	if err := checkFolder(dir); err != nil {
		return err
	}
	sum, entries, err := scanFolder(dir)
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	m := s.readMarker(key, dir)
	if m.Manifest == sum && s.holds(ctx, key, m.ETag) {
		log.Line("seedbed", fmt.Sprintf("The %s build cache did not change: not saved again.", key.Toolchain))
		return nil
	}
	files, bytes, left := entries.count()
	if files == 0 {
		return nil
	}
	if bytes > s.cfg.MaxBytes {
		return fmt.Errorf("it holds %s, more than the %s a snapshot may hold (--build-cache-max): not saved, and other machines restore the last snapshot that fitted", bytesize.Format(bytes), bytesize.Format(s.cfg.MaxBytes))
	}
	if len(entries) > s.cfg.MaxEntries {
		return fmt.Errorf("it holds %d files and folders, more than the %d a snapshot may hold: not saved, and other machines restore the last snapshot that fitted", len(entries), s.cfg.MaxEntries)
	}
	log.Line("seedbed", fmt.Sprintf("Saving the %s build cache (%s, %s)…", key.Toolchain, count(files, "file"), bytesize.Format(bytes)))
	start := time.Now()
	f, err := os.CreateTemp(filepath.Join(s.cfg.Dir, "tmp"), "save-")
	if err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	defer os.Remove(f.Name()) //nolint:errcheck // best effort: it is ours
	defer f.Close()
	if err := pack(ctx, f, dir, key, entries); err != nil {
		return fmt.Errorf("pack %s: %w", dir, err)
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		return fmt.Errorf("pack %s: %w", dir, err)
	}
	name := key.object()
	info, err := s.cfg.Objects.Put(ctx, name, f, size)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	if err := s.writeMarker(key, dir, marker{ETag: info.ETag, Manifest: sum}); err != nil {
		log.Line("seedbed", fmt.Sprintf("Could not note what was saved (%v): the next build here downloads it again.", err))
	}
	line := fmt.Sprintf("Saved the %s build cache to %s (%s compressed) in %s", key.Toolchain, s.cfg.Objects.Location(name), bytesize.Format(size), time.Since(start).Round(10*time.Millisecond))
	if left > 0 {
		line += fmt.Sprintf("; %s left out: snapshots hold no symlinks or special files", count(left, "entry"))
	}
	log.Line("seedbed", line+".")
	return nil
}

// holds says whether the bucket still holds the snapshot of key with
// etag, or cannot say. When it holds another (one that was refused, say,
// or another machine's, saved since this one's was restored), an
// unchanged folder is saved anyway: so one good build replaces a
// snapshot no machine could restore.
func (s *Store) holds(ctx context.Context, key Key, etag string) bool {
	info, err := s.cfg.Objects.Stat(ctx, key.object())
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	return err != nil || info.ETag == etag
}

func (s *Store) limits() limits {
	return limits{bytes: s.cfg.MaxBytes, entries: s.cfg.MaxEntries}
}

// checkFolder refuses a dir that is there but is not a folder (a symlink
// a build put in place of its cache folder, say).
func checkFolder(dir string) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a folder (it is a %s): left as it is", dir, kind(fi.Mode()))
	}
	return nil
}

// emptyFolder says whether dir is missing or holds nothing.
func emptyFolder(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return true
	}
	defer f.Close()
	names, _ := f.Readdirnames(1)
	return len(names) == 0
}

// ago renders how long ago t was, for the log: "3m", "2h5m".
func ago(t time.Time) string {
	if t.IsZero() {
		return "a while"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

// count renders n things: "1 file", "2 files", "3 entries".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	if t, ok := strings.CutSuffix(thing, "y"); ok {
		return fmt.Sprintf("%d %sies", n, t)
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
