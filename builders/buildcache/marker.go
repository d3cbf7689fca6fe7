package buildcache

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// marker is what this machine knows of a cache folder: the snapshot it
// last restored into it or saved from it, and the folder's manifest
// right after. It lives in Config.Dir, where builds cannot write, so a
// build cannot make Seedbed skip a download or an upload it should do.
type marker struct {
	// Dir is the cache folder the marker is of.
	Dir string `json:"dir"`
	// ETag is the snapshot's in the bucket.
	ETag string `json:"etag"`
	// Manifest is scanFolder's digest of the folder.
	Manifest string `json:"manifest"`
}

// markerPath is where key's marker is kept.
func (s *Store) markerPath(key Key) string {
	return filepath.Join(s.cfg.Dir, key.App, key.Toolchain+".json")
}

// readMarker returns key's marker for dir; a missing or unreadable one,
// or one of another folder, is empty.
func (s *Store) readMarker(key Key, dir string) marker {
	var m marker
	b, err := os.ReadFile(s.markerPath(key))
	if err != nil || json.Unmarshal(b, &m) != nil || m.Dir != dir {
		return marker{}
	}
	return m
}

// writeMarker replaces key's marker with m, for dir.
func (s *Store) writeMarker(key Key, dir string, m marker) error {
	m.Dir = dir
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	p := s.markerPath(key)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	tmp := p + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("note the build cache's snapshot: %w", err)
	}
	return nil
}
