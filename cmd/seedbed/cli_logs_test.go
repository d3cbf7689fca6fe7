package main

import "testing"

func TestForTerminal(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "listening on :8080\tok", "listening on :8080\tok"},
		{"colours kept", "\x1b[31mred\x1b[0m done", "\x1b[31mred\x1b[0m done"},
		{"title change shown", "\x1b]0;pwned\x07 hi", "^[]0;pwned^G hi"},
		{"cursor moves shown", "a\x1b[2Jb\rc", "a^[[2Jb^Mc"},
		{"C1 controls shown", "x\u009by", `x\x9by`},
		{"utf-8 kept", "héllo • ok", "héllo • ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := forTerminal(tt.in); got != tt.want {
				t.Errorf("forTerminal(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
