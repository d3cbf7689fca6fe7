package local

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// groupsDir, beside the run dirs (Dir/groups), records each instance's
// process group (groups/<run dir name>), so that a Seedbed restarted
// after a crash can stop what its previous life left running. It is not
// in the run dir, which a sandboxed function owns: a record the function
// could write would make Seedbed kill any process group it names.
const groupsDir = "groups"

// groupRecord is where the process group of the instance with runDir is
// recorded.
func groupRecord(runDir string) string {
	return filepath.Join(filepath.Dir(filepath.Dir(runDir)), groupsDir, filepath.Base(runDir))
}

// recordGroup writes the process group id and its start time (to tell a
// reused pid from the same process) for the instance with runDir.
func recordGroup(runDir string, pid int) error {
	start, err := processStart(pid)
	if err != nil {
		return err
	}
	f := groupRecord(runDir)
	if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
		return err
	}
	return os.WriteFile(f, []byte(fmt.Sprintf("%d %s\n", pid, start)), 0o600)
}

// killLeftGroups kills every process group recorded beside runRoot whose
// leader is still the process that was recorded. Processes of the group
// whose leader already died are found by scanning /proc for the group id.
func killLeftGroups(runRoot string, log *slog.Logger) {
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(runRoot), groupsDir, "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var pgid int
		var start string
		if _, err := fmt.Sscanf(string(b), "%d %s", &pgid, &start); err != nil || pgid <= 1 {
			continue
		}
		if now, err := processStart(pgid); err == nil && now != start {
			continue // the pid was reused by an unrelated process
		}
		if groupAlive(pgid) {
			log.Warn("stopping processes a previous run of Seedbed left behind", "pgid", pgid)
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}
}

// processStart returns a process's start time in clock ticks since boot
// (field 22 of /proc/PID/stat).
func processStart(pid int) (string, error) {
	fields, err := statFields(pid)
	if err != nil {
		return "", err
	}
	return fields[19], nil
}

// processGroup returns a process's group id (field 5 of /proc/PID/stat).
func processGroup(pid int) (int, error) {
	fields, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(fields[2])
}

// statFields returns the fields of /proc/PID/stat after the command name
// (field 3 onwards), at least 20 of them.
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	// The command name (field 2) may hold spaces; count after its ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 {
		return nil, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	return fields, nil
}

// groupAlive reports whether any process is still in group pgid.
func groupAlive(pgid int) bool {
	return syscall.Kill(-pgid, 0) == nil
}
