package builders

import (
	"context"
	"os"
)

// RunHook runs one hook command with sh -c in dir, the way build hooks
// run: as the build user (Config.User), output streamed to log line by
// line, the command's whole process group killed when it ends or ctx is
// done. env is its entire environment; what ("before_deploy hook") names
// it in the error, which carries the exit status. dir must be the build
// user's: see HandOver.
func (b *Builder) RunHook(ctx context.Context, dir string, env []string, what, command string, log Log) error {
	return runShell(ctx, b.cfg.User, dir, env, what, command, log)
}

// HandOver makes dir, a folder Seedbed made for hooks run outside a
// build (an unpacked artifact, for deploy hooks), and everything in it
// the build user's, so that the hooks can write there. dir becomes
// closed to everyone else. It does nothing when commands run as
// Seedbed's own user.
func (b *Builder) HandOver(dir string) error {
	if !b.cfg.User.switches() {
		return nil
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	return giveTree(dir, b.cfg.User.UID, b.cfg.User.GID)
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
