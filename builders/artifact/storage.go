package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Storage is where artifacts are kept. Two kinds exist: Store, a folder on
// this machine (the default, in the data dir), and Bucket, a bucket of an
// S3-compatible object store that several machines share. Builders Put,
// pipelines and targets ask Has and Extract, seedbed gc calls GC.
//
// Every read is checked against the digest it was asked by: bytes changed
// after they were stored are refused with an error that wraps
// ErrDigestMismatch, and nothing of them is left to run.
type Storage interface {
	// Put stores the bytes read from r and returns their digest
	// ("sha256:<hex>") and size. Putting bytes already stored refreshes
	// their time, so that GC leaves them for another grace period.
	Put(ctx context.Context, r io.Reader) (digest string, size int64, err error)
	// Has reports whether the artifact digest is stored. An error
	// reaching the storage counts as not stored: callers then rebuild.
	Has(digest string) bool
	// Extract unpacks the artifact digest into destDir (see
	// Store.Extract); the error wraps fs.ErrNotExist when it is not
	// stored and ErrDigestMismatch when its bytes were changed.
	Extract(ctx context.Context, digest, destDir string) error
	// GC removes the artifacts keep does not hold and no one stored
	// within grace (see Store.GC).
	GC(ctx context.Context, keep func(digest string) bool, grace time.Duration, dryRun bool) (GCResult, error)
	// Location names the storage for messages: a folder or an
	// s3:// URL, never with credentials.
	Location() string
}

// ErrDigestMismatch is wrapped by the error for stored bytes that do not
// hash to the digest they are stored under.
var ErrDigestMismatch = errors.New("artifact bytes do not match their digest")

// mismatch is the error for bytes that hash to got where want was asked.
func mismatch(want, got string) error {
	return fmt.Errorf("%w: asked for %s, the stored bytes hash to %s; they were changed after they were stored (delete the copy and deploy a fresh build)", ErrDigestMismatch, want, got)
}

var (
	_ Storage = (*Store)(nil)
	_ Storage = (*Bucket)(nil)
)
