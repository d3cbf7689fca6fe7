package local

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// ageUnpacked makes every unpacked copy look last used two hours ago.
func ageUnpacked(t *testing.T, b *bundle) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(b.dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	for _, e := range entries {
		if err := os.Chtimes(filepath.Join(b.dir, "artifacts", e.Name()), old, old); err != nil {
			t.Fatal(err)
		}
	}
}

func unpacked(b *bundle, artifact string) bool {
	_, err := os.Stat(filepath.Join(unpackedDir(b, artifact), "bootstrap"))
	return err == nil
}

// unpackedDir is where an artifact of app shop is unpacked: HEX, or
// HEX-uUID when its functions run sandboxed as the app's user.
func unpackedDir(b *bundle, artifact string) string {
	hex, _ := artifactHex(digest(artifact))
	dir := filepath.Join(b.dir, "artifacts", hex)
	if uid := shopUID(b); uid != 0 {
		dir += "-u" + strconv.Itoa(uid)
	}
	return dir
}

// shopUID is the user app shop's functions run as: 0 unconfined.
func shopUID(b *bundle) int {
	if b.target.users == nil {
		return 0
	}
	uid, _ := b.target.users.uid("shop")
	return uid
}

// Copies of artifacts no stage runs go; what runs stays and keeps
// serving; a copy pruned is unpacked again when a deploy needs it.
func TestPruneUnpacked(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	for _, v := range []string{"v1", "v2", "v3"} {
		b.apply(t, shopDev, goFn("hello", v, nil, "GET /hello"))
	}
	if got, want := b.target.RunningDigests(), []string{digest("v3")}; !slices.Equal(got, want) {
		t.Fatalf("RunningDigests = %v, want %v", got, want)
	}
	ageUnpacked(t, b)
	running := func(d string) bool { return slices.Contains(b.target.RunningDigests(), d) }

	dry, err := PruneUnpacked(ctx, b.dir, running, time.Hour, true)
	if err != nil {
		t.Fatal(err)
	}
	if dry.Removed != 2 || !unpacked(b, "v1") {
		t.Fatalf("dry run: %+v, and v1 unpacked = %v; want 2 to go and nothing removed", dry, unpacked(b, "v1"))
	}
	res, err := PruneUnpacked(ctx, b.dir, running, time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Removed != 2 || res.Kept != 1 || res.Bytes != dry.Bytes || res.Bytes < 2*int64(len("sha256:")) {
		t.Fatalf("prune: %+v (dry run %+v), want 2 removed with their bytes, 1 kept", res, dry)
	}
	if unpacked(b, "v1") || unpacked(b, "v2") || !unpacked(b, "v3") {
		t.Fatalf("after prune: v1 %v, v2 %v, v3 %v unpacked; want only v3", unpacked(b, "v1"), unpacked(b, "v2"), unpacked(b, "v3"))
	}
	wantStatus(t, b.get(t, "/shop/dev/hello"), http.StatusOK)

	// A rollback to v1 unpacks it again.
	b.apply(t, shopDev, goFn("hello", "v1", nil, "GET /hello"))
	if n := b.artifacts.extracted(digest("v1")); n != 2 {
		t.Errorf("v1 extracted %d times, want 2 (again after the prune)", n)
	}
	wantStatus(t, b.get(t, "/shop/dev/hello"), http.StatusOK)
}

// A copy a deploy reuses just now stays, even though nothing tells the
// prune it runs: using a copy refreshes its time.
func TestPruneUnpackedKeepsWhatWasJustUsed(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	b.apply(t, shopDev, goFn("hello", "v1", nil, "GET /hello"))
	b.apply(t, shopDev, goFn("hello", "v2", nil, "GET /hello"))
	ageUnpacked(t, b)
	if _, err := b.target.unpack(ctx, digest("v1"), shopUID(b)); err != nil { // what a rollback's Apply does first
		t.Fatal(err)
	}
	res, err := PruneUnpacked(ctx, b.dir, func(string) bool { return false }, time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	if !unpacked(b, "v1") || unpacked(b, "v2") || res.Removed != 1 {
		t.Fatalf("prune %+v: v1 unpacked %v (just reused, want true), v2 %v (want false)", res, unpacked(b, "v1"), unpacked(b, "v2"))
	}
	// Leftovers of a prune stopped halfway go; unpacks in progress stay.
	mustMkdir(t, filepath.Join(b.dir, "artifacts", ".gc-abc"))
	mustMkdir(t, filepath.Join(b.dir, "artifacts", ".unpack-abc-1"))
	if _, err := PruneUnpacked(ctx, b.dir, func(string) bool { return true }, time.Hour, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(b.dir, "artifacts", ".gc-abc")); !os.IsNotExist(err) {
		t.Errorf(".gc-abc left by a stopped prune: %v", err)
	}
	if _, err := os.Stat(filepath.Join(b.dir, "artifacts", ".unpack-abc-1")); err != nil {
		t.Errorf("an unpack in progress was removed: %v", err)
	}
}

func mustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// A sandboxed function's copy, made for its app's user, is pruned by its
// artifact's digest like any other; other names are left alone.
func TestPruneUnpackedAppUserCopies(t *testing.T) {
	dir := t.TempDir()
	keepHex, dropHex := "aa11", "bb22"
	for _, name := range []string{keepHex + "-u1100001", dropHex + "-u1100002", dropHex + "-uX", "notours"} {
		mustMkdir(t, filepath.Join(dir, "artifacts", name))
	}
	old := time.Now().Add(-2 * time.Hour)
	entries, _ := os.ReadDir(filepath.Join(dir, "artifacts"))
	for _, e := range entries {
		if err := os.Chtimes(filepath.Join(dir, "artifacts", e.Name()), old, old); err != nil {
			t.Fatal(err)
		}
	}
	res, err := PruneUnpacked(context.Background(), dir, func(d string) bool { return d == "sha256:"+keepHex }, time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Removed != 1 || !slices.Equal(res.Digests, []string{"sha256:" + dropHex}) {
		t.Fatalf("prune %+v, want only %s's copy removed", res, dropHex)
	}
	for name, want := range map[string]bool{keepHex + "-u1100001": true, dropHex + "-u1100002": false, dropHex + "-uX": true, "notours": true} {
		_, err := os.Stat(filepath.Join(dir, "artifacts", name))
		if (err == nil) != want {
			t.Errorf("%s present = %v, want %v", name, err == nil, want)
		}
	}
}
