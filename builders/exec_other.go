//go:build !unix

package builders

import (
	"io/fs"
	"os"
	"os/exec"
)

// setProcessGroup is a no-op where there are no process groups; cancelling
// kills the shell only. Commands never switch users here: ResolveUser
// refuses another user, since Seedbed is never root.
func setProcessGroup(cmd *exec.Cmd, u *User) {}

func killProcessGroup(cmd *exec.Cmd) {}

// ownerOf cannot tell who owns a file here.
func ownerOf(fi fs.FileInfo) (uid, gid int, ok bool) { return 0, 0, false }

// lockFile cannot lock here: every scratch folder counts as held, so
// RemoveStale removes none.
func lockFile(f *os.File, wait bool) error {
	if wait {
		return nil
	}
	return errLocked
}
