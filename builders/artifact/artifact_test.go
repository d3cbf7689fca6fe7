package artifact

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// setup returns a fresh store in a temporary folder.
func setup(t *testing.T) *Store {
	t.Helper()
	s, err := New(filepath.Join(t.TempDir(), "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// makeTree writes files (name → content; a name ending in "*" is made
// executable, "@target" content makes a symlink, a name ending in "/" an
// empty folder) under a new temporary folder.
func makeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		switch {
		case strings.HasSuffix(name, "/"):
			mustDo(t, os.MkdirAll(filepath.Join(dir, name), 0o755))
		case strings.HasPrefix(content, "@"):
			mustDo(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
			mustDo(t, os.Symlink(content[1:], filepath.Join(dir, name)))
		default:
			mode := fs.FileMode(0o644)
			if strings.HasSuffix(name, "*") {
				name, mode = strings.TrimSuffix(name, "*"), 0o755
			}
			p := filepath.Join(dir, name)
			mustDo(t, os.MkdirAll(filepath.Dir(p), 0o755))
			mustDo(t, os.WriteFile(p, []byte(content), mode))
			mustDo(t, os.Chmod(p, mode))
		}
	}
	return dir
}

func mustDo(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func packSum(t *testing.T, dir string, paths []string) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := Pack(&buf, dir, paths); err != nil {
		t.Fatalf("Pack: %v", err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return hex.EncodeToString(sum[:]), buf.Bytes()
}

var sampleTree = map[string]string{
	"bootstrap*":                "#!/bin/sh\necho hi\n",
	"config/app.json":           `{"a": 1}`,
	"config/deep/x.txt":         "x",
	"empty/":                    "",
	"link-to-config":            "@config/app.json",
	"node_modules/.bin/t":       "@../tool/cli.js",
	"node_modules/tool/cli.js*": "console.log(1)",
}

func TestPackIsDeterministic(t *testing.T) {
	dir := makeTree(t, sampleTree)
	first, _ := packSum(t, dir, []string{"."})

	tests := []struct {
		name   string
		change func(t *testing.T, dir string) string // returns the folder to pack
		same   bool
	}{
		{
			name:   "packed again",
			change: func(t *testing.T, dir string) string { return dir },
			same:   true,
		},
		{
			name: "mtimes touched",
			change: func(t *testing.T, dir string) string {
				future := time.Now().Add(48 * time.Hour)
				mustDo(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
					if err != nil || d.Type()&fs.ModeSymlink != 0 {
						return err
					}
					return os.Chtimes(p, future, future)
				}))
				return dir
			},
			same: true,
		},
		{
			name: "different umask, same executable bits",
			change: func(t *testing.T, dir string) string {
				mustDo(t, os.Chmod(filepath.Join(dir, "config/app.json"), 0o600))
				mustDo(t, os.Chmod(filepath.Join(dir, "bootstrap"), 0o700))
				return dir
			},
			same: true,
		},
		{
			name:   "same files in another folder",
			change: func(t *testing.T, dir string) string { return makeTree(t, sampleTree) },
			same:   true,
		},
		{
			name: "content changed",
			change: func(t *testing.T, dir string) string {
				mustDo(t, os.WriteFile(filepath.Join(dir, "config/deep/x.txt"), []byte("y"), 0o644))
				return dir
			},
		},
		{
			name: "executable bit dropped",
			change: func(t *testing.T, dir string) string {
				mustDo(t, os.Chmod(filepath.Join(dir, "bootstrap"), 0o644))
				return dir
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := makeTree(t, sampleTree)
			if got, _ := packSum(t, d, []string{"."}); got != first {
				t.Fatalf("fresh tree packed to %s, want %s", got, first)
			}
			got, _ := packSum(t, tt.change(t, d), []string{"."})
			if (got == first) != tt.same {
				t.Errorf("digest after change = %s, first = %s; want same = %v", got, first, tt.same)
			}
		})
	}
}

func TestPackHeaders(t *testing.T) {
	dir := makeTree(t, sampleTree)
	_, data := packSum(t, dir, []string{"."})
	zr, err := gzip.NewReader(bytes.NewReader(data))
	mustDo(t, err)
	if !zr.ModTime.IsZero() || zr.Name != "" {
		t.Errorf("gzip header has time %v and name %q, want neither", zr.ModTime, zr.Name)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		mustDo(t, err)
		names = append(names, hdr.Name)
		if hdr.ModTime.Unix() != 0 || hdr.Uid != 0 || hdr.Gid != 0 || hdr.Uname != "" || hdr.Gname != "" {
			t.Errorf("entry %s: mtime %v uid %d gid %d uname %q gname %q; want all zero", hdr.Name, hdr.ModTime, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname)
		}
	}
	want := []string{"bootstrap", "config/", "config/app.json", "config/deep/", "config/deep/x.txt", "empty/", "link-to-config",
		"node_modules/", "node_modules/.bin/", "node_modules/.bin/t", "node_modules/tool/", "node_modules/tool/cli.js"}
	if !slices.Equal(names, want) {
		t.Errorf("entries = %q\nwant %q", names, want)
	}
}

func TestPackSelectedFiles(t *testing.T) {
	dir := makeTree(t, sampleTree)
	_, data := packSum(t, dir, []string{"bootstrap"})
	s := setup(t)
	digest, _, err := s.Put(context.Background(), bytes.NewReader(data))
	mustDo(t, err)
	dest := filepath.Join(t.TempDir(), "out")
	mustDo(t, s.Extract(context.Background(), digest, dest))
	if got := listTree(t, dest); !slices.Equal(got, []string{"bootstrap"}) {
		t.Errorf("extracted %q, want just bootstrap", got)
	}
}

func TestPackRefuses(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		paths   []string
		wantErr string
	}{
		{"absolute symlink", map[string]string{"a": "@/etc/passwd"}, []string{"."}, "symlink a points outside the folder (to /etc/passwd)"},
		{"climbing symlink", map[string]string{"sub/a": "@../../x"}, []string{"."}, "symlink sub/a points outside the folder"},
		{"path outside", map[string]string{"a": "x"}, []string{"../a"}, `"../a" is not inside the folder`},
		{"missing path", map[string]string{"a": "x"}, []string{"bootstrap"}, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Pack(io.Discard, makeTree(t, tt.files), tt.paths)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Pack error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestPutOpenHas(t *testing.T) {
	s := setup(t)
	ctx := context.Background()
	data := []byte("hello artifact")
	sum := sha256.Sum256(data)
	want := "sha256:" + hex.EncodeToString(sum[:])

	d1, n1, err := s.Put(ctx, bytes.NewReader(data))
	mustDo(t, err)
	if d1 != want || n1 != int64(len(data)) {
		t.Fatalf("Put = %s, %d; want %s, %d", d1, n1, want, len(data))
	}
	stored := filepath.Join(s.Dir(), "sha256", want[7:9], want[7:])
	before, err := os.Stat(stored)
	if err != nil {
		t.Fatalf("artifact not at %s: %v", stored, err)
	}
	time.Sleep(10 * time.Millisecond)
	d2, n2, err := s.Put(ctx, bytes.NewReader(data))
	mustDo(t, err)
	if d2 != d1 || n2 != n1 {
		t.Errorf("second Put = %s, %d; want %s, %d", d2, n2, d1, n1)
	}
	after, err := os.Stat(stored)
	mustDo(t, err)
	if !os.SameFile(before, after) {
		t.Errorf("second Put rewrote the stored file")
	}
	if !after.ModTime().After(before.ModTime()) {
		t.Errorf("second Put left the stored file's time at %v: GC would not see it was just used", after.ModTime())
	}
	if left := tempFiles(t, s); len(left) > 0 {
		t.Errorf("temporary files left behind: %q", left)
	}

	if !s.Has(d1) {
		t.Errorf("Has(%s) = false after Put", d1)
	}
	rc, err := s.Open(d1)
	mustDo(t, err)
	got, err := io.ReadAll(rc)
	rc.Close()
	mustDo(t, err)
	if !bytes.Equal(got, data) {
		t.Errorf("Open read %q, want %q", got, data)
	}

	missing := "sha256:" + strings.Repeat("ab", 32)
	if s.Has(missing) {
		t.Errorf("Has(%s) = true for bytes never stored", missing)
	}
	if _, err := s.Open(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(missing) error = %v, want fs.ErrNotExist", err)
	}
}

func TestDigestValidation(t *testing.T) {
	s := setup(t)
	tests := []struct {
		name   string
		digest string
	}{
		{"traversal", "../x"},
		{"traversal after prefix", "sha256:../../../../etc/passwd"},
		{"no prefix", strings.Repeat("ab", 32)},
		{"other algorithm", "md5:" + strings.Repeat("ab", 16)},
		{"upper-case hex", "sha256:" + strings.Repeat("AB", 32)},
		{"too short", "sha256:abcdef"},
		{"too long", "sha256:" + strings.Repeat("ab", 33)},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseDigest(tt.digest); err == nil || !strings.Contains(err.Error(), "invalid artifact digest") {
				t.Errorf("ParseDigest(%q) error = %v, want invalid artifact digest", tt.digest, err)
			}
			if _, err := s.Open(tt.digest); err == nil || !strings.Contains(err.Error(), "invalid artifact digest") {
				t.Errorf("Open(%q) error = %v", tt.digest, err)
			}
			if s.Has(tt.digest) {
				t.Errorf("Has(%q) = true", tt.digest)
			}
			if err := s.Extract(context.Background(), tt.digest, t.TempDir()); err == nil {
				t.Errorf("Extract(%q) succeeded", tt.digest)
			}
		})
	}
}

func TestPutCanceled(t *testing.T) {
	s := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := s.Put(ctx, strings.NewReader("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Put error = %v, want context.Canceled", err)
	}
	if left := tempFiles(t, s); len(left) > 0 {
		t.Errorf("temporary files left behind: %q", left)
	}
}

func TestExtractRoundTrip(t *testing.T) {
	src := makeTree(t, sampleTree)
	_, data := packSum(t, src, []string{"."})
	s := setup(t)
	digest, size, err := s.Put(context.Background(), bytes.NewReader(data))
	mustDo(t, err)
	if size != int64(len(data)) {
		t.Errorf("size = %d, want %d", size, len(data))
	}
	dest := filepath.Join(t.TempDir(), "run", "v1")
	mustDo(t, s.Extract(context.Background(), digest, dest))

	if got, want := listTree(t, dest), listTree(t, src); !slices.Equal(got, want) {
		t.Fatalf("extracted %q\nwant %q", got, want)
	}
	for name, content := range sampleTree {
		name = strings.TrimSuffix(name, "*")
		p := filepath.Join(dest, name)
		fi, err := os.Lstat(p)
		mustDo(t, err)
		switch {
		case strings.HasSuffix(name, "/"):
			if !fi.IsDir() {
				t.Errorf("%s is not a folder", name)
			}
		case strings.HasPrefix(content, "@"):
			target, err := os.Readlink(p)
			mustDo(t, err)
			if target != content[1:] {
				t.Errorf("%s links to %q, want %q", name, target, content[1:])
			}
		default:
			got, err := os.ReadFile(p)
			mustDo(t, err)
			if string(got) != content {
				t.Errorf("%s = %q, want %q", name, got, content)
			}
			wantExec := strings.HasSuffix(name, "bootstrap") || strings.HasSuffix(name, "cli.js")
			if exec := fi.Mode().Perm()&0o111 != 0; exec != wantExec {
				t.Errorf("%s mode %v, want executable = %v", name, fi.Mode(), wantExec)
			}
		}
	}
	// The extracted tree packs to the same artifact.
	if again, _ := packSum(t, dest, []string{"."}); "sha256:"+again != digest {
		t.Errorf("extracted tree packs to sha256:%s, want %s", again, digest)
	}
}

// rawEntry is one entry of a hand-made (possibly hostile) archive.
type rawEntry struct {
	name, link, body string
	typ              byte
}

func rawArchive(t *testing.T, entries []rawEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body))}
		if e.typ != tar.TypeReg {
			hdr.Size = 0
		}
		mustDo(t, tw.WriteHeader(hdr))
		if hdr.Size > 0 {
			_, err := tw.Write([]byte(e.body))
			mustDo(t, err)
		}
	}
	mustDo(t, tw.Close())
	mustDo(t, zw.Close())
	return buf.Bytes()
}

func TestExtractRefusesTraversal(t *testing.T) {
	tests := []struct {
		name    string
		entries []rawEntry
		wantErr string
	}{
		{"absolute path", []rawEntry{{name: "/tmp/evil", body: "x", typ: tar.TypeReg}}, `entry "/tmp/evil" has an absolute path`},
		{"dot-dot", []rawEntry{{name: "../evil", body: "x", typ: tar.TypeReg}}, `entry "../evil" climbs out with ".."`},
		{"dot-dot inside", []rawEntry{{name: "a/../../evil", body: "x", typ: tar.TypeReg}}, `climbs out`},
		{"absolute symlink", []rawEntry{{name: "evil", link: "/etc/passwd", typ: tar.TypeSymlink}}, `entry "evil" is a symlink to "/etc/passwd", outside the destination`},
		{"climbing symlink", []rawEntry{{name: "a/evil", link: "../../x", typ: tar.TypeSymlink}}, `is a symlink to "../../x", outside`},
		{"write through symlink", []rawEntry{
			{name: "sub/", typ: tar.TypeDir},
			{name: "d", link: "sub", typ: tar.TypeSymlink},
			{name: "d/x", body: "x", typ: tar.TypeReg},
		}, `entry "d/x" lies inside symlink "d"`},
		{"symlink chain", []rawEntry{
			{name: "s1", link: ".", typ: tar.TypeSymlink},
			{name: "s2", link: "s1/..", typ: tar.TypeSymlink},
		}, `symlink "s2" leads outside the destination (through other symlinks)`},
		{"symlink chain created in reverse", []rawEntry{
			{name: "s2", link: "s1/..", typ: tar.TypeSymlink},
			{name: "s1", link: ".", typ: tar.TypeSymlink},
		}, `symlink "s2" leads outside`},
		{"hard link", []rawEntry{{name: "h", link: "/etc/passwd", typ: tar.TypeLink}}, `entry "h" has type "1"; only files, folders and symlinks are allowed`},
		{"device", []rawEntry{{name: "dev", typ: tar.TypeChar}}, `only files, folders and symlinks`},
		{"duplicate file", []rawEntry{{name: "a", body: "1", typ: tar.TypeReg}, {name: "a", body: "2", typ: tar.TypeReg}}, `entry "a": open`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := setup(t)
			digest, _, err := s.Put(context.Background(), bytes.NewReader(rawArchive(t, tt.entries)))
			mustDo(t, err)
			parent := t.TempDir()
			dest := filepath.Join(parent, "a", "b", "dest")
			err = s.Extract(context.Background(), digest, dest)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Extract error = %v, want it to contain %q", err, tt.wantErr)
			}
			if _, err := os.Stat(dest); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("destination left behind after a refused extract (stat: %v)", err)
			}
			for _, p := range []string{filepath.Join(parent, "evil"), filepath.Join(parent, "a", "evil"), filepath.Join(parent, "a", "b", "evil"), "/tmp/evil"} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("%s was written outside the destination", p)
				}
			}
		})
	}
}

func TestExtractCanceled(t *testing.T) {
	src := makeTree(t, sampleTree)
	_, data := packSum(t, src, []string{"."})
	s := setup(t)
	digest, _, err := s.Put(context.Background(), bytes.NewReader(data))
	mustDo(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Extract(ctx, digest, filepath.Join(t.TempDir(), "x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Extract error = %v, want context.Canceled", err)
	}
}

func TestExtractNotGzip(t *testing.T) {
	s := setup(t)
	digest, _, err := s.Put(context.Background(), strings.NewReader("not an archive"))
	mustDo(t, err)
	err = s.Extract(context.Background(), digest, filepath.Join(t.TempDir(), "x"))
	if err == nil || !strings.Contains(err.Error(), "not a gzip'd tar") {
		t.Errorf("Extract error = %v, want not a gzip'd tar", err)
	}
}

// listTree lists every path under dir, folders with a trailing slash.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	mustDo(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			rel += "/"
		}
		out = append(out, rel)
		return nil
	}))
	return out
}

func tempFiles(t *testing.T, s *Store) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(s.Dir(), ".put-*"))
	mustDo(t, err)
	return m
}
