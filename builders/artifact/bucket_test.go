package artifact

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/seedbed/seedbed/testutil"
)

func TestParseBucketURL(t *testing.T) {
	tests := []struct {
		name, url            string
		bucket, prefix, errs string
	}{
		{name: "bucket only", url: "s3://artifacts", bucket: "artifacts"},
		{name: "with prefix", url: "s3://artifacts/seedbed/prod/", bucket: "artifacts", prefix: "seedbed/prod/"},
		{name: "prefix without slash", url: "s3://my.bucket-1/x", bucket: "my.bucket-1", prefix: "x/"},
		{name: "not s3", url: "https://artifacts/x", errs: "want s3://BUCKET"},
		{name: "no bucket", url: "s3:///x", errs: "want s3://BUCKET"},
		{name: "upper case bucket", url: "s3://Artifacts", errs: `"Artifacts" is not a bucket name`},
		{name: "credentials in URL", url: "s3://key:secret@artifacts", errs: "SEEDBED_S3_ACCESS_KEY"},
		{name: "dot-dot prefix", url: "s3://artifacts/a/../b", errs: "has an empty, . or .. part"},
		{name: "empty part", url: "s3://artifacts/a//b", errs: "has an empty, . or .. part"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bucket, prefix, err := ParseBucketURL(tt.url)
			if tt.errs != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errs) {
					t.Fatalf("ParseBucketURL(%q) error = %v, want it to contain %q", tt.url, err, tt.errs)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("the error repeats the secret: %v", err)
				}
				return
			}
			if err != nil || bucket != tt.bucket || prefix != tt.prefix {
				t.Fatalf("ParseBucketURL(%q) = %q, %q, %v; want %q, %q", tt.url, bucket, prefix, err, tt.bucket, tt.prefix)
			}
		})
	}
}

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		in, host string
		secure   bool
		bad      bool
	}{
		{in: "", host: "s3.amazonaws.com", secure: true},
		{in: "http://127.0.0.1:8333", host: "127.0.0.1:8333"},
		{in: "https://s3.example.com", host: "s3.example.com", secure: true},
		{in: "minio.internal:9000", host: "minio.internal:9000", secure: true},
		{in: "ftp://x", bad: true},
		{in: "http://x/path", bad: true},
		{in: "http://user:pw@x", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			host, secure, err := parseEndpoint(tt.in)
			if tt.bad {
				if err == nil || strings.Contains(err.Error(), "pw@") {
					t.Fatalf("parseEndpoint(%q) error = %v, want a refusal without the password", tt.in, err)
				}
				return
			}
			if err != nil || host != tt.host || secure != tt.secure {
				t.Fatalf("parseEndpoint(%q) = %q, %v, %v; want %q, %v", tt.in, host, secure, err, tt.host, tt.secure)
			}
		})
	}
}

// TestBucket runs the bucket store against a real S3 server (SeaweedFS),
// one bucket per case.
func TestBucket(t *testing.T) {
	srv := testutil.S3(t)
	client, err := srv.Client()
	mustDo(t, err)
	ctx := context.Background()
	n := 0
	open := func(t *testing.T) (*Bucket, string) {
		t.Helper()
		n++
		name := "seedbed-test-" + string(rune('a'+n))
		b, err := OpenBucket(ctx, BucketConfig{URL: "s3://" + name + "/builds", Endpoint: srv.Endpoint,
			AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, CacheDir: filepath.Join(t.TempDir(), "cache")})
		if err != nil {
			t.Fatal(err)
		}
		return b, name
	}
	src := makeTree(t, sampleTree)
	sum, data := packSum(t, src, []string{"."})
	digest := DigestPrefix + sum

	t.Run("put, has, extract", func(t *testing.T) {
		b, name := open(t)
		d, size, err := b.Put(ctx, bytes.NewReader(data))
		mustDo(t, err)
		if d != digest || size != int64(len(data)) {
			t.Fatalf("Put = %s, %d; want %s, %d", d, size, digest, len(data))
		}
		h, _ := ParseDigest(d)
		info, err := client.StatObject(ctx, name, "builds/sha256/"+h[:2]+"/"+h, minio.StatObjectOptions{})
		if err != nil || info.Size != size {
			t.Fatalf("the bucket's object: %+v, %v; want %d bytes at builds/sha256/%s/%s", info, err, size, h[:2], h)
		}
		if !b.Has(d) {
			t.Error("Has = false after Put")
		}
		// Another machine: an empty cache fetches from the bucket.
		mustDo(t, os.Remove(b.cache.path(h)))
		dest := filepath.Join(t.TempDir(), "out")
		mustDo(t, b.Extract(ctx, d, dest))
		if got, want := listTree(t, dest), listTree(t, src); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("extracted %v, want %v", got, want)
		}
		if !b.cache.Has(d) {
			t.Error("the fetched artifact is not in the local cache")
		}
		rc, err := b.Open(ctx, d)
		mustDo(t, err)
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, data) {
			t.Error("Open returned other bytes than were put")
		}
	})

	t.Run("missing artifact", func(t *testing.T) {
		b, _ := open(t)
		missing := DigestPrefix + strings.Repeat("ab", 32)
		if b.Has(missing) {
			t.Error("Has = true for an artifact never put")
		}
		err := b.Extract(ctx, missing, filepath.Join(t.TempDir(), "out"))
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "is not in s3://") {
			t.Errorf("Extract error = %v, want not in the bucket (fs.ErrNotExist)", err)
		}
		if err := b.Extract(ctx, "sha256:../../etc", t.TempDir()); err == nil || !strings.Contains(err.Error(), "invalid artifact digest") {
			t.Errorf("Extract of a bad digest: %v", err)
		}
	})

	t.Run("tampered object is refused", func(t *testing.T) {
		b, name := open(t)
		d, _, err := b.Put(ctx, bytes.NewReader(data))
		mustDo(t, err)
		h, _ := ParseDigest(d)
		// Someone with write access to the bucket swaps the bytes for an
		// archive of their own.
		evil := makeTree(t, map[string]string{"bootstrap*": "#!/bin/sh\necho owned\n"})
		_, evilData := packSum(t, evil, []string{"."})
		_, err = client.PutObject(ctx, name, "builds/sha256/"+h[:2]+"/"+h, bytes.NewReader(evilData), int64(len(evilData)), minio.PutObjectOptions{})
		mustDo(t, err)
		mustDo(t, os.Remove(b.cache.path(h)))
		dest := filepath.Join(t.TempDir(), "out")
		err = b.Extract(ctx, d, dest)
		if !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), "changed after they were stored") {
			t.Fatalf("Extract of a tampered object: %v; want ErrDigestMismatch", err)
		}
		if _, err := os.Stat(dest); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("files of the tampered object were unpacked (stat %s: %v)", dest, err)
		}
		if b.cache.Has(d) {
			t.Error("the tampered bytes were kept in the local cache")
		}
		// Putting the real bytes again repairs the object.
		_, _, err = b.Put(ctx, bytes.NewReader(data))
		mustDo(t, err)
		mustDo(t, os.Remove(b.cache.path(h)))
		mustDo(t, b.Extract(ctx, d, filepath.Join(t.TempDir(), "again")))
	})

	t.Run("tampered cache copy is refused", func(t *testing.T) {
		b, _ := open(t)
		d, _, err := b.Put(ctx, bytes.NewReader(data))
		mustDo(t, err)
		h, _ := ParseDigest(d)
		p := b.cache.path(h)
		mustDo(t, os.Chmod(p, 0o644))
		evil := makeTree(t, map[string]string{"bootstrap*": "#!/bin/sh\necho owned\n"})
		_, evilData := packSum(t, evil, []string{"."})
		mustDo(t, os.WriteFile(p, evilData, 0o444))
		dest := filepath.Join(t.TempDir(), "out")
		if err := b.Extract(ctx, d, dest); !errors.Is(err, ErrDigestMismatch) {
			t.Fatalf("Extract of a tampered cached copy: %v; want ErrDigestMismatch", err)
		}
		if _, err := os.Stat(dest); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("files of the tampered copy were left (stat %s: %v)", dest, err)
		}
	})

	t.Run("put again refreshes the time", func(t *testing.T) {
		b, name := open(t)
		d, _, err := b.Put(ctx, bytes.NewReader(data))
		mustDo(t, err)
		h, _ := ParseDigest(d)
		key := "builds/sha256/" + h[:2] + "/" + h
		before, err := client.StatObject(ctx, name, key, minio.StatObjectOptions{})
		mustDo(t, err)
		time.Sleep(1100 * time.Millisecond) // S3 times have whole seconds
		_, _, err = b.Put(ctx, bytes.NewReader(data))
		mustDo(t, err)
		after, err := client.StatObject(ctx, name, key, minio.StatObjectOptions{})
		mustDo(t, err)
		if !after.LastModified.After(before.LastModified) {
			t.Errorf("LastModified %s after the second Put, %s before: GC would not see it as fresh", after.LastModified, before.LastModified)
		}
		rc, err := b.Open(ctx, d)
		mustDo(t, err)
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, data) {
			t.Error("the refreshed object has other bytes")
		}
	})

	t.Run("gc", func(t *testing.T) {
		b, name := open(t)
		kept, _, err := b.Put(ctx, strings.NewReader("kept: a live release names it"))
		mustDo(t, err)
		old, _, err := b.Put(ctx, strings.NewReader("old: nothing names it"))
		mustDo(t, err)
		// Not ours: GC leaves other objects under the prefix alone.
		_, err = client.PutObject(ctx, name, "builds/sha256/zz/notes.txt", strings.NewReader("x"), 1, minio.PutObjectOptions{})
		mustDo(t, err)
		// S3 times are whole seconds (cut, not rounded): fresh must be more
		// than a second younger than grace allows for, old older.
		time.Sleep(2600 * time.Millisecond)
		fresh, _, err := b.Put(ctx, strings.NewReader("fresh: a build in progress stored it"))
		mustDo(t, err)
		keep := func(d string) bool { return d == kept }
		grace := 1500 * time.Millisecond

		res, err := b.GC(ctx, keep, grace, true)
		mustDo(t, err)
		if res.Removed != 1 || res.Digests[0] != old || !b.Has(old) {
			t.Fatalf("dry run: %+v, Has(old) = %v; want old counted and left", res, b.Has(old))
		}
		res, err = b.GC(ctx, keep, grace, false)
		mustDo(t, err)
		if res.Removed != 1 || res.Digests[0] != old || res.Kept != 2 {
			t.Fatalf("GC = %+v; want old removed, kept and fresh kept", res)
		}
		if b.Has(old) || !b.Has(kept) || !b.Has(fresh) {
			t.Errorf("after GC: Has(old) %v, Has(kept) %v, Has(fresh) %v", b.Has(old), b.Has(kept), b.Has(fresh))
		}
		if b.cache.Has(old) || !b.cache.Has(kept) {
			t.Errorf("local cache after GC: old %v (want gone), kept %v", b.cache.Has(old), b.cache.Has(kept))
		}
		if _, err := client.StatObject(ctx, name, "builds/sha256/zz/notes.txt", minio.StatObjectOptions{}); err != nil {
			t.Errorf("GC removed an object that is not an artifact: %v", err)
		}
	})

	t.Run("area list and delete", func(t *testing.T) {
		b, name := open(t)
		a := b.Area("tls")
		for _, n := range []string{"certificates/ca/a.example.com/a.crt", "certificates/ca/a.example.com/a.key", "certificates/ca/b.example.com/b.crt", "certificates/cab.crt", "acme/x.json"} {
			_, err := a.Put(ctx, n, strings.NewReader(n), int64(len(n)))
			mustDo(t, err)
		}
		// Beside the Area: its listing and deletes never reach these.
		_, err := client.PutObject(ctx, name, "builds/tlsx/other.crt", strings.NewReader("x"), 1, minio.PutObjectOptions{})
		mustDo(t, err)
		names := func(objs []AreaObject) []string {
			var out []string
			for _, o := range objs {
				out = append(out, o.Name)
			}
			return out
		}
		all, err := a.List(ctx, "", true)
		mustDo(t, err)
		want := []string{"acme/x.json", "certificates/ca/a.example.com/a.crt", "certificates/ca/a.example.com/a.key", "certificates/ca/b.example.com/b.crt", "certificates/cab.crt"}
		if got := names(all); !slices.Equal(got, want) {
			t.Fatalf("List recursive = %v, want %v", got, want)
		}
		if all[1].Size != int64(len(want[1])) || all[1].Modified.IsZero() || all[1].ETag == "" {
			t.Errorf("a listed object's info: %+v", all[1])
		}
		top, err := a.List(ctx, "certificates/ca/", false)
		mustDo(t, err)
		if got, want := names(top), []string{"certificates/ca/a.example.com/", "certificates/ca/b.example.com/"}; !slices.Equal(got, want) {
			t.Fatalf("List not recursive = %v, want %v", got, want)
		}
		mustDo(t, a.Delete(ctx, "certificates/ca/a.example.com/a.crt", "certificates/ca/a.example.com/a.key", "not/there"))
		mustDo(t, a.Delete(ctx, "certificates/cab.crt"))
		mustDo(t, a.Delete(ctx, "certificates/cab.crt")) // gone already: no error
		left, err := a.List(ctx, "certificates/", true)
		mustDo(t, err)
		if got, want := names(left), []string{"certificates/ca/b.example.com/b.crt"}; !slices.Equal(got, want) {
			t.Fatalf("after Delete: %v, want %v", got, want)
		}
		if _, err := client.StatObject(ctx, name, "builds/tlsx/other.crt", minio.StatObjectOptions{}); err != nil {
			t.Errorf("an object beside the Area is gone: %v", err)
		}
		for _, bad := range []string{"../sha256/ab/x", "certificates/../../sha256/x", "a//b", "./a", "", "a\\b", "a/\x00"} {
			if _, err := a.Put(ctx, bad, strings.NewReader("x"), 1); err == nil {
				t.Errorf("Put(%q) was accepted", bad)
			}
			if _, err := a.Stat(ctx, bad); err == nil || errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Stat(%q) = %v, want a refusal", bad, err)
			}
			if err := a.Delete(ctx, bad); err == nil {
				t.Errorf("Delete(%q) was accepted", bad)
			}
		}
		if _, err := a.List(ctx, "../", true); err == nil {
			t.Error("List(\"../\") was accepted")
		}
	})

	t.Run("bad credentials", func(t *testing.T) {
		_, err := OpenBucket(ctx, BucketConfig{URL: "s3://seedbed-test-creds", Endpoint: srv.Endpoint,
			AccessKey: srv.AccessKey, SecretKey: "wrong-secret", CacheDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), "check --s3-endpoint, the credentials") {
			t.Fatalf("OpenBucket with a wrong secret: %v", err)
		}
		if strings.Contains(err.Error(), "wrong-secret") {
			t.Errorf("the error repeats the secret: %v", err)
		}
		_, err = OpenBucket(ctx, BucketConfig{URL: "s3://seedbed-test-creds", Endpoint: srv.Endpoint, CacheDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), "SEEDBED_S3_SECRET_KEY") {
			t.Fatalf("OpenBucket without credentials: %v", err)
		}
	})
}

func TestStoreRefusesTamperedFile(t *testing.T) {
	s := setup(t)
	src := makeTree(t, sampleTree)
	_, data := packSum(t, src, []string{"."})
	d, _, err := s.Put(context.Background(), bytes.NewReader(data))
	mustDo(t, err)
	h, _ := ParseDigest(d)
	evil := makeTree(t, map[string]string{"bootstrap*": "#!/bin/sh\necho owned\n"})
	_, evilData := packSum(t, evil, []string{"."})
	mustDo(t, os.Chmod(s.path(h), 0o644))
	mustDo(t, os.WriteFile(s.path(h), evilData, 0o444))
	dest := filepath.Join(t.TempDir(), "out")
	err = s.Extract(context.Background(), d, dest)
	if !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), "the stored bytes hash to sha256:") {
		t.Fatalf("Extract of a changed file: %v; want ErrDigestMismatch", err)
	}
	if _, err := os.Stat(dest); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the changed file's files were left in %s (stat: %v)", dest, err)
	}
}

// BenchmarkExtract unpacks a 4 MiB tree (a stand-in for a Go binary:
// 2 MiB of random bytes and 2 MiB of text) from the local folder, from a
// bucket on a real S3 server (SeaweedFS on loopback) with an empty cache
// (fetch, check, unpack), and from the bucket's warm cache. Every case
// checks the digest.
func BenchmarkExtract(b *testing.B) {
	srv := testutil.S3(b)
	ctx := context.Background()
	noise := make([]byte, 2<<20)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(noise)
	dir := b.TempDir()
	mustDo(b, os.WriteFile(filepath.Join(dir, "bootstrap"), noise, 0o755))
	mustDo(b, os.WriteFile(filepath.Join(dir, "README.txt"), bytes.Repeat([]byte("seedbed artifact "), 2<<20/17), 0o644))
	var buf bytes.Buffer
	mustDo(b, Pack(&buf, dir, []string{"."}))
	local, err := New(filepath.Join(b.TempDir(), "artifacts"))
	mustDo(b, err)
	bucket, err := OpenBucket(ctx, BucketConfig{URL: "s3://seedbed-bench/a", Endpoint: srv.Endpoint,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, CacheDir: filepath.Join(b.TempDir(), "cache")})
	mustDo(b, err)
	digest, _, err := local.Put(ctx, bytes.NewReader(buf.Bytes()))
	mustDo(b, err)
	_, _, err = bucket.Put(ctx, bytes.NewReader(buf.Bytes()))
	mustDo(b, err)
	h, _ := ParseDigest(digest)
	b.Logf("artifact: %d bytes packed", buf.Len())
	for _, bc := range []struct {
		name string
		s    Storage
		cold bool
	}{{"local", local, false}, {"bucket-cold-cache", bucket, true}, {"bucket-warm-cache", bucket, false}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(buf.Len()))
			for i := 0; b.Loop(); i++ {
				if bc.cold {
					b.StopTimer()
					mustDo(b, os.Remove(bucket.cache.path(h)))
					b.StartTimer()
				}
				dest := filepath.Join(b.TempDir(), "out")
				mustDo(b, bc.s.Extract(ctx, digest, dest))
			}
		})
	}
}
