package runner

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strings"

	"github.com/seedbed/seedbed/builders/artifact"
)

// Signer grants runners their artifacts: the token of a digest is an HMAC
// of it under a key only seedbed serve holds, so a pod (or the function in
// it, which can read its runner's environment) can fetch the artifact it
// runs and no other one.
type Signer struct {
	key      []byte
	location string
}

// NewSigner makes a Signer with key (at least 32 bytes) whose tokens are
// valid at location (the URL pods reach Handler at).
func NewSigner(key []byte, location string) (*Signer, error) {
	if len(key) < 32 {
		return nil, errors.New("runner signer: the key must be at least 32 bytes")
	}
	return &Signer{key: key, location: strings.TrimSuffix(location, "/")}, nil
}

// Token is the bearer token that grants digest.
func (s *Signer) Token(digest string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("seedbed-runner-artifact\x00" + digest))
	return hex.EncodeToString(m.Sum(nil))
}

// Locate tells a pod where to fetch digest and with which token; it
// implements kubernetes.ArtifactLocator.
func (s *Signer) Locate(digest string) (string, string, error) {
	if _, err := artifact.ParseDigest(digest); err != nil {
		return "", "", err
	}
	return s.location, s.Token(digest), nil
}

// Handler serves GET /<digest> from store (seedbed serve's artifact store:
// DirSource for the data dir, or an object store bucket) to a request
// bearing the digest's token; mount it with the prefix stripped.
func (s *Signer) Handler(store Source) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "use GET", http.StatusMethodNotAllowed)
			return
		}
		digest := strings.TrimPrefix(r.URL.Path, "/")
		if _, err := artifact.ParseDigest(digest); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !hmac.Equal([]byte(token), []byte(s.Token(digest))) {
			http.Error(w, "the token does not grant artifact "+digest, http.StatusForbidden)
			return
		}
		rc, err := store.Open(r.Context(), digest)
		if errors.Is(err, fs.ErrNotExist) {
			http.Error(w, "no artifact "+digest, http.StatusNotFound)
			return
		}
		if err != nil {
			http.Error(w, fmt.Sprintf("open artifact %s: %v", digest, err), http.StatusInternalServerError)
			return
		}
		defer rc.Close()
		w.Header().Set("Content-Type", "application/gzip")
		w.Header().Set("Cache-Control", "private, max-age=31536000, immutable")
		_, _ = io.Copy(w, rc)
	})
}
