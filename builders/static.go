package builders

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/seedbed/seedbed/stack"
)

// staticOutput returns the folder a static service's artifact is packed
// from: its output folder after the build (svc.Output, relative to the
// service folder), or the service folder itself. It refuses a folder that
// is missing, leads out of the repository or holds no files.
func staticOutput(ws, svcDir string, svc stack.Service) (string, error) {
	name := svc.Output
	if name == "" || name == "." {
		name = "."
	} else if !filepath.IsLocal(filepath.FromSlash(name)) {
		return "", fmt.Errorf("output %q is not a folder inside the service folder; fix output in %s", svc.Output, stack.FileName)
	}
	dir, err := within(ws, filepath.Join(svcDir, filepath.FromSlash(name)))
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("output folder %q does not exist after the build; the build command must write the site there, or fix output in %s", name, stack.FileName)
	}
	if err != nil {
		return "", fmt.Errorf("output folder %q: %w", name, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("output folder %q: %w", name, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("output %q is a file, not a folder; fix output in %s", name, stack.FileName)
	}
	hasFile := false
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			hasFile = true
			return filepath.SkipAll
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("output folder %q: %w", name, err)
	}
	if !hasFile {
		return "", fmt.Errorf("output folder %q is empty after the build; the build command must write the site's files there", name)
	}
	return dir, nil
}
