package events

import (
	"crypto/hmac"
	"encoding/base32"
	"encoding/base64"

	"github.com/seedbed/seedbed/targets"
	"github.com/seedbed/seedbed/targets/stagetoken"
)

// QueueTokenPurpose names the key SendTokens are made under, derived from
// the secret-sealing key (pipelines.Sealer.DerivedKeys): every Seedbed
// process holds it, so any of them checks a token another made.
const QueueTokenPurpose = "queue-send-token"

// queueTokens is the kind of the send tokens.
var queueTokens = stagetoken.Kind{Name: "queue send tokens", Prefix: "sbq1_", Label: "queue-send"}

// SendTokens makes and checks the credentials that let a sender put
// messages on one stage's queues: one token per (app, stage) (see
// stagetoken). The stage's functions get it in their environment
// (SEEDBED_QUEUE_TOKEN); deployers read it for external senders. The SQS
// credentials of the stage are made the same way under other labels.
type SendTokens struct {
	tokens *stagetoken.Tokens
}

// NewSendTokens makes SendTokens from derived keys, the current one first
// (pipelines.Sealer.DerivedKeys(QueueTokenPurpose)).
func NewSendTokens(keys [][]byte) (*SendTokens, error) {
	t, err := stagetoken.New(queueTokens, keys)
	if err != nil {
		return nil, err
	}
	return &SendTokens{tokens: t}, nil
}

// QueueToken is the send token of ref's queues.
func (t *SendTokens) QueueToken(ref targets.StageRef) string { return t.tokens.Token(ref) }

// VerifyQueueToken tells whether token lets its bearer send to ref's
// queues, in the same time wherever it differs.
func (t *SendTokens) VerifyQueueToken(ref targets.StageRef, token string) bool {
	return t.tokens.Verify(ref, token)
}

// sqsAccessKeyID is ref's access key id under key: "SBQ" and 17 base32
// characters, 20 in all like AWS's own, so that tools that check the
// shape accept it.
func sqsAccessKeyID(key []byte, ref targets.StageRef) string {
	return "SBQ" + base32.StdEncoding.EncodeToString(stagetoken.MAC(key, "sqs-access-key-id", ref))[:17]
}

// sqsSecret is ref's secret access key under key: 40 characters, like AWS's.
func sqsSecret(key []byte, ref targets.StageRef) string {
	return base64.StdEncoding.EncodeToString(stagetoken.MAC(key, "sqs-secret-access-key", ref)[:30])
}

// SQSCredentials are ref's credentials for the SQS-compatible endpoint
// (AWS Signature Version 4): an access key id and a secret, made like the
// send token but under other labels, so that neither reveals the other.
func (t *SendTokens) SQSCredentials(ref targets.StageRef) (accessKeyID, secret string) {
	key := t.tokens.Keys()[0]
	return sqsAccessKeyID(key, ref), sqsSecret(key, ref)
}

// SQSSecrets are the secrets that go with accessKeyID if it is ref's,
// under each key of the ring; none if it is not ref's under any.
func (t *SendTokens) SQSSecrets(ref targets.StageRef, accessKeyID string) []string {
	var out []string
	for _, k := range t.tokens.Keys() {
		if hmac.Equal([]byte(accessKeyID), []byte(sqsAccessKeyID(k, ref))) {
			out = append(out, sqsSecret(k, ref))
		}
	}
	return out
}
