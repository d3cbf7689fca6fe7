package forge

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

// Secret returns a new random webhook secret: 32 bytes from crypto/rand,
// base64url-encoded without padding (43 characters, safe to paste into
// any forge's settings form).
func Secret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate webhook secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
