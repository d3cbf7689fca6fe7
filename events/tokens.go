package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/seedbed/seedbed/targets"
)

// QueueTokenPurpose names the key SendTokens are made under, derived from
// the secret-sealing key (pipelines.Sealer.DerivedKeys): every Seedbed
// process holds it, so any of them checks a token another made.
const QueueTokenPurpose = "queue-send-token"

// queueTokenPrefix starts every send token: it tells a Seedbed queue
// token apart from other credentials in a log or a secret scanner, and
// names the format's version.
const queueTokenPrefix = "sbq1_"

// SendTokens makes and checks the credentials that let a sender put
// messages on one stage's queues: one token per (app, stage), an HMAC of
// the names under a server key. The stage's functions get it in their
// environment (SEEDBED_QUEUE_TOKEN); deployers read it for external
// senders. It is stateless: no table, nothing to leak from the database,
// and a token is valid on every process that holds the key.
//
// A token is bound to the names: it keeps working across deploys, and it
// changes only when the key does (`seedbed secrets rotate-key`). While a
// rotation is under way, tokens made under the older key still verify.
type SendTokens struct {
	keys [][]byte // keys[0] makes tokens; all of them verify
}

// NewSendTokens makes SendTokens from derived keys, the current one first
// (pipelines.Sealer.DerivedKeys(QueueTokenPurpose)).
func NewSendTokens(keys [][]byte) (*SendTokens, error) {
	if len(keys) == 0 {
		return nil, errors.New("queue send tokens need a key")
	}
	for _, k := range keys {
		if len(k) < 32 {
			return nil, errors.New("queue send tokens need keys of at least 32 bytes")
		}
	}
	return &SendTokens{keys: keys}, nil
}

// mac is the token's secret part for ref under key. The names are joined
// with a byte neither may contain, so ("a-b", "c") and ("a", "b-c") differ.
func mac(key []byte, label string, ref targets.StageRef) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label + "\x00" + ref.App + "\x00" + ref.Stage))
	return m.Sum(nil)
}

// QueueToken is the send token of ref's queues.
func (t *SendTokens) QueueToken(ref targets.StageRef) string {
	return queueTokenPrefix + base64.RawURLEncoding.EncodeToString(mac(t.keys[0], "queue-send", ref))
}

// VerifyQueueToken tells whether token lets its bearer send to ref's
// queues. The comparison takes the same time wherever the token differs.
func (t *SendTokens) VerifyQueueToken(ref targets.StageRef, token string) bool {
	raw, ok := strings.CutPrefix(token, queueTokenPrefix)
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
		if hmac.Equal(got, mac(k, "queue-send", ref)) {
			ok = true
		}
	}
	return ok
}

// sqsAccessKeyID is ref's access key id under key: "SBQ" and 17 base32
// characters, 20 in all like AWS's own, so that tools that check the
// shape accept it.
func sqsAccessKeyID(key []byte, ref targets.StageRef) string {
	return "SBQ" + base32.StdEncoding.EncodeToString(mac(key, "sqs-access-key-id", ref))[:17]
}

// sqsSecret is ref's secret access key under key: 40 characters, like AWS's.
func sqsSecret(key []byte, ref targets.StageRef) string {
	return base64.StdEncoding.EncodeToString(mac(key, "sqs-secret-access-key", ref)[:30])
}

// SQSCredentials are ref's credentials for the SQS-compatible endpoint
// (AWS Signature Version 4): an access key id and a secret, made like the
// send token but under other labels, so that neither reveals the other.
func (t *SendTokens) SQSCredentials(ref targets.StageRef) (accessKeyID, secret string) {
	return sqsAccessKeyID(t.keys[0], ref), sqsSecret(t.keys[0], ref)
}

// SQSSecrets are the secrets that go with accessKeyID if it is ref's,
// under each key of the ring; none if it is not ref's under any.
func (t *SendTokens) SQSSecrets(ref targets.StageRef, accessKeyID string) []string {
	var out []string
	for _, k := range t.keys {
		if hmac.Equal([]byte(accessKeyID), []byte(sqsAccessKeyID(k, ref))) {
			out = append(out, sqsSecret(k, ref))
		}
	}
	return out
}
