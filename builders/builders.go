// Package builders turns a checkout of an app's repository into artifacts:
// it fetches the exact commit (go-git), runs each service's hooks and build in
// its own workspace, and packages every function into a deterministic,
// content-addressed artifact.
//
// It knows nothing of the database: it writes log lines and artifacts through
// the small interfaces below, which the pipelines package hands it.
package builders

import (
	"context"
	"io"
)

// Log receives build output line by line, as it happens.
type Log interface {
	// Line records one line. stream is "stdout", "stderr" or "seedbed"
	// (Seedbed's own progress lines).
	Line(stream, text string)
}

// ArtifactStore keeps packaged functions by the sha256 of their bytes.
type ArtifactStore interface {
	// Put stores the bytes read from r and returns their digest
	// ("sha256:<hex>") and size. Putting the same bytes twice is a no-op.
	Put(ctx context.Context, r io.Reader) (digest string, size int64, err error)
}
