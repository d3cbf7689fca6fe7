package builders

import (
	"context"
	"os"
)

// RunHook runs one hook command with sh -c in dir, the way build hooks run:
// output streamed to log line by line, the command's whole process group
// killed when it ends or ctx is done. env is its entire environment; what
// ("before_deploy hook") names it in the error, which carries the exit
// status.
func RunHook(ctx context.Context, dir string, env []string, what, command string, log Log) error {
	return runShell(ctx, dir, env, what, command, log)
}

// HookEnv is the base environment of a hook run outside a build: PATH and
// a HOME of its own (dir), nothing of Seedbed's own environment.
func HookEnv(dir string) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	return []string{"PATH=" + path, "HOME=" + dir, "TMPDIR=" + os.TempDir()}
}
