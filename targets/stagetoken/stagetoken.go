// Package stagetoken makes and checks bearer tokens bound to one stage:
// an HMAC of the app's and the stage's names under a server key derived
// from Seedbed's sealing key (pipelines.Sealer.DerivedKeys). The queue send
// tokens and the pods' log tokens are such tokens, each kind under a key of
// its own, so that neither is accepted in place of the other.
//
// They are stateless: no table, nothing to leak from the database, and a
// token is valid on every process that holds the key. A token is bound to
// the names: it keeps working across deploys and changes only when the key
// does; while a key rotation is under way, tokens made under the older key
// still verify.
package stagetoken

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/seedbed/seedbed/targets"
)

// Kind is one kind of token.
type Kind struct {
	// Name is what the kind is called in errors ("queue send tokens").
	Name string
	// Prefix starts every token of the kind ("sbq1_"): it tells the
	// credential apart in a log or a secret scanner and names the
	// format's version.
	Prefix string
	// Label is mixed into the MAC, so that two kinds under one key
	// still differ.
	Label string
}

// Tokens makes and checks the tokens of one kind.
type Tokens struct {
	kind Kind
	keys [][]byte // keys[0] makes tokens; all of them verify
}

// New makes Tokens of kind from derived keys, the current one first.
func New(kind Kind, keys [][]byte) (*Tokens, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s need a key", kind.Name)
	}
	for _, k := range keys {
		if len(k) < 32 {
			return nil, fmt.Errorf("%s need keys of at least 32 bytes", kind.Name)
		}
	}
	return &Tokens{kind: kind, keys: keys}, nil
}

// Keys are the keys the tokens are made and checked under, the current
// one first, for credentials of other shapes made the same way (MAC).
func (t *Tokens) Keys() [][]byte { return t.keys }

// MAC is the secret part of a credential for ref under key. The names are
// joined with a byte neither may contain, so ("a-b", "c") and ("a", "b-c")
// differ.
func MAC(key []byte, label string, ref targets.StageRef) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label + "\x00" + ref.App + "\x00" + ref.Stage))
	return m.Sum(nil)
}

// Token is ref's token.
func (t *Tokens) Token(ref targets.StageRef) string {
	return t.kind.Prefix + base64.RawURLEncoding.EncodeToString(MAC(t.keys[0], t.kind.Label, ref))
}

// Verify tells whether token is ref's. The comparison takes the same time
// wherever the token differs, and every key is tried, so the time taken
// does not say which matched either.
func (t *Tokens) Verify(ref targets.StageRef, token string) bool {
	raw, ok := strings.CutPrefix(token, t.kind.Prefix)
	if !ok {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return false
	}
	ok = false
	for _, k := range t.keys {
		if hmac.Equal(got, MAC(k, t.kind.Label, ref)) {
			ok = true
		}
	}
	return ok
}
