package main

import (
	"bytes"
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/seedbed/seedbed/builders/artifact"
	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web/apiv1"
)

// A serve with --artifact-store s3://… on a real S3 server (SeaweedFS):
// builds put their artifacts in the bucket and not in the data dir, the
// local target fetches them back by digest (verified) when its copies are
// gone, refuses an object someone changed, and gc prunes the bucket.
func TestArtifactStoreS3EndToEnd(t *testing.T) {
	t.Parallel()
	srv := testutil.S3(t)
	s3c, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	const bucket, prefix = "seedbed-e2e", "team/artifacts/"
	a := startAppWith(t, embedded, func(c *Config) {
		c.ArtifactStore = "s3://" + bucket + "/" + prefix
		c.S3Endpoint, c.S3AccessKey, c.S3SecretKey = srv.Endpoint, srv.AccessKey, srv.SecretKey
		c.Retention = pipelines.DefaultRetention()
		c.Retention.Releases = 2
	})
	ctx := context.Background()
	dataDir := a.cfg.DataDir
	key := func(digest string) string {
		h, err := artifact.ParseDigest(digest)
		if err != nil {
			t.Fatal(err)
		}
		return prefix + "sha256/" + h[:2] + "/" + h
	}
	inBucket := func(digest string) bool {
		_, err := s3c.StatObject(ctx, bucket, key(digest), minio.StatObjectOptions{})
		return err == nil
	}
	deployed := func(version string) (apiv1.Deploy, string) {
		t.Helper()
		d, b := a.deploy("shop", "dev", "")
		if d.Status != "succeeded" {
			t.Fatalf("deploy %s: %s: %s\n%s", version, d.Status, d.Error, a.logText("build", b.ID)+a.logText("deploy", d.ID))
		}
		if len(b.Artifacts) != 1 {
			t.Fatalf("build %d has artifacts %+v, want one", b.ID, b.Artifacts)
		}
		if code, body := a.get("/shop/dev/hello"); code != 200 || body != version+" hi /hello" {
			t.Fatalf("GET /shop/dev/hello after deploying %s = %d %q", version, code, body)
		}
		return d, b.Artifacts[0].Digest
	}
	// forget drops this machine's copies of digest, as on a machine that
	// never had it.
	forget := func(digest string) {
		t.Helper()
		h, _ := artifact.ParseDigest(digest)
		for _, p := range []string{filepath.Join(dataDir, "artifact-cache", "sha256", h[:2], h), filepath.Join(dataDir, "run", "artifacts", h)} {
			if err := os.RemoveAll(p); err != nil {
				t.Fatal(err)
			}
		}
	}

	repo := a.newAppRepo("shop")
	first, v1 := deployed("v1")
	if !inBucket(v1) {
		t.Fatalf("artifact %s is not in the bucket at %s", v1, key(v1))
	}
	// The data dir's artifacts folder stays empty: the build's copy is
	// in the artifact cache, the artifact in the bucket.
	_ = filepath.WalkDir(filepath.Join(dataDir, "artifacts"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("%s is in the data dir's artifacts folder although artifacts go to the bucket", p)
		}
		return nil
	})
	if h, _ := artifact.ParseDigest(v1); !fileExists(filepath.Join(dataDir, "artifact-cache", "sha256", h[:2], h)) {
		t.Errorf("the build left no copy of %s in the artifact cache", v1)
	}

	repo.Commit("v2", map[string]string{"services/api/main.go": goFunction("v2")})
	second, v2 := deployed("v2")

	// The v1 artifact comes back from the bucket for a rollback.
	forget(v1)
	d, err := a.api.Rollback(ctx, "shop", "dev", apiv1.RollbackRequest{ReleaseID: first.ReleaseID})
	if err != nil {
		t.Fatal(err)
	}
	if d = a.waitDeploy(d.ID); d.Status != "succeeded" {
		t.Fatalf("rollback to v1 with no local copy: %s: %s", d.Status, d.Error)
	}
	if code, body := a.get("/shop/dev/hello"); code != 200 || body != "v1 hi /hello" {
		t.Fatalf("after the rollback: %d %q", code, body)
	}

	if h, _ := artifact.ParseDigest(v1); !fileExists(filepath.Join(dataDir, "artifact-cache", "sha256", h[:2], h)) {
		t.Errorf("the rollback did not fetch %s into the artifact cache", v1)
	}

	// Someone with write access to the bucket swaps v2's bytes.
	evil := t.TempDir()
	if err := os.WriteFile(filepath.Join(evil, "bootstrap"), []byte("#!/bin/sh\necho owned\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := artifact.Pack(&buf, evil, []string{"."}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.PutObject(ctx, bucket, key(v2), bytes.NewReader(buf.Bytes()), int64(buf.Len()), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	forget(v2)
	d, err = a.api.Rollback(ctx, "shop", "dev", apiv1.RollbackRequest{ReleaseID: second.ReleaseID})
	if err != nil {
		t.Fatal(err)
	}
	if d = a.waitDeploy(d.ID); d.Status != "failed" || !strings.Contains(d.Error, "do not match their digest") {
		t.Fatalf("deploy of a tampered artifact: %s %q, want failed with a digest mismatch", d.Status, d.Error)
	}
	if code, body := a.get("/shop/dev/hello"); code != 200 || body != "v1 hi /hello" {
		t.Fatalf("after the refused deploy the stage answers %d %q, want v1 still", code, body)
	}

	repo.Commit("v3", map[string]string{"services/api/main.go": goFunction("v3")})
	_, v3 := deployed("v3")

	// gc, three hours on: an artifact no release names goes, with what
	// retention drops; the live one stays.
	later, err := artifact.OpenBucket(ctx, artifact.BucketConfig{URL: a.cfg.ArtifactStore, Endpoint: srv.Endpoint,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, CacheDir: filepath.Join(dataDir, "artifact-cache"),
		Now: func() time.Time { return time.Now().Add(3 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	orphan, _, err := later.Put(ctx, strings.NewReader("a build that no release names"))
	if err != nil {
		t.Fatal(err)
	}
	gc, err := newCollector(a.cfg, a.store, later, a.target.RunningDigests, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := gc.Run(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	removed := []string{}
	for _, dg := range []string{orphan, v1, v2, v3} {
		if !inBucket(dg) {
			removed = append(removed, dg)
		}
	}
	t.Logf("gc removed %d artifacts (%d bytes) from the bucket, %d releases; gone: %v", rep.Artifacts, rep.ArtifactBytes, rep.Releases.Releases, removed)
	if !slices.Contains(removed, orphan) || slices.Contains(removed, v3) || rep.Artifacts != len(removed) {
		t.Fatalf("gc report %+v, gone from the bucket %v: want the orphan gone, v3 (live) kept", rep, removed)
	}
	if code, body := a.get("/shop/dev/hello"); code != 200 || body != "v3 hi /hello" {
		t.Fatalf("after gc: %d %q", code, body)
	}

	// seedbed gc reaches the same bucket with serve's settings.
	env := map[string]string{"SEEDBED_ARTIFACT_STORE": a.cfg.ArtifactStore, "SEEDBED_S3_ENDPOINT": srv.Endpoint,
		"SEEDBED_S3_ACCESS_KEY": srv.AccessKey, "SEEDBED_S3_SECRET_KEY": srv.SecretKey}
	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"gc", "--dry-run", "--data-dir", dataDir}, func(k string) string { return env[k] }, nil, &out, &errOut); code != 0 {
		t.Fatalf("seedbed gc --dry-run with the bucket: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "artifacts:          0") {
		t.Errorf("seedbed gc --dry-run right after gc: %s, want no artifact to remove", out.String())
	}
	env["SEEDBED_S3_SECRET_KEY"] = "wrong"
	out.Reset()
	errOut.Reset()
	if code := run(ctx, []string{"gc", "--dry-run", "--data-dir", dataDir}, func(k string) string { return env[k] }, nil, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), "--artifact-store (SEEDBED_ARTIFACT_STORE)") {
		t.Errorf("seedbed gc with a wrong secret: exit %d, %q; want a refusal naming --artifact-store", code, errOut.String())
	}
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}
