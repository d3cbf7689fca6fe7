// Package runner is the pod side of the Kubernetes target: `seedbed
// run-function` fetches one function's artifact by digest from the artifact
// store, checks the bytes against the digest, and runs the function with
// the local target's own machinery behind the same gateway code seedbed
// serve uses — HTTP functions get requests proxied, Lambda-style handlers
// get the Lambda Runtime API served to them in the pod, static functions
// get their files served — so no image is built per deploy.
//
// The artifact store side is the Source interface: an artifact store that
// can open an artifact's bytes by digest. Three kinds of location reach it:
// http(s)://… (seedbed serve's artifact endpoint, with a token per digest
// from Signer), file:///… (a volume shared with seedbed serve's data dir)
// and, through any store that implements Source, object storage.
package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/seedbed/seedbed/builders/artifact"
)

// Source opens the bytes of an artifact by digest ("sha256:<hex>"). The
// runner never trusts a Source: Fetch checks what it reads.
type Source interface {
	Open(ctx context.Context, digest string) (io.ReadCloser, error)
}

// OpenSource returns the Source at location: http(s)://host/path (GET
// location/<digest> with token as bearer token) or file:///path (an
// artifact store directory, e.g. seedbed serve's data dir mounted in the
// pod). Other schemes (s3://) are refused with what to use instead.
func OpenSource(location, token string) (Source, error) {
	u, err := url.Parse(location)
	if err != nil || location == "" {
		return nil, fmt.Errorf("artifact store %q is not a URL: use http(s)://HOST/PATH of seedbed serve or file:///PATH of a shared artifact folder", location)
	}
	switch u.Scheme {
	case "http", "https":
		return &HTTPSource{Base: strings.TrimSuffix(location, "/"), Token: token, Client: &http.Client{Timeout: 10 * time.Minute}}, nil
	case "file":
		store, err := artifact.New(u.Path)
		if err != nil {
			return nil, fmt.Errorf("artifact store %s: %w", location, err)
		}
		return DirSource{Store: store}, nil
	default:
		return nil, fmt.Errorf("artifact store %q: scheme %q is not supported by this runner: use http(s):// (seedbed serve) or file:// (a shared folder)", location, u.Scheme)
	}
}

// HTTPSource fetches artifacts from seedbed serve's artifact endpoint
// (Signer.Handler).
type HTTPSource struct {
	Base   string // e.g. http://seedbed.seedbed.svc:8080/runner/artifacts
	Token  string // grants the one digest the pod runs
	Client *http.Client
}

// Open implements Source.
func (s *HTTPSource) Open(ctx context.Context, digest string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Base+"/"+digest, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch artifact %s: %w", digest, err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err := s.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch artifact %s from %s: %w", digest, s.Base, err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("fetch artifact %s from %s: %s: %s", digest, s.Base, resp.Status, strings.TrimSpace(string(body)))
	}
	return resp.Body, nil
}

// DirSource reads artifacts from an artifact store directory.
type DirSource struct{ Store *artifact.Store }

// Open implements Source.
func (s DirSource) Open(_ context.Context, digest string) (io.ReadCloser, error) {
	rc, err := s.Store.Open(digest)
	if err != nil {
		return nil, fmt.Errorf("fetch artifact %s from %s: %w", digest, s.Store.Dir(), err)
	}
	return rc, nil
}

// ErrDigestMismatch is returned by Fetch when the bytes a Source sent are
// not the artifact asked for.
var ErrDigestMismatch = errors.New("artifact bytes do not match their digest")

// Fetch copies artifact digest from src into dst unless dst holds it. It
// hashes the bytes as they arrive into a temporary file and stores them only
// if their sha256 is digest: a tampered or truncated artifact is refused
// and never unpacked.
func Fetch(ctx context.Context, src Source, digest string, dst *artifact.Store) error {
	want, err := artifact.ParseDigest(digest)
	if err != nil {
		return err
	}
	if dst.Has(digest) {
		return nil
	}
	rc, err := src.Open(ctx, digest)
	if err != nil {
		return err
	}
	defer rc.Close()
	tmp, err := os.CreateTemp(dst.Dir(), "fetch-*")
	if err != nil {
		return fmt.Errorf("fetch artifact %s: %w", digest, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), rc)
	if err != nil {
		return fmt.Errorf("fetch artifact %s: read: %w", digest, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("fetch artifact %s: the %d bytes received have digest sha256:%s: %w; refused", digest, n, got, ErrDigestMismatch)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("fetch artifact %s: %w", digest, err)
	}
	got, _, err := dst.Put(ctx, tmp)
	if err != nil {
		return fmt.Errorf("fetch artifact %s: store: %w", digest, err)
	}
	if got != digest { // the file changed under us between hash and Put
		return fmt.Errorf("fetch artifact %s: stored bytes have digest %s: %w", digest, got, ErrDigestMismatch)
	}
	return nil
}
