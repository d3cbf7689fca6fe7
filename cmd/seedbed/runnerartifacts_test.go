package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/targets/runner"
)

// seedbed serve hands artifacts to the kubernetes target's pods at
// /runner/artifacts/<digest>, to a bearer of that digest's token only (an
// HMAC under the data dir's runner.key), and the bytes are the digest's.
func TestRunnerArtifactEndpoint(t *testing.T) {
	t.Parallel()
	a := startApp(t, embedded)
	a.newAppRepo("shop")
	_, b := a.deploy("shop", "dev", "") // waits for the deploy
	build, err := a.api.Build(context.Background(), b.ID)
	if err != nil || len(build.Artifacts) == 0 {
		t.Fatalf("build %d: %+v, %v", b.ID, build, err)
	}
	digest := build.Artifacts[0].Digest
	key, err := os.ReadFile(filepath.Join(a.cfg.DataDir, runnerKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := runner.NewSigner(key, "")
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(digest, token string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, a.ConsoleURL()+"/runner/artifacts/"+digest, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	code, body := fetch(digest, signer.Token(digest))
	sum := sha256.Sum256(body)
	if code != http.StatusOK || "sha256:"+hex.EncodeToString(sum[:]) != digest {
		t.Fatalf("fetch with the digest's token: %d, %d bytes hashing to %x; want %s", code, len(body), sum, digest)
	}
	other := "sha256:" + strings.Repeat("0", 64)
	cases := []struct {
		name, digest, token string
		code                int
	}{
		{"no token", digest, "", http.StatusForbidden},
		{"another digest's token", digest, signer.Token(other), http.StatusForbidden},
		{"a token made with another key", digest, strings.Repeat("ab", 32), http.StatusForbidden},
		{"an artifact the store lacks", other, signer.Token(other), http.StatusNotFound},
		{"not a digest", "../secret.key", "x", http.StatusBadRequest},
	}
	for _, tc := range cases {
		if code, body := fetch(tc.digest, tc.token); code != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.code)
		}
	}
}
