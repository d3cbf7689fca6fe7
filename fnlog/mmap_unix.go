//go:build unix

package fnlog

import (
	"fmt"
	"os"
	"syscall"
)

// mapFile maps a file read-only; release unmaps it. Mapping spares a
// query the copy of segments it only looks through.
func mapFile(path string) (data []byte, release func(), err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("function logs: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("function logs: %w", err)
	}
	if info.Size() == 0 {
		return nil, func() {}, nil
	}
	data, err = syscall.Mmap(int(f.Fd()), 0, int(info.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, fmt.Errorf("function logs: map %s: %w", path, err)
	}
	return data, func() { _ = syscall.Munmap(data) }, nil
}
