package buildcache

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/seedbed/seedbed/builders/artifact"
)

// memObjects is an in-memory bucket area that counts its calls.
type memObjects struct {
	hang       bool // Get and Put wait for their context to end
	mu         sync.Mutex
	objs       map[string][]byte
	etags      map[string]string
	gets, puts int
}

func newMemObjects() *memObjects {
	return &memObjects{objs: map[string][]byte{}, etags: map[string]string{}}
}

func (m *memObjects) Stat(_ context.Context, name string) (artifact.ObjectInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objs[name]
	if !ok {
		return artifact.ObjectInfo{}, fmt.Errorf("mem:%s: %w", name, fs.ErrNotExist)
	}
	return artifact.ObjectInfo{Size: int64(len(b)), ETag: m.etags[name], Modified: time.Now()}, nil
}

func (m *memObjects) Get(ctx context.Context, name string) (io.ReadCloser, artifact.ObjectInfo, error) {
	info, err := m.Stat(ctx, name)
	if err != nil {
		return nil, info, err
	}
	if m.hang {
		<-ctx.Done()
		return nil, info, ctx.Err()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gets++
	return io.NopCloser(bytes.NewReader(m.objs[name])), info, nil
}

func (m *memObjects) Put(ctx context.Context, name string, r io.Reader, size int64) (artifact.ObjectInfo, error) {
	if m.hang {
		<-ctx.Done()
		return artifact.ObjectInfo{}, ctx.Err()
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return artifact.ObjectInfo{}, err
	}
	if int64(len(b)) != size {
		return artifact.ObjectInfo{}, fmt.Errorf("put %s: %d bytes, said %d", name, len(b), size)
	}
	m.set(name, b)
	m.mu.Lock()
	m.puts++
	m.mu.Unlock()
	return artifact.ObjectInfo{Size: size, ETag: m.etags[name]}, nil
}

func (m *memObjects) set(name string, b []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sum := sha256.Sum256(b)
	m.objs[name], m.etags[name] = b, hex.EncodeToString(sum[:8])
}

func (m *memObjects) Location(name string) string { return "mem:" + name }

// testLog records lines.
type testLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *testLog) Line(_, text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, text)
}

func (l *testLog) has(text string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.lines, func(s string) bool { return strings.Contains(s, text) })
}

func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func mustLog(t *testing.T, l *testLog, text string) {
	t.Helper()
	if !l.has(text) {
		t.Errorf("the log has no line containing %q; log:\n%s", text, l)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// writeTree writes name → content under dir; a name ending in "/" is a
// folder.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			must(t, os.MkdirAll(p, 0o755))
			continue
		}
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(content), 0o644))
	}
}

// listTree lists dir as "path" for folders and "path=content mode" for
// files, without following symlinks ("path -> target").
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out = append(out, rel+" -> "+target)
		case fi.IsDir():
			out = append(out, fmt.Sprintf("%s/ %o", rel, fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)))
		default:
			b, _ := os.ReadFile(p)
			out = append(out, fmt.Sprintf("%s=%s %o", rel, b, fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)))
		}
		return nil
	})
	must(t, err)
	return out
}

func TestSaveRestore(t *testing.T) {
	ctx := context.Background()
	objs := newMemObjects()
	key := Key{App: "shop", AppID: 3, Toolchain: "go"}
	setup := func(t *testing.T) *Store {
		t.Helper()
		s, err := New(Config{Objects: objs, Dir: t.TempDir()})
		must(t, err)
		return s
	}
	// Machine one builds and saves.
	one, src := setup(t), filepath.Join(t.TempDir(), "go")
	writeTree(t, src, map[string]string{"build/00/aa-d": "object", "build/README": "cache", "mod/cache/download/x.zip": "zip", "empty/": ""})
	must(t, os.Chmod(filepath.Join(src, "mod", "cache", "download", "x.zip"), 0o444))
	must(t, os.Symlink("/etc/passwd", filepath.Join(src, "build", "passwd")))
	log := &testLog{}
	must(t, one.Save(ctx, key, src, log))
	mustLog(t, log, "Saving the go build cache (3 files, 14 B)…")
	mustLog(t, log, "Saved the go build cache to mem:shop/go.tar.zst")
	mustLog(t, log, "1 entry left out: snapshots hold no symlinks or special files")
	if objs.puts != 1 {
		t.Fatalf("%d uploads, want 1", objs.puts)
	}
	// Nothing changed: nothing uploaded.
	log = &testLog{}
	must(t, one.Save(ctx, key, src, log))
	mustLog(t, log, "did not change: not saved again")
	if objs.puts != 1 {
		t.Errorf("%d uploads after an unchanged save, want 1", objs.puts)
	}

	// Machine two restores it.
	two, dst := setup(t), filepath.Join(t.TempDir(), "go")
	writeTree(t, dst, map[string]string{"build/README": "local"})
	log = &testLog{}
	must(t, two.Restore(ctx, key, dst, nil, log))
	mustLog(t, log, "Restoring the go build cache from mem:shop/go.tar.zst (")
	mustLog(t, log, "Restored the go build cache: 2 files, 9 B")
	mustLog(t, log, "kept the local copy of 1 file")
	want := []string{"build/ 755", "build/00/ 755", "build/00/aa-d=object 644", "build/README=local 644", "empty/ 755",
		"mod/ 755", "mod/cache/ 755", "mod/cache/download/ 755", "mod/cache/download/x.zip=zip 444"}
	if got := listTree(t, dst); !slices.Equal(got, want) {
		t.Errorf("restored\n%v\nwant\n%v", got, want)
	}
	if fi, err := os.Stat(filepath.Join(dst, "build", "00", "aa-d")); err != nil || time.Since(fi.ModTime()) > time.Minute {
		t.Errorf("restored file's time: %v, %v; want the saved one's", fi, err)
	}
	// Again: the marker says it is here already.
	gets := objs.gets
	log = &testLog{}
	must(t, two.Restore(ctx, key, dst, nil, log))
	mustLog(t, log, "The go build cache here is the shared one")
	if objs.gets != gets {
		t.Error("an up-to-date cache was downloaded again")
	}
	// Restoring changed nothing a build made: saving it is a no-op.
	log = &testLog{}
	must(t, two.Save(ctx, key, dst, log))
	mustLog(t, log, "did not change")
	// A build adds to it: saved, and the first machine gets it.
	writeTree(t, dst, map[string]string{"build/01/bb-d": "new object"})
	must(t, two.Save(ctx, key, dst, &testLog{}))
	log = &testLog{}
	must(t, one.Restore(ctx, key, src, nil, log))
	mustLog(t, log, "Restored the go build cache: 1 file,")
	if b, err := os.ReadFile(filepath.Join(src, "build", "01", "bb-d")); err != nil || string(b) != "new object" {
		t.Errorf("machine one's cache: %q, %v", b, err)
	}

	// Another app, or another toolchain, has none.
	for _, other := range []Key{{App: "blog", Toolchain: "go"}, {App: "shop", Toolchain: "npm"}} {
		log = &testLog{}
		dir := filepath.Join(t.TempDir(), "cache")
		must(t, two.Restore(ctx, other, dir, nil, log))
		mustLog(t, log, "No shared "+other.Toolchain+" build cache for "+other.App+" yet")
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("restoring %+v made %s", other, dir)
		}
	}
}

func TestSaveTooLarge(t *testing.T) {
	objs := newMemObjects()
	s, err := New(Config{Objects: objs, Dir: t.TempDir(), MaxBytes: 1000})
	must(t, err)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"big": strings.Repeat("x", 1001)})
	err = s.Save(context.Background(), Key{App: "shop", Toolchain: "npm"}, dir, &testLog{})
	if err == nil || !strings.Contains(err.Error(), "more than the 1000 B a snapshot may hold (--build-cache-max): not saved") {
		t.Fatalf("Save of a cache above the limit: %v", err)
	}
	if objs.puts != 0 {
		t.Error("a cache above the limit was uploaded")
	}
}

func TestKeys(t *testing.T) {
	s, err := New(Config{Objects: newMemObjects(), Dir: t.TempDir()})
	must(t, err)
	for _, k := range []Key{{App: "../x", Toolchain: "go"}, {App: ".hidden", Toolchain: "go"}, {App: "a/b", Toolchain: "go"},
		{App: "", Toolchain: "go"}, {App: "shop", Toolchain: "../go"}, {App: "shop", Toolchain: "pip"}} {
		if err := s.Restore(context.Background(), k, t.TempDir(), nil, &testLog{}); err == nil {
			t.Errorf("Restore with key %+v: no error", k)
		}
		if err := s.Save(context.Background(), k, t.TempDir(), &testLog{}); err == nil {
			t.Errorf("Save with key %+v: no error", k)
		}
	}
}

// crafted is one entry of a hand-made snapshot.
type crafted struct {
	hdr  tar.Header
	body string
}

func reg(name, body string) crafted {
	return crafted{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body))}, body: body}
}

func dirEntry(name string) crafted {
	return crafted{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755}}
}

// craft writes a snapshot with hd as its header (none when nil) and
// entries, as an attacker with write access to the bucket could.
func craft(t *testing.T, hd *header, entries ...crafted) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	must(t, err)
	tw := tar.NewWriter(zw)
	if hd != nil {
		b, err := json.Marshal(hd)
		must(t, err)
		must(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: headerName, Mode: 0o600, Size: int64(len(b))}))
		_, err = tw.Write(b)
		must(t, err)
	}
	for _, e := range entries {
		h := e.hdr
		must(t, tw.WriteHeader(&h))
		if e.body != "" {
			_, err := io.WriteString(tw, e.body)
			must(t, err)
		}
	}
	must(t, tw.Close())
	must(t, zw.Close())
	return buf.Bytes()
}

// TestRestoreRefuses feeds Restore snapshots an attacker made and checks
// that each is refused before anything is written, in the cache folder or
// beside it.
func TestRestoreRefuses(t *testing.T) {
	key := Key{App: "shop", AppID: 7, Toolchain: "go"}
	ok := &header{Format: formatVersion, App: "shop", AppID: 7, Toolchain: "go"}
	many := []crafted{}
	for i := range 11 {
		many = append(many, reg(fmt.Sprintf("f%d", i), "x"))
	}
	tests := []struct {
		name    string
		data    []byte
		maxSize int64
		errs    string
	}{
		{name: "dot-dot path", data: craft(t, ok, reg("good", "1"), reg("../escaped", "pwned")), errs: `entry "../escaped" is not a clean path`},
		{name: "dot-dot inside", data: craft(t, ok, reg("a/../../escaped", "pwned")), errs: "is not a clean path"},
		{name: "absolute path", data: craft(t, ok, reg("/tmp/escaped", "pwned")), errs: `entry "/tmp/escaped" is not a clean path`},
		{name: "dot", data: craft(t, ok, dirEntry("./")), errs: "is not a clean path"},
		{name: "symlink", data: craft(t, ok, crafted{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "build", Linkname: "/etc"}}, reg("build/passwd", "pwned")),
			errs: `entry "build" is a symlink (to "/etc")`},
		{name: "symlink inside", data: craft(t, ok, crafted{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "x", Linkname: "y"}}), errs: "is a symlink"},
		{name: "hard link", data: craft(t, ok, crafted{hdr: tar.Header{Typeflag: tar.TypeLink, Name: "shadow", Linkname: "/etc/shadow"}}), errs: "is a hard link"},
		{name: "device", data: craft(t, ok, crafted{hdr: tar.Header{Typeflag: tar.TypeChar, Name: "mem", Devmajor: 1, Devminor: 1}}), errs: `entry "mem" is a device`},
		{name: "fifo", data: craft(t, ok, crafted{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "pipe"}}), errs: "is a named pipe"},
		{name: "twice", data: craft(t, ok, reg("a", "1"), reg("a", "2")), errs: `entry "a" comes twice`},
		{name: "folder and file", data: craft(t, ok, dirEntry("a/"), reg("a", "2")), errs: "comes twice"},
		{name: "beneath a file", data: craft(t, ok, reg("a", "1"), reg("a/b", "2")), errs: `entry "a/b" lies beneath the file "a"`},
		{name: "second header", data: craft(t, ok, reg(headerName, "{}")), errs: "comes twice"},
		{name: "no header", data: craft(t, nil, reg("a", "1")), errs: "does not start with a Seedbed snapshot header"},
		{name: "empty", data: craft(t, nil), errs: "the snapshot is empty"},
		{name: "another app", data: craft(t, &header{Format: formatVersion, App: "blog", Toolchain: "go"}, reg("a", "1")),
			errs: `it is the go cache of app "blog", not the go cache of app "shop"`},
		{name: "another toolchain", data: craft(t, &header{Format: formatVersion, App: "shop", Toolchain: "npm"}, reg("a", "1")),
			errs: `it is the npm cache of app "shop", not the go cache`},
		{name: "an earlier app of the name", data: craft(t, &header{Format: formatVersion, App: "shop", AppID: 2, Toolchain: "go"}, reg("a", "1")),
			errs: "saved by an earlier app named \"shop\" (id 2; this one is id 7)"},
		{name: "another format", data: craft(t, &header{Format: 99, App: "shop", Toolchain: "go"}), errs: "its format is 99"},
		{name: "too many entries", data: craft(t, ok, many...), errs: "more than 10 entries"},
		{name: "too many bytes", data: craft(t, ok, reg("a", strings.Repeat("x", 600)), reg("b", strings.Repeat("x", 600))), maxSize: 1000,
			errs: "its files hold more than 1000 B"},
		{name: "bomb", data: craft(t, ok, reg("zeros", strings.Repeat("\x00", 4<<20))), maxSize: 1 << 20, errs: "its files hold more than 1.0 MiB"},
		{name: "not zstd", data: []byte("PK\x03\x04 not a snapshot"), errs: "is not a zstd-compressed tar"},
		{name: "truncated", data: craft(t, ok, reg("a", strings.Repeat("x", 5000)))[:60], errs: "is not a zstd-compressed tar"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := newMemObjects()
			maxSize := tt.maxSize
			if maxSize == 0 {
				maxSize = 1 << 20
			}
			s, err := New(Config{Objects: objs, Dir: t.TempDir(), MaxBytes: maxSize, MaxEntries: 10})
			must(t, err)
			objs.set(key.object(), tt.data)
			// The cache folder sits in a folder of its own, so that
			// anything written beside it shows.
			parent := t.TempDir()
			dir := filepath.Join(parent, "cache", "go")
			writeTree(t, dir, map[string]string{"kept": "mine"})
			before := listTree(t, parent)
			log := &testLog{}
			err = s.Restore(context.Background(), key, dir, nil, log)
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tt.errs) {
				t.Fatalf("Restore error = %v; want ErrRefused containing %q", err, tt.errs)
			}
			if after := listTree(t, parent); !slices.Equal(after, before) {
				t.Errorf("a refused snapshot changed the folders: %v, was %v", after, before)
			}
			for _, p := range []string{"/tmp/escaped", filepath.Join(parent, "escaped"), filepath.Join(parent, "cache", "escaped")} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("%s was written", p)
				}
			}
		})
	}
}

// TestRestoreBigObject: a snapshot larger, compressed, than the limit is
// not even downloaded.
func TestRestoreBigObject(t *testing.T) {
	objs := newMemObjects()
	key := Key{App: "shop", Toolchain: "npm"}
	objs.set(key.object(), bytes.Repeat([]byte{1}, 2000))
	s, err := New(Config{Objects: objs, Dir: t.TempDir(), MaxBytes: 1000})
	must(t, err)
	err = s.Restore(context.Background(), key, t.TempDir(), nil, &testLog{})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "is 2.0 KiB, more than the 1000 B a snapshot may hold") {
		t.Fatalf("Restore of a big object: %v", err)
	}
	if objs.gets != 0 {
		t.Error("it was downloaded")
	}
}

// TestRestoreInPlace: what the cache folder holds already (a build of the
// app can put anything there) is never followed, replaced or written
// through, and modes are tamed.
func TestRestoreInPlace(t *testing.T) {
	key := Key{App: "shop", Toolchain: "go"}
	ok := &header{Format: formatVersion, App: "shop", Toolchain: "go"}
	data := craft(t, ok,
		dirEntry("build/"), reg("build/obj", "object"),
		reg("mod/passwd", "pwned"), // mod is a symlink to outside
		reg("link", "pwned"),       // link is a symlink to a file outside
		reg("file/inner", "x"),     // file is a file
		crafted{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "suid", Mode: 0o4777, Size: 2}, body: "#!"},
		crafted{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "open/", Mode: 0o1777}},
		crafted{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "open/gid", Mode: 0o2775, Size: 1}, body: "g"},
		crafted{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "closed/", Mode: 0o000}},
		reg("closed/x", "x"),
	)
	objs := newMemObjects()
	objs.set(key.object(), data)
	s, err := New(Config{Objects: objs, Dir: t.TempDir()})
	must(t, err)
	outside := t.TempDir()
	writeTree(t, outside, map[string]string{"secret": "outside"})
	dir := filepath.Join(t.TempDir(), "go")
	writeTree(t, dir, map[string]string{"file": "local"})
	must(t, os.Symlink(outside, filepath.Join(dir, "mod")))
	must(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "link")))
	log := &testLog{}
	must(t, s.Restore(context.Background(), key, dir, nil, log))
	mustLog(t, log, "Restored the go build cache: 4 files, 10 B")
	mustLog(t, log, "kept the local copy of 1 file")
	mustLog(t, log, "2 entries skipped: a symlink or a file is in their way")
	if got, want := listTree(t, outside), []string{"secret=outside 644"}; !slices.Equal(got, want) {
		t.Errorf("outside: %v, want %v", got, want)
	}
	want := []string{"build/ 755", "build/obj=object 644", "closed/ 700", "closed/x=x 644", "file=local 644",
		"link -> " + filepath.Join(outside, "secret"), "mod -> " + outside, "open/ 755", "open/gid=g 755", "suid=#! 755"}
	if got := listTree(t, dir); !slices.Equal(got, want) {
		t.Errorf("restored\n%v\nwant\n%v", got, want)
	}
}

// TestTimeout: a bucket that stops answering holds a build up for
// Config.Timeout, not longer.
func TestTimeout(t *testing.T) {
	objs := newMemObjects()
	key := Key{App: "shop", Toolchain: "go"}
	objs.set(key.object(), craft(t, &header{Format: formatVersion, App: "shop", Toolchain: "go"}, reg("a", "1")))
	objs.hang = true
	s, err := New(Config{Objects: objs, Dir: t.TempDir(), Timeout: 50 * time.Millisecond})
	must(t, err)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"b": "2"})
	for name, call := range map[string]func() error{
		"restore": func() error { return s.Restore(context.Background(), key, dir, nil, &testLog{}) },
		"save":    func() error { return s.Save(context.Background(), key, dir, &testLog{}) },
	} {
		start := time.Now()
		err := call()
		if err == nil || !strings.HasPrefix(err.Error(), "gave up after 50ms: ") || time.Since(start) > 5*time.Second {
			t.Errorf("%s on a hanging bucket: %v after %s; want it to give up after 50ms", name, err, time.Since(start))
		}
	}
}

// TestSaveReplacesRefused: a snapshot no machine can restore is replaced
// by the next successful build's, even when that build changed nothing.
func TestSaveReplacesRefused(t *testing.T) {
	ctx := context.Background()
	objs := newMemObjects()
	key := Key{App: "shop", Toolchain: "go"}
	one, err := New(Config{Objects: objs, Dir: t.TempDir()})
	must(t, err)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"build/a": "object"})
	must(t, one.Save(ctx, key, dir, &testLog{}))
	objs.set(key.object(), craft(t, &header{Format: formatVersion, App: "shop", Toolchain: "go"}, reg("../x", "pwned")))
	if err := one.Restore(ctx, key, dir, nil, &testLog{}); !errors.Is(err, ErrRefused) {
		t.Fatalf("Restore of a crafted snapshot: %v", err)
	}
	log := &testLog{}
	must(t, one.Save(ctx, key, dir, log))
	mustLog(t, log, "Saved the go build cache")
	two, err := New(Config{Objects: objs, Dir: t.TempDir()})
	must(t, err)
	other := t.TempDir()
	must(t, two.Restore(ctx, key, other, nil, &testLog{}))
	if b, err := os.ReadFile(filepath.Join(other, "build", "a")); err != nil || string(b) != "object" {
		t.Errorf("after the save: %q, %v", b, err)
	}
}
