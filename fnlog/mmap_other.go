//go:build !unix

package fnlog

import (
	"fmt"
	"os"
)

// mapFile reads a file whole where mapping is not available.
func mapFile(path string) (data []byte, release func(), err error) {
	data, err = os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("function logs: %w", err)
	}
	return data, func() {}, nil
}
