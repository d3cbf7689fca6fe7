package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/seedbed/seedbed/builders/artifact"
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
