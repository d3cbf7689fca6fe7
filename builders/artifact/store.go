// Package artifact keeps packaged functions on disk, content-addressed by
// the sha256 of their bytes, and makes those packages: gzip'd tar archives
// written deterministically, so that the same files always give the same
// digest and a promotion can reuse an artifact byte for byte.
//
// The layout is dir/sha256/<hex[0:2]>/<hex>. Files are written to a
// temporary name in dir and renamed into place, so a reader never sees a
// partial artifact and concurrent writers of the same bytes do not clash.
package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DigestPrefix starts every digest this package hands out.
const DigestPrefix = "sha256:"

// Store is a content-addressed artifact store in one directory. It is safe
// for concurrent use, also by several processes sharing the directory.
type Store struct {
	dir string
}

// New opens (creating if needed) the store in dir.
func New(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("artifact store %s: %w", dir, err)
	}
	// Artifacts are apps' code, with whatever their builds put in: for
	// Seedbed's eyes only.
	if err := os.MkdirAll(filepath.Join(abs, "sha256"), 0o700); err != nil {
		return nil, fmt.Errorf("artifact store: %w", err)
	}
	return &Store{dir: abs}, nil
}

// Dir is the directory the store keeps its files in.
func (s *Store) Dir() string { return s.dir }

// ParseDigest checks that digest is "sha256:" followed by 64 lower-case
// hex digits and returns the hex part.
func ParseDigest(digest string) (string, error) {
	h, ok := strings.CutPrefix(digest, DigestPrefix)
	if !ok || len(h) != 2*sha256.Size || strings.Trim(h, "0123456789abcdef") != "" {
		return "", fmt.Errorf("invalid artifact digest %q: want %s followed by 64 lower-case hex digits", digest, DigestPrefix)
	}
	return h, nil
}

// path is where the artifact with the given hex digest lives.
func (s *Store) path(h string) string {
	return filepath.Join(s.dir, "sha256", h[:2], h)
}

// Put stores the bytes read from r and returns their digest and size.
// Putting bytes the store already holds leaves the stored file's bytes
// untouched and refreshes its time (see GC).
func (s *Store) Put(ctx context.Context, r io.Reader) (digest string, size int64, err error) {
	return s.put(ctx, r, "")
}

// put is Put that, when want is a digest, refuses bytes that do not hash
// to it: nothing is stored and the error wraps ErrDigestMismatch. A cache
// of another store's artifacts puts them so, with what it was asked for.
func (s *Store) put(ctx context.Context, r io.Reader, want string) (digest string, size int64, err error) {
	tmp, err := os.CreateTemp(s.dir, ".put-*")
	if err != nil {
		return "", 0, fmt.Errorf("store artifact: %w", err)
	}
	defer func() {
		if tmp != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	sum := sha256.New()
	size, err = io.Copy(io.MultiWriter(tmp, sum), ctxReader{ctx, r})
	if err != nil {
		return "", 0, fmt.Errorf("store artifact: %w", err)
	}
	h := hex.EncodeToString(sum.Sum(nil))
	digest = DigestPrefix + h
	if want != "" && digest != want {
		return "", 0, mismatch(want, digest)
	}
	final := s.path(h)
	if refresh(final) == nil { // stored already; GC must see it as fresh
		return digest, size, nil
	}
	if err := tmp.Sync(); err != nil {
		return "", 0, fmt.Errorf("store artifact %s: %w", digest, err)
	}
	if err := tmp.Chmod(0o444); err != nil {
		return "", 0, fmt.Errorf("store artifact %s: %w", digest, err)
	}
	if err := tmp.Close(); err != nil {
		return "", 0, fmt.Errorf("store artifact %s: %w", digest, err)
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return "", 0, fmt.Errorf("store artifact %s: %w", digest, err)
	}
	// Rename is atomic: a concurrent Put of the same bytes just replaces
	// one complete copy with another.
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", 0, fmt.Errorf("store artifact %s: %w", digest, err)
	}
	tmp = nil
	return digest, size, nil
}

// Location is the folder the store keeps its files in, for messages.
func (s *Store) Location() string { return s.dir }

// Open returns the stored bytes of digest, as they are on disk: Extract
// checks them against the digest, a caller of Open must do so itself. The error wraps fs.ErrNotExist
// when the store does not hold it.
func (s *Store) Open(digest string) (io.ReadCloser, error) {
	h, err := ParseDigest(digest)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(s.path(h))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("artifact %s is not in the store at %s: %w", digest, s.dir, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("open artifact %s: %w", digest, err)
	}
	return f, nil
}

// Has says whether the store holds digest. An invalid digest is never held.
func (s *Store) Has(digest string) bool {
	h, err := ParseDigest(digest)
	if err != nil {
		return false
	}
	fi, err := os.Stat(s.path(h))
	return err == nil && fi.Mode().IsRegular()
}

// ctxReader stops a copy when its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
