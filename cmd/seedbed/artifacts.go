package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/seedbed/seedbed/builders"
	"github.com/seedbed/seedbed/builders/artifact"
	"github.com/seedbed/seedbed/builders/buildcache"
	"github.com/seedbed/seedbed/domains"
)

// openArtifacts opens where this process keeps artifacts: the data dir's
// artifacts folder by default, or the bucket --artifact-store names, with
// the local copies it fetches in the data dir's artifact-cache folder.
func openArtifacts(ctx context.Context, cfg Config) (artifact.Storage, error) {
	if cfg.ArtifactStore == "" {
		return artifact.New(filepath.Join(cfg.DataDir, "artifacts"))
	}
	b, err := artifact.OpenBucket(ctx, artifact.BucketConfig{
		URL: cfg.ArtifactStore, Endpoint: cfg.S3Endpoint, Region: cfg.S3Region,
		AccessKey: cfg.S3AccessKey, SecretKey: cfg.S3SecretKey,
		CacheDir: filepath.Join(cfg.DataDir, "artifact-cache"),
	})
	if err != nil {
		return nil, fmt.Errorf("--artifact-store (SEEDBED_ARTIFACT_STORE): %w", err)
	}
	return b, nil
}

// checkArtifactStore refuses an --artifact-store that could not work,
// before anything connects anywhere.
func (c *Config) checkArtifactStore() error {
	if c.ArtifactStore == "" {
		return nil
	}
	if !strings.HasPrefix(c.ArtifactStore, "s3://") {
		return fmt.Errorf("--artifact-store (SEEDBED_ARTIFACT_STORE) %q: want s3://BUCKET/PREFIX, or nothing for the data dir's artifacts folder", c.ArtifactStore)
	}
	if _, _, err := artifact.ParseBucketURL(c.ArtifactStore); err != nil {
		return fmt.Errorf("--artifact-store (SEEDBED_ARTIFACT_STORE): %w", err)
	}
	if c.S3AccessKey == "" || c.S3SecretKey == "" {
		return fmt.Errorf("--artifact-store %s needs the bucket's credentials in SEEDBED_S3_ACCESS_KEY and SEEDBED_S3_SECRET_KEY (environment only, so they stay out of process listings)", c.ArtifactStore)
	}
	return nil
}

// certificateObjects is where certificates are kept when --artifact-store
// is a bucket: its tls/ area, beside the artifacts and build caches, so
// that every serve process shares them without the database holding
// them. nil (the database) otherwise.
func certificateObjects(arts artifact.Storage) domains.Objects {
	if b, ok := arts.(*artifact.Bucket); ok {
		return b.Area(certificateArea)
	}
	return nil
}

// certificateArea is the bucket's folder of certificates: PREFIX/tls/.
const certificateArea = "tls"

// buildCacheFlags registers how large a shared build cache may be.
func buildCacheFlags(fs *pflag.FlagSet, env func(k, def string) string, c *Config) {
	c.BuildCacheMax = buildcache.DefaultMaxBytes
	if v := env("SEEDBED_BUILD_CACHE_MAX", ""); v != "" {
		n, err := parseSize(v)
		if err != nil {
			c.envErr = errors.Join(c.envErr, fmt.Errorf("SEEDBED_BUILD_CACHE_MAX=%q: %w", v, err))
		}
		c.BuildCacheMax = n
	}
	fs.Var((*sizeFlag)(&c.BuildCacheMax), "build-cache-max", "with --artifact-store s3://…, each app's Go and npm caches are shared through the bucket: the most a snapshot may hold, e.g. 500MiB or 2GiB; a cache holding more is not saved (other machines keep restoring the last one that fitted); 0: caches are not shared (SEEDBED_BUILD_CACHE_MAX; default 2GiB)")
}

// openBuildCaches shares builds' toolchain caches through the bucket of
// --artifact-store, in its build-cache/ area, with this machine's
// markers in the data dir's build-cache folder. Without a bucket, or
// with --build-cache-max 0, caches stay on each machine: it returns nil.
func openBuildCaches(cfg Config, arts artifact.Storage) (builders.SharedCaches, error) {
	b, ok := arts.(*artifact.Bucket)
	if !ok || cfg.BuildCacheMax <= 0 {
		return nil, nil
	}
	s, err := buildcache.New(buildcache.Config{Objects: b.Area("build-cache"), Dir: filepath.Join(cfg.DataDir, "build-cache"), MaxBytes: cfg.BuildCacheMax})
	if err != nil {
		return nil, fmt.Errorf("shared build caches in %s: %w", b.Location(), err)
	}
	return s, nil
}
