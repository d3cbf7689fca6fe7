//go:build !unix

package builders

import "os/exec"

// setProcessGroup is a no-op where there are no process groups; cancelling
// kills the shell only.
func setProcessGroup(cmd *exec.Cmd) {}

func killProcessGroup(cmd *exec.Cmd) {}
