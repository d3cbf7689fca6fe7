package runner

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/seedbed/seedbed/targets"
)

// LogTokenPurpose names the key LogTokens are made under, derived from the
// secret-sealing key (pipelines.Sealer.DerivedKeys). It differs from the
// queue send tokens' purpose (events.QueueTokenPurpose), so the two keys
// differ and neither token is accepted in place of the other.
const LogTokenPurpose = "runner-log-token"

// logTokenPrefix starts every log token: it tells a Seedbed log token
// apart from a queue token (sbq1_) and other credentials in a secret
// scanner, and names the format's version.
const logTokenPrefix = "sbl1_"

// LogTokens makes and checks the credentials that let a runner (a pod of
// the kubernetes target) write into one stage's function logs: one token
// per (app, stage), an HMAC of the names under a server key. Like the
// queue send tokens it is stateless, valid on every process that holds
// the key, and changes only when the key does; while a rotation is under
// way, tokens made under the older key still verify.
type LogTokens struct {
	keys [][]byte // keys[0] makes tokens; all of them verify
}

// NewLogTokens makes LogTokens from derived keys, the current one first
// (pipelines.Sealer.DerivedKeys(LogTokenPurpose)).
func NewLogTokens(keys [][]byte) (*LogTokens, error) {
	if len(keys) == 0 {
		return nil, errors.New("runner log tokens need a key")
	}
	for _, k := range keys {
		if len(k) < 32 {
			return nil, errors.New("runner log tokens need keys of at least 32 bytes")
		}
	}
	return &LogTokens{keys: keys}, nil
}

// logMAC joins the names with a byte neither may contain, so ("a-b", "c")
// and ("a", "b-c") differ.
func logMAC(key []byte, ref targets.StageRef) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("runner-logs\x00" + ref.App + "\x00" + ref.Stage))
	return m.Sum(nil)
}

// Token is the token that lets its bearer write ref's function logs.
func (t *LogTokens) Token(ref targets.StageRef) string {
	return logTokenPrefix + base64.RawURLEncoding.EncodeToString(logMAC(t.keys[0], ref))
}

// Verify tells whether token lets its bearer write ref's function logs.
// The comparison takes the same time wherever the token differs.
func (t *LogTokens) Verify(ref targets.StageRef, token string) bool {
	raw, ok := strings.CutPrefix(token, logTokenPrefix)
	if !ok {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return false
	}
	ok = false
	for _, k := range t.keys {
		// Every key is tried, so the time taken does not say which matched.
		if hmac.Equal(got, logMAC(k, ref)) {
			ok = true
		}
	}
	return ok
}
