package builders

import (
	"context"
	"fmt"
	"os"
)

// RunHook runs one hook command of the app with id app with sh -c in dir,
// the way build hooks run: as the app's build user (Config.User, see
// User.ForApp), output streamed to log line by line, everything the
// command started killed when it ends or ctx is done. env is its entire
// environment; what ("before_deploy hook") names it in the error, which
// carries the exit status. dir must be the app's build user's: see
// HandOver.
func (b *Builder) RunHook(ctx context.Context, app uint, dir string, env []string, what, command string, log Log) error {
	u, err := b.cfg.User.ForApp(app)
	if err != nil {
		return fmt.Errorf("%s %q: %w", what, command, err)
	}
	r := runAs{user: u}
	var why string
	r.box, why = b.newBox(ctx, u)
	if err := b.requireBox(r.box, why); err != nil {
		return fmt.Errorf("%s %q: %w", what, command, err)
	}
	if r.box != nil {
		if err := r.box.give(dir); err != nil {
			return fmt.Errorf("%s %q: make the sandbox: %w", what, command, err)
		}
	} else if b.cfg.Isolation != "" && b.cfg.Isolation != IsolationNone {
		log.Line("seedbed", "The hook is NOT sandboxed: "+why)
	}
	return runShell(ctx, r, dir, env, what, command, log)
}

// HandOver makes dir, a folder Seedbed made for hooks run outside a
// build (an unpacked artifact, for deploy hooks; make it with TempDir),
// and everything in it the build user's of the app with id app, so that
// the hooks can write there. dir becomes closed to everyone else. It
// does nothing when commands run as Seedbed's own user.
func (b *Builder) HandOver(app uint, dir string) error {
	u, err := b.cfg.User.ForApp(app)
	if err != nil {
		return err
	}
	if !u.switches() {
		return nil
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	return giveTree(dir, u.UID, u.GID)
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
