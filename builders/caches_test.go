package builders

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/minio/minio-go/v7"

	"github.com/seedbed/seedbed/builders/artifact"
	"github.com/seedbed/seedbed/builders/buildcache"
	"github.com/seedbed/seedbed/testutil"
)

// goProxy writes a module proxy (GOPROXY=file://...) serving one module,
// example.com/greet v1.0.0, and returns its URL.
func goProxy(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "proxy")
	v := filepath.Join(dir, "example.com", "greet", "@v")
	if err := os.MkdirAll(v, 0o755); err != nil {
		t.Fatal(err)
	}
	gomod := "module example.com/greet\n\ngo 1.22\n"
	writeFiles(t, v, map[string]string{
		"list":        "v1.0.0\n",
		"v1.0.0.info": `{"Version":"v1.0.0","Time":"2026-01-01T00:00:00Z"}`,
		"v1.0.0.mod":  gomod,
	})
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range map[string]string{
		"go.mod":   gomod,
		"greet.go": "package greet\n\n// Hello greets.\nfunc Hello() string { return \"hello from a module\" }\n",
	} {
		w, err := zw.Create("example.com/greet@v1.0.0/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v, "v1.0.0.zip"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return "file://" + dir
}

// greetApp is a go service that needs example.com/greet. Its build
// command is DefaultGoBuild with -v: go prints each package it compiles,
// and none it finds in its build cache.
var greetApp = map[string]string{
	"seedbed.yml": `services:
  api:
    path: .
    runtime: go
    build: go build -v -trimpath -buildvcs=false -ldflags="-s -w -buildid=" -o bootstrap .
    functions:
      hello:
        routes: ["GET /hello"]
`,
	"go.mod":  "module example.com/api\n\ngo 1.22\n\nrequire example.com/greet v1.0.0\n",
	"main.go": "package main\n\nimport \"example.com/greet\"\n\nfunc main() { println(greet.Hello()) }\n",
}

// TestSharedCaches builds one app on two "machines" (builders with caches
// and markers of their own) that share a bucket of a real S3 server.
func TestSharedCaches(t *testing.T) {
	srv := testutil.S3(t)
	ctx := context.Background()
	bucket, err := artifact.OpenBucket(ctx, artifact.BucketConfig{URL: "s3://seedbed-caches/prod", Endpoint: srv.Endpoint,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, CacheDir: filepath.Join(t.TempDir(), "artifact-cache")})
	if err != nil {
		t.Fatal(err)
	}
	proxy := goProxy(t)
	// machine is one Seedbed machine: its own data dir, the shared bucket.
	type machine struct {
		builder *Builder
		cache   string
	}
	newMachine := func(t *testing.T, goproxy string, user ...*User) machine {
		t.Helper()
		data := t.TempDir()
		var u *User
		if len(user) > 0 {
			// Other users pass through it, as through a data dir of
			// builds that run as the apps' own users; t.TempDir()'s
			// parent is closed to them.
			u = user[0]
			var err error
			if data, err = os.MkdirTemp("", "seedbed-caches-"); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { removeAll(data) })
			if err := os.Chmod(data, 0o711); err != nil {
				t.Fatal(err)
			}
		}
		caches, err := buildcache.New(buildcache.Config{Objects: bucket.Area("build-cache"), Dir: filepath.Join(data, "build-cache")})
		if err != nil {
			t.Fatal(err)
		}
		env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Join(data, "home"), "GOENV=off", "GOTOOLCHAIN=local",
			"GOPROXY=" + goproxy, "GOSUMDB=off"}
		b := New(Config{Artifacts: bucket, CacheDir: filepath.Join(data, "cache"), WorkDir: filepath.Join(data, "work"), Env: env, SharedCaches: caches, User: u})
		t.Cleanup(func() { b.Close() })
		if err := b.Check(ctx); err != nil {
			t.Fatal(err)
		}
		return machine{builder: b, cache: filepath.Join(data, "cache")}
	}
	co, st := fetchAndParse(t, newRepo(t, greetApp))
	build := func(t *testing.T, m machine, app string, id uint) (*testLog, time.Duration, error) {
		t.Helper()
		log := &testLog{}
		start := time.Now()
		_, err := m.builder.BuildWith(ctx, BuildOptions{Dir: co.Dir, Stack: st, CacheKey: app, AppID: id}, log)
		return log, time.Since(start), err
	}

	// Machine one builds cold: it downloads the module, compiles
	// everything, and saves both caches.
	one := newMachine(t, proxy)
	log, took, err := build(t, one, "shop", 1)
	if err != nil {
		t.Fatalf("first build: %v\n%s", err, log)
	}
	t.Logf("cold build on machine one: %s", took.Round(time.Millisecond))
	mustLog(t, log, "seedbed", "No shared go build cache for shop yet")
	mustLog(t, log, "stderr", "go: downloading example.com/greet v1.0.0")
	mustLog(t, log, "stderr", "example.com/greet")
	mustLog(t, log, "seedbed", "Saving the go build cache (")
	mustLog(t, log, "seedbed", "Saved the go build cache to s3://seedbed-caches/prod/build-cache/shop/go.tar.zst at "+srv.Endpoint)
	client, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	info, err := client.StatObject(ctx, "seedbed-caches", "prod/build-cache/shop/go.tar.zst", minio.StatObjectOptions{})
	if err != nil {
		t.Fatalf("the snapshot is not in the bucket: %v", err)
	}
	t.Logf("snapshot: %d bytes compressed", info.Size)

	t.Run("another machine restores it and builds offline from it", func(t *testing.T) {
		// GOPROXY=off: without the restored module cache the build
		// cannot even resolve example.com/greet.
		two := newMachine(t, "off")
		log, took, err := build(t, two, "shop", 1)
		if err != nil {
			t.Fatalf("build on machine two: %v\n%s", err, log)
		}
		t.Logf("build on machine two after the restore: %s", took.Round(time.Millisecond))
		mustLog(t, log, "seedbed", "Restoring the go build cache from s3://seedbed-caches/prod/build-cache/shop/go.tar.zst")
		mustLog(t, log, "seedbed", "Restored the go build cache: ")
		if log.has("stderr", "go: downloading") || log.has("stderr", "example.com/greet") || log.has("stderr", "runtime") {
			t.Errorf("machine two downloaded or compiled what the restored cache holds:\n%s", log)
		}
		// Go indexes a module by where its files are, so the first
		// build on a machine adds an entry or so, and saves it. The next
		// neither downloads nor saves anything.
		log, _, err = build(t, two, "shop", 1)
		if err != nil {
			t.Fatal(err)
		}
		mustLog(t, log, "seedbed", "The go build cache here is the shared one")
		mustLog(t, log, "seedbed", "The go build cache did not change: not saved again.")
	})

	t.Run("another app gets nothing", func(t *testing.T) {
		two := newMachine(t, "off")
		log, _, err := build(t, two, "blog", 2)
		if err == nil {
			t.Fatalf("blog built offline: it was given shop's module cache\n%s", log)
		}
		mustLog(t, log, "seedbed", "No shared go build cache for blog yet")
		if _, err := os.Stat(filepath.Join(two.cache, "go", "blog", "mod", "example.com")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("blog's module cache holds shop's module (%v)", err)
		}
	})

	t.Run("a crafted snapshot is refused and the build goes on cold", func(t *testing.T) {
		// Someone with write access to the bucket replaces shop's
		// snapshot with one that writes outside and plants a symlink.
		evil := craftSnapshot(t, `{"format":1,"app":"shop","app_id":1,"toolchain":"go"}`,
			tar.Header{Typeflag: tar.TypeSymlink, Name: "build", Linkname: "/etc"},
			tar.Header{Typeflag: tar.TypeReg, Name: "../../escaped", Mode: 0o4755, Size: 5})
		if _, err := client.PutObject(ctx, "seedbed-caches", "prod/build-cache/shop/go.tar.zst", bytes.NewReader(evil), int64(len(evil)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		three := newMachine(t, proxy)
		log, _, err := build(t, three, "shop", 1)
		if err != nil {
			t.Fatalf("a refused cache failed the build: %v\n%s", err, log)
		}
		mustLog(t, log, "seedbed", `Could not restore the shared go build cache: snapshot refused: entry "build" is a symlink (to "/etc"); snapshots hold only files and folders. This build goes on with what this machine has.`)
		mustLog(t, log, "stderr", "go: downloading example.com/greet v1.0.0")
		data := filepath.Dir(three.cache)
		for _, p := range []string{filepath.Join(data, "escaped"), filepath.Join(three.cache, "escaped"), filepath.Join(three.cache, "go", "escaped")} {
			if _, err := os.Lstat(p); err == nil {
				t.Errorf("the crafted snapshot wrote %s", p)
			}
		}
		if fi, err := os.Lstat(filepath.Join(three.cache, "go", "shop", "build")); err != nil || !fi.IsDir() {
			t.Errorf("shop's build cache: %v, %v; want the folder the build made", fi, err)
		}
		// The cold build saved a good snapshot over it: the last
		// writer wins.
		mustLog(t, log, "seedbed", "Saved the go build cache to ")
	})

	t.Run("builds that run as the app's own user get what is restored", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skipf("builds switch users only when Seedbed runs as root; this test runs as uid %d", os.Geteuid())
		}
		base, err := ResolveUser(UserAuto)
		if err != nil {
			t.Fatal(err)
		}
		four := newMachine(t, "off", base)
		log, _, err := build(t, four, "shop", 1)
		if err != nil {
			t.Fatalf("build as the app's user from the restored cache: %v\n%s", err, log)
		}
		mustLog(t, log, "seedbed", "Restored the go build cache: ")
		mustLog(t, log, "seedbed", fmt.Sprintf("uid %d", AppIDBase+1))
		for _, p := range []string{"build", "build/README", "mod/example.com/greet@v1.0.0/greet.go"} {
			fi, err := os.Lstat(filepath.Join(four.cache, "go", "shop", p))
			if err != nil {
				t.Fatal(err)
			}
			if uid, _, ok := ownerOf(fi); !ok || uid != AppIDBase+1 {
				t.Errorf("%s is uid %d's, want the app user's, %d", p, uid, AppIDBase+1)
			}
		}
	})
}

// craftSnapshot writes a zstd tar with header as its first entry and
// then entries, each with body "pwned" when it has a size.
func craftSnapshot(t *testing.T, header string, entries ...tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(zw)
	all := append([]tar.Header{{Typeflag: tar.TypeReg, Name: ".seedbed-cache.json", Mode: 0o600, Size: int64(len(header))}}, entries...)
	for i, h := range all {
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		body := "pwned"[:min(h.Size, 5)]
		if i == 0 {
			body = header
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
