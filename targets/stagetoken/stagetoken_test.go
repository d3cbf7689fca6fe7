package stagetoken

import (
	"bytes"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/targets"
)

func TestTokens(t *testing.T) {
	oldKey, newKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	kind := Kind{Name: "test tokens", Prefix: "sbt1_", Label: "test"}
	other := Kind{Name: "other tokens", Prefix: "sbt1_", Label: "other"}
	shop := targets.StageRef{App: "shop", Stage: "prod"}
	before, err := New(kind, [][]byte{oldKey})
	if err != nil {
		t.Fatal(err)
	}
	during, _ := New(kind, [][]byte{newKey, oldKey})
	after, _ := New(kind, [][]byte{newKey})
	otherKind, _ := New(other, [][]byte{newKey})
	token := before.Token(shop)
	if !strings.HasPrefix(token, "sbt1_") {
		t.Fatalf("token %q lacks its prefix", token)
	}
	tests := []struct {
		name  string
		t     *Tokens
		ref   targets.StageRef
		token string
		want  bool
	}{
		{"its own", before, shop, token, true},
		{"during a rotation, the old key's", during, shop, token, true},
		{"during a rotation, the new key's", during, shop, after.Token(shop), true},
		{"after the rotation, the old key's", after, shop, token, false},
		{"another stage's", before, targets.StageRef{App: "shop", Stage: "dev"}, token, false},
		{"names joined otherwise", before, targets.StageRef{App: "sho", Stage: "pprod"}, token, false},
		{"another kind's under the same key", after, shop, otherKind.Token(shop), false},
		{"without the prefix", before, shop, strings.TrimPrefix(token, "sbt1_"), false},
		{"not base64", before, shop, "sbt1_!!!", false},
		{"empty", before, shop, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.t.Verify(tt.ref, tt.token); got != tt.want {
				t.Errorf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := New(kind, nil); err == nil || !strings.Contains(err.Error(), "test tokens need a key") {
		t.Errorf("New without keys: %v", err)
	}
	if _, err := New(kind, [][]byte{[]byte("short")}); err == nil {
		t.Error("New with a short key: no error")
	}
}
