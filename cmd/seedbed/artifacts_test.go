package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/seedbed/seedbed/testutil"
)

// --artifact-store is checked before serve connects anywhere, and its
// credentials come from the environment only.
func TestConfigArtifactStore(t *testing.T) {
	keys := map[string]string{"SEEDBED_S3_ACCESS_KEY": "ak", "SEEDBED_S3_SECRET_KEY": "sk"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range keys {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name         string
		env          map[string]string
		args         []string
		wantStore    string
		wantEndpoint string
		wantErr      string
	}{
		{name: "default is the data dir"},
		{name: "bucket from env", env: with(map[string]string{"SEEDBED_ARTIFACT_STORE": "s3://arts/seedbed", "SEEDBED_S3_ENDPOINT": "http://127.0.0.1:8333"}),
			wantStore: "s3://arts/seedbed", wantEndpoint: "http://127.0.0.1:8333"},
		{name: "flag wins", env: with(map[string]string{"SEEDBED_ARTIFACT_STORE": "s3://arts"}), args: []string{"--artifact-store", "s3://other/x", "--s3-endpoint", "https://minio:9000"},
			wantStore: "s3://other/x", wantEndpoint: "https://minio:9000"},
		{name: "no credentials", env: map[string]string{"SEEDBED_ARTIFACT_STORE": "s3://arts"},
			wantErr: "needs the bucket's credentials in SEEDBED_S3_ACCESS_KEY and SEEDBED_S3_SECRET_KEY"},
		{name: "not s3", env: with(map[string]string{"SEEDBED_ARTIFACT_STORE": "/mnt/artifacts"}),
			wantErr: `--artifact-store (SEEDBED_ARTIFACT_STORE) "/mnt/artifacts": want s3://BUCKET/PREFIX`},
		{name: "bad bucket", args: []string{"--artifact-store", "s3://No_Such"}, env: keys,
			wantErr: `"No_Such" is not a bucket name`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			fs.SetOutput(io.Discard)
			cfg := configFlags(fs, func(k string) string { return tc.env[k] })
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			cfg.DataDir = t.TempDir()
			environ := []string{"PATH=/usr/bin"}
			for k, v := range tc.env {
				environ = append(environ, k+"="+v)
			}
			err := cfg.finish(environ)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("finish error = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.ArtifactStore != tc.wantStore || cfg.S3Endpoint != tc.wantEndpoint {
				t.Errorf("artifact store %q at %q, want %q at %q", cfg.ArtifactStore, cfg.S3Endpoint, tc.wantStore, tc.wantEndpoint)
			}
			for _, kv := range cfg.BuildEnv {
				if strings.HasPrefix(kv, "SEEDBED_S3_") {
					t.Errorf("the S3 credentials reach builds: %s", kv)
				}
			}
		})
	}
}

// Build caches are shared through the bucket of --artifact-store, up to
// --build-cache-max; without a bucket, or with 0, they are not.
func TestOpenBuildCaches(t *testing.T) {
	t.Parallel()
	srv := testutil.S3(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		bucket bool
		want   bool
		errs   string
	}{
		{name: "no bucket", want: false},
		{name: "bucket", bucket: true, want: true},
		{name: "bucket, size from env", bucket: true, env: map[string]string{"SEEDBED_BUILD_CACHE_MAX": "500MiB"}, want: true},
		{name: "bucket, off", bucket: true, args: []string{"--build-cache-max", "0"}, want: false},
		{name: "bad size", env: map[string]string{"SEEDBED_BUILD_CACHE_MAX": "lots"}, errs: `SEEDBED_BUILD_CACHE_MAX="lots": "lots" is not a size`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			fs.SetOutput(io.Discard)
			cfg := configFlags(fs, func(k string) string { return tc.env[k] })
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			cfg.DataDir = t.TempDir()
			if tc.bucket {
				cfg.ArtifactStore, cfg.S3Endpoint = "s3://seedbed-build-caches/x", srv.Endpoint
				cfg.S3AccessKey, cfg.S3SecretKey = srv.AccessKey, srv.SecretKey
			}
			err := cfg.finish([]string{"PATH=/usr/bin"})
			if tc.errs != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errs) {
					t.Fatalf("finish error = %v, want it to contain %q", err, tc.errs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			arts, err := openArtifacts(ctx, *cfg)
			if err != nil {
				t.Fatal(err)
			}
			caches, err := openBuildCaches(*cfg, arts)
			if err != nil {
				t.Fatal(err)
			}
			if got := caches != nil; got != tc.want {
				t.Errorf("shared build caches: %v, want %v", got, tc.want)
			}
			if tc.env["SEEDBED_BUILD_CACHE_MAX"] == "500MiB" && cfg.BuildCacheMax != 500<<20 {
				t.Errorf("BuildCacheMax = %d, want 500 MiB", cfg.BuildCacheMax)
			}
		})
	}
}
