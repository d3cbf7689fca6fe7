package builders

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// lookPath finds the program name in the PATH of env (not Seedbed's own),
// the way the shell running build commands will.
func lookPath(env []string, name string) (string, error) {
	path, _ := lookupEnv(env, "PATH")
	for _, dir := range filepath.SplitList(path) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	if path == "" {
		return "", errors.New("the build environment has no PATH")
	}
	return "", fmt.Errorf("%s not found in PATH %s", name, strings.ReplaceAll(path, string(filepath.ListSeparator), ", "))
}

// isFile says whether p is a regular file (following symlinks).
func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}
