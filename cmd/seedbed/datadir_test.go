package main

import (
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// prepareDataDir closes what an earlier Seedbed left open in its data
// dir, and opens only a way through to cache/ and work/ when builds run
// as another user.
func TestPrepareDataDir(t *testing.T) {
	tests := []struct {
		name      string
		shared    bool
		sandboxed bool // run/ was opened by the local target for functions' users
		want      map[string]fs.FileMode
	}{
		{name: "builds as Seedbed's own user", shared: false, want: map[string]fs.FileMode{
			".": 0o700, "cache": 0o700, "work": 0o700, "seedbed.db": 0o600, "secret.key": 0o600,
			"artifacts": 0o700, "git": 0o700, "run": 0o700, "notes.txt": 0o600, "old": 0o700,
		}},
		{name: "builds as another user", shared: true, want: map[string]fs.FileMode{
			".": 0o711, "cache": 0o711, "work": 0o711, "seedbed.db": 0o600, "secret.key": 0o600,
			"artifacts": 0o700, "git": 0o700, "run": 0o700, "notes.txt": 0o600, "old": 0o700,
		}},
		{name: "functions sandboxed", shared: true, sandboxed: true, want: map[string]fs.FileMode{
			".": 0o711, "cache": 0o711, "work": 0o711, "seedbed.db": 0o600, "secret.key": 0o600,
			"artifacts": 0o700, "git": 0o700, "run": 0o711, "notes.txt": 0o600, "old": 0o700,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			// What an earlier version made, with umask 022.
			if tt.sandboxed {
				if err := os.MkdirAll(filepath.Join(dir, "run"), 0o711); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(filepath.Join(dir, "run"), 0o711); err != nil {
					t.Fatal(err)
				}
			}
			for _, d := range []string{"", "cache", "artifacts", "old"} {
				if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(filepath.Join(dir, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range []string{"seedbed.db", "secret.key", "notes.txt"} {
				if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(filepath.Join(dir, f), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := prepareDataDir(dir, tt.shared, tt.sandboxed, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
				t.Fatal(err)
			}
			for name, want := range tt.want {
				fi, err := os.Stat(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				if got := fi.Mode().Perm(); got != want {
					t.Errorf("%s: mode %04o, want %04o", name, got, want)
				}
			}
		})
	}
}
