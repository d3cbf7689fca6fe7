package events

import (
	"bytes"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/targets"
)

func TestSendTokens(t *testing.T) {
	oldKey, newKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	old, err := NewSendTokens([][]byte{oldKey})
	if err != nil {
		t.Fatal(err)
	}
	rotating, err := NewSendTokens([][]byte{newKey, oldKey})
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := NewSendTokens([][]byte{newKey})
	if err != nil {
		t.Fatal(err)
	}
	dev := targets.StageRef{App: "shop", Stage: "dev"}
	tok := rotated.QueueToken(dev)
	if !strings.HasPrefix(tok, "sbq1_") || len(tok) != len("sbq1_")+43 {
		t.Fatalf("token %q: want sbq1_ and 43 base64url characters", tok)
	}
	if rotating.QueueToken(dev) != tok {
		t.Error("a key ring makes tokens under its first key")
	}
	for _, tc := range []struct {
		name   string
		tokens *SendTokens
		ref    targets.StageRef
		token  string
		want   bool
	}{
		{"its own token", rotated, dev, tok, true},
		{"another stage", rotated, targets.StageRef{App: "shop", Stage: "prod"}, tok, false},
		{"another app", rotated, targets.StageRef{App: "shop2", Stage: "dev"}, tok, false},
		{"names joined differently", rotated, targets.StageRef{App: "sho", Stage: "pdev"}, tok, false},
		{"old key's token while rotating", rotating, dev, old.QueueToken(dev), true},
		{"old key's token after the rotation", rotated, dev, old.QueueToken(dev), false},
		{"empty", rotated, dev, "", false},
		{"no prefix", rotated, dev, strings.TrimPrefix(tok, "sbq1_"), false},
		{"cut short", rotated, dev, tok[:len(tok)-1], false},
		{"one character changed", rotated, dev, tok[:len(tok)-1] + map[bool]string{true: "B", false: "A"}[tok[len(tok)-1] == 'A'], false},
		{"not base64", rotated, dev, "sbq1_!!!!", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.tokens.VerifyQueueToken(tc.ref, tc.token); got != tc.want {
				t.Errorf("VerifyQueueToken(%s, %q) = %v, want %v", tc.ref, tc.token, got, tc.want)
			}
		})
	}
	if _, err := NewSendTokens(nil); err == nil {
		t.Error("NewSendTokens without a key: no error")
	}
	if _, err := NewSendTokens([][]byte{[]byte("short")}); err == nil {
		t.Error("NewSendTokens with a short key: no error")
	}
}

func BenchmarkVerifyQueueToken(b *testing.B) {
	tokens, _ := NewSendTokens([][]byte{bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{1}, 32)})
	ref := targets.StageRef{App: "shop", Stage: "dev"}
	tok := tokens.QueueToken(ref)
	for b.Loop() {
		if !tokens.VerifyQueueToken(ref, tok) {
			b.Fatal("refused")
		}
	}
}
