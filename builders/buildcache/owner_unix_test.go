//go:build unix

package buildcache

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func owner(fi fs.FileInfo) (uid, gid int, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return int(st.Uid), int(st.Gid), true
}

// TestRestoreOwner: what is restored for a build that runs as another
// user is that user's, folders and files.
func TestRestoreOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving files to another user needs root")
	}
	key := Key{App: "shop", Toolchain: "npm"}
	objs := newMemObjects()
	objs.set(key.object(), craft(t, &header{Format: formatVersion, App: "shop", Toolchain: "npm"},
		dirEntry("_cacache/"), reg("_cacache/index", "i"), reg("new/deep/file", "f")))
	s, err := New(Config{Objects: objs, Dir: t.TempDir()})
	must(t, err)
	dir := filepath.Join(t.TempDir(), "npm")
	must(t, s.Restore(context.Background(), key, dir, &Owner{UID: 4242, GID: 4343}, &testLog{}))
	for _, p := range []string{"_cacache", "_cacache/index", "new", "new/deep", "new/deep/file"} {
		fi, err := os.Lstat(filepath.Join(dir, p))
		must(t, err)
		if uid, gid, ok := owner(fi); !ok || uid != 4242 || gid != 4343 {
			t.Errorf("%s is owned by %d:%d, want 4242:4343", p, uid, gid)
		}
	}
}
