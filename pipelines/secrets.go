package pipelines

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Sealer encrypts stage secrets at rest with AES-256-GCM. The key lives
// outside the database (a file in the data dir, or SEEDBED_SECRET_KEY), so a
// copy of the database alone reveals no secret.
type Sealer struct {
	aead cipher.AEAD
}

// sealedPrefix marks a sealed value and its format version.
const sealedPrefix = "v1:"

// NewSealer makes a Sealer from a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("secret key must be 32 bytes, not %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts a secret value. aad binds it to where it is kept (the stage
// and key), so a sealed value copied elsewhere does not open.
func (s *Sealer) Seal(value, aad string) (string, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal secret: %w", err)
	}
	out := s.aead.Seal(nonce, nonce, []byte(value), []byte(aad))
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts a value made by Seal with the same aad.
func (s *Sealer) Open(sealed, aad string) (string, error) {
	raw, ok := strings.CutPrefix(sealed, sealedPrefix)
	if !ok {
		return "", errors.New("open secret: not a sealed value")
	}
	b, err := base64.RawStdEncoding.DecodeString(raw)
	if err != nil || len(b) < s.aead.NonceSize() {
		return "", errors.New("open secret: damaged value")
	}
	plain, err := s.aead.Open(nil, b[:s.aead.NonceSize()], b[s.aead.NonceSize():], []byte(aad))
	if err != nil {
		return "", errors.New("open secret: wrong key or damaged value (was SEEDBED_SECRET_KEY or data/secret.key changed?)")
	}
	return string(plain), nil
}

// redact replaces a value by a short digest: change sets and history can
// tell that a value changed without keeping it.
func redact(value string) string {
	sum := sha256.Sum256([]byte("seedbed-env:" + value))
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// masker hides secret values in log text.
type masker []string

func (m masker) mask(s string) string {
	for _, secret := range m {
		if len(secret) >= 4 { // masking "a" or "" would shred every line
			s = strings.ReplaceAll(s, secret, "••••••")
		}
	}
	return s
}
