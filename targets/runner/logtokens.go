package runner

import (
	"github.com/seedbed/seedbed/targets"
	"github.com/seedbed/seedbed/targets/stagetoken"
)

// LogTokenPurpose names the key LogTokens are made under, derived from the
// secret-sealing key (pipelines.Sealer.DerivedKeys). It differs from the
// queue send tokens' purpose (events.QueueTokenPurpose), so the two keys
// differ and neither token is accepted in place of the other.
const LogTokenPurpose = "runner-log-token"

// logTokens is the kind of the log tokens: "sbl1_" tells them apart from
// queue tokens (sbq1_) and other credentials in a secret scanner.
var logTokens = stagetoken.Kind{Name: "runner log tokens", Prefix: "sbl1_", Label: "runner-logs"}

// LogTokens makes and checks the credentials that let a runner (a pod of
// the kubernetes target) write into one stage's function logs: one token
// per (app, stage) (see stagetoken).
type LogTokens struct {
	tokens *stagetoken.Tokens
}

// NewLogTokens makes LogTokens from derived keys, the current one first
// (pipelines.Sealer.DerivedKeys(LogTokenPurpose)).
func NewLogTokens(keys [][]byte) (*LogTokens, error) {
	t, err := stagetoken.New(logTokens, keys)
	if err != nil {
		return nil, err
	}
	return &LogTokens{tokens: t}, nil
}

// Token is the token that lets its bearer write ref's function logs.
func (t *LogTokens) Token(ref targets.StageRef) string { return t.tokens.Token(ref) }

// Verify tells whether token lets its bearer write ref's function logs,
// in the same time wherever it differs.
func (t *LogTokens) Verify(ref targets.StageRef, token string) bool {
	return t.tokens.Verify(ref, token)
}
