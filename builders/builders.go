// Package builders turns a checkout of an app's repository into artifacts:
// it fetches the exact commit (go-git), runs each service's hooks and build in
// its own workspace, and packages every function into a deterministic,
// content-addressed artifact.
//
// What an artifact holds depends on the service's runtime (see
// stack.Function for what the handler means in each):
//
//   - go: the handler binary alone, built for this machine without cgo
//     (lambda functions too: aws-lambda-go handlers are binaries).
//   - node: the handler's source bundled by esbuild into one CommonJS file,
//     at stack.NodeEntry (the source path with .js as extension), plus a
//     package.json saying the files are CommonJS. Dependencies come from
//     npm ci (or npm install) and are inside the bundle; node_modules is
//     not packed.
//   - python: the service folder with requirements.txt installed into it
//     by pip, without __pycache__, .venv and .git folders.
//   - static: the service's output folder (stack.Service.Output) after
//     its build, or the service folder.
//   - process: the service folder after its build.
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
